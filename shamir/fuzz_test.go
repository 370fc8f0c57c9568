package shamir

import (
	"bytes"
	"testing"
)

// FuzzCombine feeds arbitrary bytes, cut into up to 8 parts, to Combine. It
// must never panic, must return nil on error, and whatever it returns must
// agree with the reference interpolation.
func FuzzCombine(f *testing.F) {
	f.Add([]byte{0x43, 0x01, 0x40, 0x02}, uint8(2))
	f.Add([]byte{0x83, 0x83, 0xbc, 0x13}, uint8(2))
	f.Add([]byte{1, 0, 1, 4}, uint8(2))
	f.Add([]byte{1, 2, 3}, uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, count uint8) {
		n := int(count % 9)
		var parts [][]byte
		if n > 0 {
			size := len(data) / n
			for i := range n {
				end := (i + 1) * size
				if i == n-1 {
					end = len(data) // the last part takes the remainder, so lengths may differ
				}
				parts = append(parts, data[i*size:end])
			}
		}
		saved := bytes.Clone(data)
		got, err := Combine(parts)
		if !bytes.Equal(saved, data) {
			t.Fatal("Combine modified its input")
		}
		if err != nil {
			if got != nil {
				t.Fatalf("non-nil result with error %v", err)
			}
			return
		}
		if len(got) != len(parts[0])-ShareOverhead {
			t.Fatalf("result has %d bytes for %d-byte parts", len(got), len(parts[0]))
		}
		// Byte positions are independent, so the slow reference checks a
		// prefix of at most 16 of them; that keeps executions fast.
		k := min(len(got), 16)
		prefix := make([][]byte, len(parts))
		for i, p := range parts {
			prefix[i] = append(bytes.Clone(p[:k]), p[len(p)-1])
		}
		want, rerr := refCombine(prefix)
		if rerr != nil {
			t.Fatalf("Combine accepted parts the reference rejects: %v", rerr)
		}
		if !bytes.Equal(got[:k], want) {
			t.Fatalf("Combine = %x, reference = %x", got[:k], want)
		}
	})
}

// FuzzSplitCombine checks the round trip for arbitrary secrets and
// parameters, and that invalid parameters fail cleanly.
func FuzzSplitCombine(f *testing.F) {
	f.Add([]byte("s"), uint8(2), uint8(2))
	f.Add([]byte("a 32-byte root key of some vault"), uint8(5), uint8(3))
	f.Add([]byte{}, uint8(3), uint8(2))
	f.Add([]byte{0, 0, 0}, uint8(255), uint8(255))
	f.Add([]byte("x"), uint8(2), uint8(3))
	f.Fuzz(func(t *testing.T, secret []byte, parts, threshold uint8) {
		// Split costs len(secret)*parts*threshold multiplies; bound that so
		// each execution stays in the millisecond range.
		if work := int(parts) * int(threshold); work > 0 && len(secret)*work > 1<<16 {
			secret = secret[:max(1, (1<<16)/work)]
		}
		shares, err := Split(secret, int(parts), int(threshold))
		valid := len(secret) > 0 && threshold >= 2 && parts >= threshold
		if err != nil {
			if valid {
				t.Fatalf("Split(%d bytes, %d, %d): %v", len(secret), parts, threshold, err)
			}
			if shares != nil {
				t.Fatal("shares returned with an error")
			}
			return
		}
		if !valid {
			t.Fatalf("Split accepted %d bytes, %d parts, threshold %d", len(secret), parts, threshold)
		}
		checkShape(t, shares, len(secret), int(parts))
		th := int(threshold)
		for _, sub := range [][][]byte{shares[:th], shares[len(shares)-th:], shares} {
			got, err := Combine(sub)
			if err != nil || !bytes.Equal(got, secret) {
				t.Fatalf("%d of %d shares: Combine = %x, %v; want %x", len(sub), parts, got, err, secret)
			}
		}
	})
}
