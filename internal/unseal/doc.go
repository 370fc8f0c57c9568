// Package unseal holds what Vault operators do with their PGP-protected
// Shamir shares: initialise Vault so that each operator receives one
// encrypted share file, turn a key (decrypt the share in memory and submit it
// to every sealed node of a cluster), watch the nodes, rekey to new PGP keys,
// and split or combine any secret offline in Vault's share format.
//
// The rule everything here follows: a decrypted share, a root token or a
// combined secret is never printed, written to a file (except a combined
// secret to the file the operator names), passed on a command line, put into
// an error message or logged. It lives in a []byte that is wiped when done;
// Go cannot promise that no copy survives (the HTTP client and the TLS stack
// keep their own buffers), so wiping narrows the window rather than closing
// it.
//
// The Vault endpoints used are all unauthenticated (seal-status, health,
// leader, init, unseal, rekey): no Vault token is needed or sent.
package unseal
