package shamir

import "testing"

// refMul is a deliberately different, slow multiply: a carry-less product
// into 16 bits followed by long division by 0x11B. It shares no code or
// technique with gfMul.
func refMul(a, b byte) byte {
	var p uint16
	for i := range 8 {
		if b&(1<<i) != 0 {
			p ^= uint16(a) << i
		}
	}
	for bit := 14; bit >= 8; bit-- {
		if p&(1<<bit) != 0 {
			p ^= 0x11B << (bit - 8)
		}
	}
	return byte(p)
}

// refInv finds the inverse by exhaustive search.
func refInv(a byte) byte {
	for b := 1; b < 256; b++ {
		if refMul(a, byte(b)) == 1 {
			return byte(b)
		}
	}
	panic("no inverse")
}

func refPow(a byte, e int) byte {
	r := byte(1)
	for range e {
		r = refMul(r, a)
	}
	return r
}

func TestFieldKnownAnswers(t *testing.T) {
	// FIPS-197 section 4.2 and 4.2.1 worked examples, and the inverse of {53}
	// from the S-box derivation in the AES literature.
	mulCases := []struct{ a, b, want byte }{
		{0x57, 0x83, 0xc1},
		{0x57, 0x13, 0xfe},
		{0x57, 0x02, 0xae},
		{0x57, 0x04, 0x47},
		{0x57, 0x08, 0x8e},
		{0x57, 0x10, 0x07},
		{0x00, 0xff, 0x00},
		{0x01, 0xab, 0xab},
		{0x80, 0x02, 0x1b}, // x^7 * x = x^8 = x^4+x^3+x+1
	}
	for _, c := range mulCases {
		if got := gfMul(c.a, c.b); got != c.want {
			t.Errorf("gfMul(%#02x, %#02x) = %#02x, want %#02x", c.a, c.b, got, c.want)
		}
		if got := gfMul(c.b, c.a); got != c.want {
			t.Errorf("gfMul(%#02x, %#02x) = %#02x, want %#02x", c.b, c.a, got, c.want)
		}
		if got := refMul(c.a, c.b); got != c.want {
			t.Errorf("refMul(%#02x, %#02x) = %#02x, want %#02x (reference is broken)", c.a, c.b, got, c.want)
		}
	}
	if got := gfInv(0x53); got != 0xca {
		t.Errorf("gfInv(0x53) = %#02x, want 0xca", got)
	}
	if got := gfInv(0x01); got != 0x01 {
		t.Errorf("gfInv(0x01) = %#02x, want 0x01", got)
	}
	if got := gfAdd(0x57, 0x83); got != 0xd4 { // FIPS-197 section 4.1
		t.Errorf("gfAdd(0x57, 0x83) = %#02x, want 0xd4", got)
	}
}

func TestFieldMulMatchesReferenceExhaustively(t *testing.T) {
	for a := range 256 {
		for b := range 256 {
			if got, want := gfMul(byte(a), byte(b)), refMul(byte(a), byte(b)); got != want {
				t.Fatalf("gfMul(%#02x, %#02x) = %#02x, reference %#02x", a, b, got, want)
			}
		}
	}
}

func TestFieldInverse(t *testing.T) {
	seen := map[byte]bool{}
	for a := 1; a < 256; a++ {
		inv := gfInv(byte(a))
		if gfMul(byte(a), inv) != 1 || refMul(byte(a), inv) != 1 {
			t.Fatalf("%#02x * gfInv = %#02x * %#02x != 1", a, a, inv)
		}
		if want := refInv(byte(a)); inv != want {
			t.Fatalf("gfInv(%#02x) = %#02x, exhaustive search says %#02x", a, inv, want)
		}
		if want := refPow(byte(a), 254); inv != want {
			t.Fatalf("gfInv(%#02x) = %#02x, a^254 by repeated multiply = %#02x", a, inv, want)
		}
		if seen[inv] {
			t.Fatalf("gfInv is not a bijection: %#02x repeats", inv)
		}
		seen[inv] = true
		if got := gfDiv(byte(a), byte(a)); got != 1 {
			t.Fatalf("gfDiv(%#02x, %#02x) = %#02x, want 1", a, a, got)
		}
	}
	if gfInv(0) != 0 {
		t.Fatalf("gfInv(0) = %#02x, want 0 (documented)", gfInv(0))
	}
}

func TestFieldAxioms(t *testing.T) {
	// Associativity and distributivity on a sample; exhaustive over three
	// operands would be 16M multiplies, which is more than this needs.
	for a := 0; a < 256; a += 7 {
		for b := 0; b < 256; b += 5 {
			for c := 0; c < 256; c += 3 {
				x, y, z := byte(a), byte(b), byte(c)
				if gfMul(gfMul(x, y), z) != gfMul(x, gfMul(y, z)) {
					t.Fatalf("associativity fails for %#02x %#02x %#02x", x, y, z)
				}
				if gfMul(x, gfAdd(y, z)) != gfAdd(gfMul(x, y), gfMul(x, z)) {
					t.Fatalf("distributivity fails for %#02x %#02x %#02x", x, y, z)
				}
			}
		}
	}
	// 0x03 generates the multiplicative group of this field.
	seen := map[byte]bool{}
	g := byte(1)
	for range 255 {
		seen[g] = true
		g = gfMul(g, 0x03)
	}
	if len(seen) != 255 || g != 1 {
		t.Fatalf("0x03 generated %d elements and ended at %#02x", len(seen), g)
	}
}
