// Package s3src keeps env files in S3 under AWS KMS and reads them back:
// the s3:// source of prestart and the storage behind s3kms.
//
// An object holds one env file in one of three forms, told apart on read:
//
//   - a keyturn envelope (package envelope; the object starts with its
//     magic): the file sealed with AES-256-GCM under a KMS data key whose
//     encryption context binds s3://BUCKET/KEY. One GET and one KMS Decrypt
//     per read, however many variables the file holds.
//   - an AWS S3 Encryption Client v2 object (metadata x-amz-key-v2,
//     x-amz-wrap-alg kms+context, x-amz-cek-alg AES/GCM/NoPadding), as the
//     Ruby, Java and Go clients write it: read only. The legacy v1 format
//     (AES-CBC, or a KMS key wrap without context) is refused unless the
//     read asks for it (Legacy), since CBC does not authenticate the
//     content; Migrate turns any readable object into an envelope. The
//     metadata may be in an instruction file (Instruction). When the
//     encryption context names the object (keyturn:object), the object is
//     bound to it like an envelope.
//   - anything else is a plain object: the env file as it is, which is
//     what a GET of an SSE-KMS object returns (S3 decrypts it).
//
// A prefix of raw KMS ciphertext blobs (one `aws kms encrypt`
// output per secret, named after the variable) is read with ReadBlobs. A
// blob made with the encryption context BlobContext (PutBlob's default)
// decrypts only as the object it was made for.
//
// # Which KMS keys are trusted
//
// Whoever can write the bucket can write an envelope sealed under a KMS
// key they control, or replace it with a plain object. A read therefore
// takes an allow-list of KMS keys (key ARN, key ID, alias/NAME or alias
// ARN, see envelope.CheckKeyAllowed); an envelope, an S3 Encryption Client
// object or a blob is only decrypted under an allowed key, and the list is
// required for them. With a list, a plain object is accepted only when S3
// reports it encrypted with SSE-KMS under an allowed key, so an attacker
// cannot downgrade an envelope to a plain file either.
//
// # Errors
//
// Failures wrap one of ErrRefused (a key not allowed, a tampered or moved
// object, access denied: exit 3 in keyturn's commands), ErrUnavailable
// (S3 or KMS unreachable after the SDK's retries: exit 4), ErrConflict (a
// conditional write lost to another writer), ErrCorrupt (an object that
// does not parse), ErrUnsupported (a format this package does not read) or
// source.ErrNotFound. Messages never contain plaintext or key material.
package s3src
