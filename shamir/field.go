package shamir

// Arithmetic in GF(2^8) reduced by the AES polynomial x^8+x^4+x^3+x+1 (0x11B),
// the field Vault's shares live in. Every operation runs in time independent of
// its operands: share bytes and polynomial coefficients are secret, so there
// are no lookup tables indexed by them and no branches on them.

// gfAdd adds (and subtracts) in a field of characteristic 2.
func gfAdd(a, b byte) byte { return a ^ b }

// gfMul multiplies by walking b's bits from the least significant end while
// doubling a. Each step turns a bit of b (and the carry out of a) into an
// all-ones or all-zero mask, so the same instructions run for every input.
func gfMul(a, b byte) byte {
	var product byte
	for range 8 {
		product ^= a & -(b & 1)
		b >>= 1
		carry := a >> 7
		// Doubling overflows x^8; reduce by the low byte of 0x11B.
		a = (a << 1) ^ (0x1B & -carry)
	}
	return product
}

// gfInv returns the multiplicative inverse as a^254 (a^255 = 1 for a != 0).
// The exponent is fixed, so square-and-multiply follows the same sequence for
// every a. gfInv(0) is 0, which callers never rely on: Combine rejects x = 0
// and duplicate x before it divides.
func gfInv(a byte) byte {
	// a^(2^k - 1) for k = 1..7, then one squaring: 2*(2^7 - 1) = 254.
	r := a
	for range 6 {
		r = gfMul(gfMul(r, r), a)
	}
	return gfMul(r, r)
}

// gfDiv returns a/b; b must be nonzero.
func gfDiv(a, b byte) byte { return gfMul(a, gfInv(b)) }
