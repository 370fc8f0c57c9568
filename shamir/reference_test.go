package shamir

import (
	"fmt"
	mathrand "math/rand/v2"
)

// The helpers here form an independent, slow implementation used as an
// oracle: power-sum evaluation instead of Horner, and Gaussian elimination on
// the Vandermonde system instead of Lagrange weights, on refMul/refInv
// instead of gfMul/gfInv.

// refEval evaluates sum_d coeffs[d]*x^d.
func refEval(coeffs []byte, x byte) byte {
	var y byte
	for d, c := range coeffs {
		y ^= refMul(c, refPow(x, d))
	}
	return y
}

// refSplit makes Vault-format shares of secret at the given x coordinates
// from explicit polynomials: polys[k] holds the coefficients of degree 1 and
// up for secret byte k.
func refSplit(secret []byte, polys [][]byte, xs []byte) [][]byte {
	shares := make([][]byte, len(xs))
	for i, x := range xs {
		s := make([]byte, len(secret)+1)
		for k := range secret {
			s[k] = refEval(append([]byte{secret[k]}, polys[k]...), x)
		}
		s[len(secret)] = x
		shares[i] = s
	}
	return shares
}

// refCombine recovers f(0) for every byte position by solving the
// Vandermonde system V*c = y for the polynomial's coefficients and taking c0.
func refCombine(parts [][]byte) ([]byte, error) {
	k := len(parts)
	n := len(parts[0]) - 1
	xs := make([]byte, k)
	for i, p := range parts {
		xs[i] = p[n]
	}
	out := make([]byte, n)
	for pos := range n {
		// Augmented matrix [V | y].
		m := make([][]byte, k)
		for i := range k {
			row := make([]byte, k+1)
			for d := range k {
				row[d] = refPow(xs[i], d)
			}
			row[k] = parts[i][pos]
			m[i] = row
		}
		for col := range k {
			pivot := -1
			for r := col; r < k; r++ {
				if m[r][col] != 0 {
					pivot = r
					break
				}
			}
			if pivot < 0 {
				return nil, fmt.Errorf("singular system (duplicate x?)")
			}
			m[col], m[pivot] = m[pivot], m[col]
			inv := refInv(m[col][col])
			for c := col; c <= k; c++ {
				m[col][c] = refMul(m[col][c], inv)
			}
			for r := range k {
				if r == col || m[r][col] == 0 {
					continue
				}
				f := m[r][col]
				for c := col; c <= k; c++ {
					m[r][c] ^= refMul(f, m[col][c])
				}
			}
		}
		out[pos] = m[0][k]
	}
	return out, nil
}

// forEachSubset calls fn with index sets of size k drawn from 0..n-1: all of
// them when there are at most limit, otherwise limit random ones.
func forEachSubset(rng *mathrand.Rand, n, k, limit int, fn func([]int)) {
	if binomial(n, k) <= limit {
		idx := make([]int, k)
		var rec func(start, depth int)
		rec = func(start, depth int) {
			if depth == k {
				fn(append([]int(nil), idx...))
				return
			}
			for i := start; i <= n-(k-depth); i++ {
				idx[depth] = i
				rec(i+1, depth+1)
			}
		}
		rec(0, 0)
		return
	}
	for range limit {
		fn(rng.Perm(n)[:k])
	}
}

func binomial(n, k int) int {
	r := 1
	for i := 1; i <= k; i++ {
		r = r * (n - k + i) / i
		if r > 1<<30 {
			return 1 << 30
		}
	}
	return r
}

func pick(shares [][]byte, idx []int) [][]byte {
	out := make([][]byte, len(idx))
	for i, j := range idx {
		out[i] = shares[j]
	}
	return out
}
