package unseal

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	mathrand "math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyturn/keyturn/internal/pgp"
	"github.com/keyturn/keyturn/internal/scripttest"
)

// operators makes n gpg keys and returns them as recipients, with a
// Decrypter holding all their private keys.
func operators(t *testing.T, n int) ([]Recipient, *Decrypter) {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	d := &Decrypter{}
	for i := 0; i < n; i++ {
		g := scripttest.NewGnuPG(t, fmt.Sprintf("op%d", i+1), "", "future-default")
		pub, err := g.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		sec, err := g.SecretKey()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprintf("op%d.asc", i+1))
		if err := os.WriteFile(p, pub, 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
		d.PrivateKeys = append(d.PrivateKeys, sec)
	}
	rs, err := ReadRecipients(paths)
	if err != nil {
		t.Fatal(err)
	}
	return rs, d
}

func decodeFiles(t *testing.T, files []string, idx []int) ([][]byte, []string) {
	t.Helper()
	var msgs [][]byte
	var names []string
	for _, i := range idx {
		m, err := pgp.DecodeMessage([]byte(files[i]))
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
		names = append(names, fmt.Sprintf("share %d", i+1))
	}
	return msgs, names
}

// subsets calls fn with every k-element subset of 0..n-1.
func subsets(n, k int, fn func([]int)) {
	var rec func(start int, cur []int)
	rec = func(start int, cur []int) {
		if len(cur) == k {
			fn(append([]int(nil), cur...))
			return
		}
		for i := start; i < n; i++ {
			rec(i+1, append(cur, i))
		}
	}
	rec(0, nil)
}

// Split then Combine with any T of N shares (keys made by gpg) round-trips
// random secrets of 1..4096 bytes; T-1 shares fail or give something else.
func TestSplitCombineRoundTrip(t *testing.T) {
	const n = 4
	to, dec := operators(t, n)
	ctx := context.Background()
	rng := mathrand.New(mathrand.NewPCG(1, 2))
	sizes := []int{1, 2, 15, 16, 31, 32, 33, 255, 256, 1000, 4095, 4096}
	for range 12 {
		sizes = append(sizes, 1+rng.IntN(4096))
	}
	for _, size := range sizes {
		secret := make([]byte, size)
		rand.Read(secret)
		threshold := 2 + rng.IntN(n-1)
		files, err := Split(secret, threshold, to)
		if err != nil {
			t.Fatalf("split %d bytes: %v", size, err)
		}
		// Only a secret whose base64 is long enough not to occur in an
		// armored file by chance can be looked for: one byte is four
		// characters such as "QQ==", which a file of a few kB may hold.
		for _, f := range files {
			if size >= 16 && bytes.Contains([]byte(f), []byte(base64.StdEncoding.EncodeToString(secret))) {
				t.Fatal("a share file holds the secret")
			}
		}
		for k := threshold; k <= n; k++ {
			subsets(n, k, func(idx []int) {
				msgs, names := decodeFiles(t, files, idx)
				got, err := Combine(ctx, dec, msgs, names)
				if err != nil {
					t.Fatalf("%d bytes, T=%d, shares %v: %v", size, threshold, idx, err)
				}
				if !bytes.Equal(got, secret) {
					t.Fatalf("%d bytes, T=%d, shares %v: wrong secret", size, threshold, idx)
				}
			})
		}
		subsets(n, threshold-1, func(idx []int) {
			msgs, names := decodeFiles(t, files, idx)
			got, err := Combine(ctx, dec, msgs, names)
			switch {
			case err != nil:
				// One share: nothing to combine.
			case size >= 16 && bytes.Equal(got, secret):
				// Below 16 bytes an accidental match is possible
				// (1/256 a byte); above, it would mean the scheme
				// leaks.
				t.Fatalf("%d bytes, T=%d: %d shares gave the secret", size, threshold, len(idx))
			}
		})
	}
}

func TestSplitRefuses(t *testing.T) {
	to, dec := operators(t, 2)
	for _, c := range []struct {
		secret    []byte
		threshold int
		to        []Recipient
	}{
		{nil, 2, to},
		{make([]byte, MaxSecret+1), 2, to},
		{[]byte("x"), 1, to},
		{[]byte("x"), 3, to},
		{[]byte("x"), 2, to[:1]},
	} {
		if _, err := Split(c.secret, c.threshold, c.to); err == nil {
			t.Errorf("split of %d bytes, threshold %d, %d keys accepted", len(c.secret), c.threshold, len(c.to))
		}
	}
	big := make([]byte, MaxSecret)
	rand.Read(big)
	files, err := Split(big, 2, to)
	if err != nil {
		t.Fatalf("largest secret: %v", err)
	}
	msgs, names := decodeFiles(t, files, []int{0, 1})
	got, err := Combine(context.Background(), dec, msgs, names)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("largest secret does not round-trip: %v", err)
	}
}
