// Package shamir implements Shamir's secret sharing over GF(2^8), byte for byte
// compatible with the shares HashiCorp Vault hands out at `operator init` and
// accepts at `sys/unseal`.
//
// # Share format
//
// Each byte of the secret gets its own random polynomial of degree
// threshold-1 whose constant term is that byte. A share is the polynomial
// values at one x coordinate, one byte per secret byte, followed by that x
// coordinate as a single trailing byte:
//
//	share = y[0] y[1] ... y[len(secret)-1] x
//
// so a share is len(secret)+ShareOverhead bytes long and x lies in 1..255.
// The field is GF(2^8) reduced by the AES polynomial x^8+x^4+x^3+x+1 (0x11B).
// This is exactly Vault's layout and field, which is why shares made here can
// be submitted to a Vault node's `sys/unseal` (as lowercase hex or base64, both
// of which Vault accepts) and shares made by Vault can be combined here, for
// instance to check them offline.
//
// # Differences from Vault
//
// The x coordinates are drawn from crypto/rand (Vault uses math/rand); either
// is valid input to the other side, since only distinctness matters for
// correctness. The field arithmetic is constant time (no tables, no branches on
// secret bytes), and Combine interpolates with one Lagrange weight per share.
//
// # What Combine cannot detect
//
// A share carries no threshold and no checksum: combining fewer shares than
// the threshold, or a corrupted share, silently yields a wrong secret. Vault
// only notices when the resulting key fails to open its barrier. Callers that
// need certainty must verify the result by other means.
package shamir

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
)

const (
	// ShareOverhead is the number of bytes a share is longer than the secret:
	// the trailing x coordinate.
	ShareOverhead = 1

	// MaxParts is the largest number of shares: there are 255 nonzero x
	// coordinates in GF(2^8).
	MaxParts = 255

	// MinThreshold is the smallest useful threshold; a threshold of 1 would
	// make every share equal to the secret.
	MinThreshold = 2
)

// Errors returned by Split and Combine, wrapped with context; test for them
// with errors.Is.
var (
	ErrEmptySecret          = errors.New("cannot split an empty secret")
	ErrThresholdTooSmall    = errors.New("threshold must be at least 2")
	ErrTooManyParts         = errors.New("parts cannot exceed 255")
	ErrPartsBelowThreshold  = errors.New("parts cannot be less than threshold")
	ErrTooFewParts          = errors.New("need at least 2 parts to combine")
	ErrPartTooShort         = errors.New("part is shorter than 2 bytes")
	ErrPartLengthMismatch   = errors.New("all parts must be the same length")
	ErrZeroXCoordinate      = errors.New("part has x coordinate 0")
	ErrDuplicateXCoordinate = errors.New("duplicate part: x coordinate already used")
)

// random is the source of coefficients and x coordinates; tests replace it to
// exercise the failure path.
var random io.Reader = rand.Reader

// Split divides secret into parts shares, any threshold of which reconstruct
// it with Combine. It requires 2 <= threshold <= parts <= 255 and a non-empty
// secret. Each share is len(secret)+1 bytes (see the package documentation).
func Split(secret []byte, parts, threshold int) ([][]byte, error) {
	switch {
	case threshold < MinThreshold:
		return nil, fmt.Errorf("shamir split: %w (threshold %d)", ErrThresholdTooSmall, threshold)
	case parts > MaxParts:
		return nil, fmt.Errorf("shamir split: %w (parts %d)", ErrTooManyParts, parts)
	case parts < threshold:
		return nil, fmt.Errorf("shamir split: %w (parts %d, threshold %d)", ErrPartsBelowThreshold, parts, threshold)
	case len(secret) == 0:
		return nil, fmt.Errorf("shamir split: %w", ErrEmptySecret)
	}

	xs, err := distinctXCoordinates(parts)
	if err != nil {
		return nil, fmt.Errorf("shamir split: %w", err)
	}

	// Coefficients 1..threshold-1 of every byte's polynomial, stored per
	// secret byte. Uniformly random, zero included: forcing a nonzero leading
	// coefficient would bias the shares.
	degree := threshold - 1
	coeffs := make([]byte, len(secret)*degree)
	defer clear(coeffs)
	if _, err := io.ReadFull(random, coeffs); err != nil {
		return nil, fmt.Errorf("shamir split: read random coefficients: %w", err)
	}

	shares := make([][]byte, parts)
	for i, x := range xs {
		share := make([]byte, len(secret)+ShareOverhead)
		for k, s := range secret {
			c := coeffs[k*degree : (k+1)*degree]
			// Horner: ((c[d-1]*x + c[d-2])*x + ... + c[0])*x + s.
			acc := c[degree-1]
			for d := degree - 2; d >= 0; d-- {
				acc = gfAdd(gfMul(acc, x), c[d])
			}
			share[k] = gfAdd(gfMul(acc, x), s)
		}
		share[len(secret)] = x
		shares[i] = share
	}
	return shares, nil
}

// Combine reconstructs the secret from two or more shares made by Split (or by
// Vault). It checks the shares' shape (at least 2 of them, equal lengths of at
// least 2 bytes, distinct nonzero x coordinates) but cannot tell whether they
// reach the threshold or are genuine; see the package documentation. On error
// the result is nil.
func Combine(parts [][]byte) ([]byte, error) {
	if len(parts) < 2 {
		return nil, fmt.Errorf("shamir combine: %w (got %d)", ErrTooFewParts, len(parts))
	}
	n := len(parts[0])
	for i, p := range parts {
		if len(p) < 1+ShareOverhead {
			return nil, fmt.Errorf("shamir combine: part %d: %w", i+1, ErrPartTooShort)
		}
		if len(p) != n {
			return nil, fmt.Errorf("shamir combine: part %d: %w (%d bytes, part 1 has %d)", i+1, ErrPartLengthMismatch, len(p), n)
		}
	}

	xs := make([]byte, len(parts))
	var usedBy [256]int // 1-based index of the part holding each x
	for i, p := range parts {
		x := p[n-1]
		if x == 0 {
			return nil, fmt.Errorf("shamir combine: part %d: %w", i+1, ErrZeroXCoordinate)
		}
		if usedBy[x] != 0 {
			return nil, fmt.Errorf("shamir combine: part %d: %w by part %d", i+1, ErrDuplicateXCoordinate, usedBy[x])
		}
		usedBy[x] = i + 1
		xs[i] = x
	}

	secret := make([]byte, n-ShareOverhead)
	for i, p := range parts {
		w := lagrangeWeightAtZero(xs, i)
		for k, y := range p[:n-ShareOverhead] {
			secret[k] = gfAdd(secret[k], gfMul(y, w))
		}
	}
	return secret, nil
}

// lagrangeWeightAtZero returns l_i(0) = prod_{j != i} x_j / (x_j - x_i), the
// factor by which share i's y values enter f(0). The weight depends only on
// the public x coordinates, so it is computed once per share rather than once
// per secret byte.
func lagrangeWeightAtZero(xs []byte, i int) byte {
	num, den := byte(1), byte(1)
	for j, xj := range xs {
		if j == i {
			continue
		}
		num = gfMul(num, xj)
		den = gfMul(den, gfAdd(xj, xs[i]))
	}
	return gfDiv(num, den)
}

// distinctXCoordinates draws n distinct values from 1..255 uniformly, by a
// partial Fisher-Yates shuffle driven by crypto/rand, so the x coordinates
// of a split are unpredictable.
func distinctXCoordinates(n int) ([]byte, error) {
	var pool [MaxParts]byte
	for i := range pool {
		pool[i] = byte(i + 1)
	}
	src := byteSource{r: random}
	for i := range n {
		j, err := src.uniform(len(pool) - i)
		if err != nil {
			return nil, fmt.Errorf("read random x coordinates: %w", err)
		}
		pool[i], pool[i+j] = pool[i+j], pool[i]
	}
	return append([]byte(nil), pool[:n]...), nil
}

// byteSource hands out random bytes from a buffered reader so that drawing
// x coordinates does not cost one read per byte.
type byteSource struct {
	r   io.Reader
	buf [64]byte
	pos int
	n   int
}

func (s *byteSource) next() (byte, error) {
	if s.pos == s.n {
		if _, err := io.ReadFull(s.r, s.buf[:]); err != nil {
			return 0, err
		}
		s.pos, s.n = 0, len(s.buf)
	}
	b := s.buf[s.pos]
	s.pos++
	return b, nil
}

// uniform returns a uniform value in [0, n) for 1 <= n <= 256, rejecting the
// bytes that would make a plain modulo biased.
func (s *byteSource) uniform(n int) (int, error) {
	limit := 256 - 256%n
	for {
		b, err := s.next()
		if err != nil {
			return 0, err
		}
		if int(b) < limit {
			return int(b) % n, nil
		}
	}
}
