package shamir

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	mathrand "math/rand/v2"
	"os"
	"testing"
)

func TestCombineHandComputed(t *testing.T) {
	// f(x) = 0x42 + 0x01*x: f(1) = 0x43, f(2) = 0x40. Addition is xor.
	got, err := Combine([][]byte{{0x43, 0x01}, {0x40, 0x02}})
	if err != nil || !bytes.Equal(got, []byte{0x42}) {
		t.Fatalf("Combine = %x, %v; want 42", got, err)
	}
	// f(x) = 0x42 + 0x57*x with FIPS-197's products: f(0x83) = 0x42^0xc1 = 0x83,
	// f(0x13) = 0x42^0xfe = 0xbc.
	got, err = Combine([][]byte{{0x83, 0x83}, {0xbc, 0x13}})
	if err != nil || !bytes.Equal(got, []byte{0x42}) {
		t.Fatalf("Combine = %x, %v; want 42", got, err)
	}
}

func TestCombineFixedPolynomial(t *testing.T) {
	// A 3-of-5 split of "vault" with fixed coefficients, evaluated by the
	// reference (power-sum) implementation, not by Split.
	secret := []byte("vault")
	polys := [][]byte{
		{0x01, 0x02},
		{0xff, 0x00}, // degree 1 only: still must interpolate correctly
		{0x00, 0x9a},
		{0x53, 0xca},
		{0x80, 0x80},
	}
	xs := []byte{0x01, 0x02, 0x03, 0xc8, 0xff}
	shares := refSplit(secret, polys, xs)
	// Pin one evaluation by hand so the reference itself is checked:
	// byte 0 at x=1 is 'v' ^ 0x01 ^ 0x02 = 0x76 ^ 0x03 = 0x75.
	if shares[0][0] != 0x75 || shares[0][5] != 0x01 {
		t.Fatalf("reference share 1 = %x, want 75...01", shares[0])
	}
	forEachSubset(nil, len(xs), 3, 100, func(idx []int) {
		got, err := Combine(pick(shares, idx))
		if err != nil || !bytes.Equal(got, secret) {
			t.Errorf("subset %v: Combine = %q, %v; want %q", idx, got, err, secret)
		}
	})
	all, err := Combine(shares)
	if err != nil || !bytes.Equal(all, secret) {
		t.Errorf("all 5 shares: Combine = %q, %v", all, err)
	}
}

// vaultVectors are shares made by Vault itself. The file
// testdata/vault-v1.21.1-shares.json was produced by a throwaway program,
// outside this module, that called shamir.Split from
// github.com/hashicorp/vault v1.21.1 and printed secrets and shares in hex.
type vaultVectors struct {
	Source  string `json:"source"`
	Vectors []struct {
		Comment   string   `json:"comment"`
		Secret    string   `json:"secret"`
		Threshold int      `json:"threshold"`
		Shares    []string `json:"shares"`
	} `json:"vectors"`
}

func TestCombineVaultShares(t *testing.T) {
	raw, err := os.ReadFile("testdata/vault-v1.21.1-shares.json")
	if err != nil {
		t.Fatal(err)
	}
	var vv vaultVectors
	if err := json.Unmarshal(raw, &vv); err != nil {
		t.Fatal(err)
	}
	if len(vv.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range vv.Vectors {
		t.Run(v.Comment, func(t *testing.T) {
			secret := mustHex(t, v.Secret)
			shares := make([][]byte, len(v.Shares))
			for i, s := range v.Shares {
				shares[i] = mustHex(t, s)
				if len(shares[i]) != len(secret)+ShareOverhead {
					t.Fatalf("share %d is %d bytes for a %d-byte secret", i, len(shares[i]), len(secret))
				}
			}
			for k := v.Threshold; k <= len(shares); k++ {
				n := 0
				forEachSubset(nil, len(shares), k, 1<<20, func(idx []int) {
					n++
					sub := pick(shares, idx)
					got, err := Combine(sub)
					if err != nil || !bytes.Equal(got, secret) {
						t.Errorf("%d shares %v: Combine = %x, %v; want %x", k, idx, got, err, secret)
					}
					ref, err := refCombine(sub)
					if err != nil || !bytes.Equal(ref, secret) {
						t.Errorf("%d shares %v: reference combine = %x, %v (vector or reference broken)", k, idx, ref, err)
					}
				})
				if k == v.Threshold && n != binomial(len(shares), k) {
					t.Errorf("checked %d subsets, want %d", n, binomial(len(shares), k))
				}
			}
		})
	}
}

func TestSplitCombinesUnderReference(t *testing.T) {
	secret := mustHex(t, "6ecb4627b1bd6d4e8a1a9c0d5f2e3b4c7d8e9fa0b1c2d3e4f5061728394a5b6c")
	for _, c := range []struct{ parts, threshold int }{{2, 2}, {5, 3}, {10, 7}, {255, 2}, {20, 20}} {
		shares, err := Split(secret, c.parts, c.threshold)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range shares {
			// Vault's unseal takes 33 bytes, as 66 hex characters.
			if len(s) != 33 || len(hex.EncodeToString(s)) != 66 {
				t.Fatalf("share %d is %d bytes", i, len(s))
			}
		}
		ref, err := refCombine(shares[:c.threshold])
		if err != nil || !bytes.Equal(ref, secret) {
			t.Errorf("%d of %d: reference combine = %x, %v; want %x", c.threshold, c.parts, ref, err, secret)
		}
		ref, err = refCombine(shares[len(shares)-c.threshold:])
		if err != nil || !bytes.Equal(ref, secret) {
			t.Errorf("%d of %d (last shares): reference combine = %x, %v", c.threshold, c.parts, ref, err)
		}
	}
}

func TestSplitCombineProperties(t *testing.T) {
	rng := mathrand.New(mathrand.NewPCG(1, 2))
	trials := 60
	if testing.Short() {
		trials = 15
	}
	for trial := range trials {
		size := 1 + rng.IntN(4096)
		if trial%3 == 0 {
			size = 1 + rng.IntN(40) // short secrets get more subsets per second
		}
		parts := 2 + rng.IntN(MaxParts-1)
		if trial%2 == 0 {
			parts = 2 + rng.IntN(12)
		}
		threshold := 2 + rng.IntN(parts-1)
		secret := make([]byte, size)
		for i := range secret {
			secret[i] = byte(rng.Uint32())
		}
		shares, err := Split(secret, parts, threshold)
		if err != nil {
			t.Fatalf("Split(%d bytes, %d, %d): %v", size, parts, threshold, err)
		}
		checkShape(t, shares, len(secret), parts)
		limit := 40
		if size*threshold > 1<<16 {
			limit = 4
		}
		forEachSubset(rng, parts, threshold, limit, func(idx []int) {
			got, err := Combine(pick(shares, idx))
			if err != nil || !bytes.Equal(got, secret) {
				t.Fatalf("trial %d (%d bytes, %d of %d) subset %v: wrong secret, err %v", trial, size, threshold, parts, idx, err)
			}
		})
		// More shares than needed also work.
		if threshold < parts {
			got, err := Combine(shares)
			if err != nil || !bytes.Equal(got, secret) {
				t.Fatalf("trial %d: all %d shares: wrong secret, err %v", trial, parts, err)
			}
		}
	}
}

func TestBelowThresholdDoesNotRevealSecret(t *testing.T) {
	// With threshold-1 shares Combine interpolates a different polynomial; the
	// result equals the secret only by chance (about 256^-16 for 16 bytes).
	secret := []byte("0123456789abcdef")
	equal := 0
	const trials = 200
	for i := range trials {
		threshold := 3 + i%5
		shares, err := Split(secret, threshold+1, threshold)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Combine(shares[:threshold-1])
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(got, secret) {
			equal++
		}
		for _, s := range shares {
			if bytes.Equal(s[:len(secret)], secret) {
				t.Fatalf("a share's y bytes equal the secret")
			}
		}
	}
	if equal == trials {
		t.Fatalf("threshold-1 shares reconstructed the secret in all %d trials", trials)
	}
	if equal > 0 {
		t.Errorf("threshold-1 shares reconstructed the secret in %d of %d trials", equal, trials)
	}
}

func TestXCoordinatesAreUnpredictable(t *testing.T) {
	// Every x in 1..255 should turn up across many 2-share splits; a fixed
	// 1..n assignment or a biased shuffle would leave most of them unseen.
	// Expected count per value is 2*4000/255, about 31; missing one by chance
	// has probability below 255*e^-31.
	var seen [256]int
	for range 4000 {
		shares, err := Split([]byte{7}, 2, 2)
		if err != nil {
			t.Fatal(err)
		}
		checkShape(t, shares, 1, 2)
		for _, s := range shares {
			seen[s[1]]++
		}
	}
	if seen[0] != 0 {
		t.Fatalf("x = 0 used %d times", seen[0])
	}
	for x := 1; x < 256; x++ {
		if seen[x] == 0 {
			t.Errorf("x = %d never used", x)
		}
	}
	// 255 shares use every x exactly once.
	shares, err := Split([]byte("s"), 255, 2)
	if err != nil {
		t.Fatal(err)
	}
	checkShape(t, shares, 1, 255)
}

func checkShape(t *testing.T, shares [][]byte, secretLen, parts int) {
	t.Helper()
	if len(shares) != parts {
		t.Fatalf("got %d shares, want %d", len(shares), parts)
	}
	var used [256]bool
	for i, s := range shares {
		if len(s) != secretLen+ShareOverhead {
			t.Fatalf("share %d has %d bytes, want %d", i, len(s), secretLen+ShareOverhead)
		}
		x := s[len(s)-1]
		if x == 0 {
			t.Fatalf("share %d has x = 0", i)
		}
		if used[x] {
			t.Fatalf("share %d repeats x = %d", i, x)
		}
		used[x] = true
	}
}

func TestSplitErrors(t *testing.T) {
	cases := []struct {
		name             string
		secret           []byte
		parts, threshold int
		want             error
	}{
		{"threshold 1", []byte("s"), 3, 1, ErrThresholdTooSmall},
		{"threshold 0", []byte("s"), 3, 0, ErrThresholdTooSmall},
		{"negative threshold", []byte("s"), 3, -2, ErrThresholdTooSmall},
		{"256 parts", []byte("s"), 256, 2, ErrTooManyParts},
		{"threshold above 255", []byte("s"), 256, 256, ErrTooManyParts},
		{"parts below threshold", []byte("s"), 2, 3, ErrPartsBelowThreshold},
		{"zero parts", []byte("s"), 0, 2, ErrPartsBelowThreshold},
		{"empty secret", []byte{}, 3, 2, ErrEmptySecret},
		{"nil secret", nil, 3, 2, ErrEmptySecret},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			shares, err := Split(c.secret, c.parts, c.threshold)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if shares != nil {
				t.Fatal("shares returned with an error")
			}
			assertLowerCase(t, err)
		})
	}
	// The bounds themselves are accepted.
	for _, c := range []struct{ parts, threshold int }{{2, 2}, {255, 255}, {255, 2}} {
		if _, err := Split([]byte("s"), c.parts, c.threshold); err != nil {
			t.Errorf("Split(%d, %d): %v", c.parts, c.threshold, err)
		}
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("entropy source broken") }

func TestSplitRandomFailure(t *testing.T) {
	saved := random
	t.Cleanup(func() { random = saved })
	random = failingReader{}
	shares, err := Split([]byte("secret"), 3, 2)
	if err == nil || shares != nil {
		t.Fatalf("Split with a broken random source = %v, %v", shares, err)
	}
	if !bytes.Contains([]byte(err.Error()), []byte("entropy source broken")) {
		t.Errorf("error %q does not carry the cause", err)
	}
}

func TestCombineErrors(t *testing.T) {
	cases := []struct {
		name  string
		parts [][]byte
		want  error
	}{
		{"no parts", nil, ErrTooFewParts},
		{"one part", [][]byte{{1, 2}}, ErrTooFewParts},
		{"empty part", [][]byte{{}, {1, 2}}, ErrPartTooShort},
		{"one-byte part", [][]byte{{1, 2}, {3}}, ErrPartTooShort},
		{"one-byte parts", [][]byte{{1}, {3}}, ErrPartTooShort},
		{"unequal lengths", [][]byte{{1, 2, 3}, {1, 4}}, ErrPartLengthMismatch},
		{"unequal later", [][]byte{{1, 2}, {1, 4}, {5, 6, 7}}, ErrPartLengthMismatch},
		{"zero x", [][]byte{{1, 0}, {1, 4}}, ErrZeroXCoordinate},
		{"duplicate x", [][]byte{{1, 4}, {2, 4}}, ErrDuplicateXCoordinate},
		{"identical parts", [][]byte{{9, 9, 3}, {7, 7, 1}, {9, 9, 3}}, ErrDuplicateXCoordinate},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Combine(c.parts)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if got != nil {
				t.Fatal("result returned with an error")
			}
			assertLowerCase(t, err)
		})
	}
}

func TestCombineDoesNotModifyParts(t *testing.T) {
	shares, err := Split([]byte("do not touch"), 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	before := make([][]byte, len(shares))
	for i, s := range shares {
		before[i] = append([]byte(nil), s...)
	}
	if _, err := Combine(shares); err != nil {
		t.Fatal(err)
	}
	for i := range shares {
		if !bytes.Equal(before[i], shares[i]) {
			t.Fatalf("share %d changed", i)
		}
	}
}

func assertLowerCase(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if msg == "" || msg[0] < 'a' || msg[0] > 'z' {
		t.Errorf("error %q does not start with a lower-case letter", msg)
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func BenchmarkSplit32(b *testing.B) {
	secret := bytes.Repeat([]byte{0xa5}, 32)
	b.SetBytes(32)
	for b.Loop() {
		if _, err := Split(secret, 5, 3); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCombine32(b *testing.B) {
	shares, err := Split(bytes.Repeat([]byte{0xa5}, 32), 5, 3)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(32)
	for b.Loop() {
		if _, err := Combine(shares[:3]); err != nil {
			b.Fatal(err)
		}
	}
}
