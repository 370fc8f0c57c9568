// Package envelope implements keyturn's client-side envelope for a secrets
// file stored in S3 and encrypted under an AWS KMS key.
//
// The package is pure: it never talks to KMS or S3. A writer asks KMS for a
// data key (GenerateDataKey, AES_256) under the encryption context it will
// record in the header, then calls [Seal] with the plaintext data key and the
// KMS-encrypted copy. A reader calls [Parse], checks the header's key against
// its allow-list with [CheckKeyAllowed] and the object identity with
// [Envelope.DecryptContext], asks KMS to Decrypt the encrypted data key with
// that context, and finally calls [Open]. Doing the checks before the KMS call
// matters: a reader that decrypted whatever key the header names would accept
// an envelope an attacker sealed under a key they control (the key
// substitution that berglas's threat model admits for anyone who can write
// the bucket).
//
// # Format, version 1
//
// All integers are unsigned big-endian. Strings are UTF-8 without a
// terminator. Nothing may follow the ciphertext.
//
//	offset  size  field
//	0       8     magic "keyturn\x00" (6b 65 79 74 75 72 6e 00)
//	8       1     format version, 0x01
//	9       2     A = length of the KMS key ARN, 1..2048
//	11      A     KMS key ARN: arn:PARTITION:kms:REGION:ACCOUNT:key/KEY-ID
//	        1     N = number of encryption context entries, 1..32
//	              N times, keys in strictly ascending byte order:
//	        2       K = key length, 1..256
//	        K       key
//	        2       V = value length, 1..1024
//	        V       value
//	        2     D = length of the encrypted data key, 1..6144
//	        D     encrypted data key (the KMS CiphertextBlob, opaque)
//	        12    AES-GCM nonce
//	        4     C = ciphertext length including the 16-byte tag,
//	              16..16 MiB+16
//	        C     AES-256-GCM ciphertext || tag
//
// The header is every byte before the ciphertext, length field included. It
// is the GCM additional data, so changing any header byte (key ARN, context,
// encrypted data key, nonce, lengths) makes [Open] fail even when the result
// still parses. The sum of all context key and value lengths is at most 8192.
//
// The encryption context must contain [ObjectContextKey] ("keyturn:object")
// with the value "s3://BUCKET/KEY" of the object the envelope is stored in.
// The same context is given to KMS when the data key is generated, so KMS
// binds the data key to the object: a reader that takes the object identity
// from where it actually read the bytes ([Envelope.DecryptContext]) cannot be
// fooled by an envelope copied from another object. Moving an object
// therefore requires re-sealing it.
//
// Parsing is strict so that each header has exactly one encoding: context
// keys must be sorted and unique, strings must be valid UTF-8, lengths must
// be within the caps above and match the input exactly. This lets [Open]
// rebuild the additional data from the parsed fields.
//
// Errors are sentinels testable with errors.Is: [ErrNotEnvelope] (no magic),
// [ErrUnsupportedVersion], [ErrMalformed] (truncation, trailing bytes,
// oversized or unsorted fields, missing object context),
// [ErrAuthentication] (wrong data key or any modified byte),
// [ErrKeyNotAllowed], [ErrObjectMismatch]. No error message contains a data
// key or plaintext.
package envelope
