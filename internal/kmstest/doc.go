// Package kmstest is an AWS KMS server at the wire protocol, for tests and
// for the kms-local demo binary.
//
// No KMS emulator can be installed where keyturn is built and tested, so
// this package stands in for KMS: it speaks the AWS JSON 1.1 protocol
// (POST /, X-Amz-Target: TrentService.<Op>) closely enough that
// aws-sdk-go-v2's kms client runs against it unmodified through its
// endpoint override, including the error types it decodes. It is the only
// fake keyturn's tests use, and it is deliberately small:
//
//   - Operations: Encrypt, Decrypt, GenerateDataKey, DescribeKey,
//     ListAliases, CreateKey, CreateAlias, UpdateAlias. Anything else is an
//     UnknownOperationException.
//   - Keys are symmetric (SYMMETRIC_DEFAULT). Each has its own random
//     256-bit master key; ciphertext blobs are real AES-256-GCM, carry the
//     key ID (so Decrypt works without KeyId, as in AWS) and bind the
//     encryption context as additional data (a different context is an
//     InvalidCiphertextException).
//   - Keys are addressable by key ID, key ARN, alias name and alias ARN.
//   - Authorization is a per-key allow-list of callers, identified by the
//     access key ID in the SigV4 Authorization header. Signatures are not
//     verified; the point is to exercise who may call what, not to
//     authenticate. Key policies, grants and IAM are not modelled.
//   - Every request is counted per operation, so a test can assert how
//     many KMS calls a code path makes.
//
// [NewHandler] needs no testing.TB; [Start] wraps it in a loopback test
// server that closes when the test ends.
package kmstest
