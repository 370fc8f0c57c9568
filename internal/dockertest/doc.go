// Package dockertest starts keyturn's images on a private Docker network with
// testcontainers-go, for tests that need what host processes cannot give:
// prestart as PID 1, docker stop and restart, several Vault nodes with their
// own DNS names, node loss and network partitions.
package dockertest

import _ "github.com/testcontainers/testcontainers-go"
