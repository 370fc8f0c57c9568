//go:build linkvaultapi

package main

// Linked but never called: built with -tags linkvaultapi, barevault makes
// the same requests as without and pays, on every start, the package
// initialisation of the official Vault client, so that the benchmark can
// measure what linking vault/api costs a client that needs none of it.
import _ "github.com/hashicorp/vault/api"
