// Command vault is HashiCorp Vault's own CLI, built from a pinned release so
// that keyturn's tests, demo and benchmarks run against a real server (and
// Vault Agent) without downloading a prebuilt binary.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
