// Command minio is MinIO's own server, built from its Go module at a pinned
// version so that keyturn's tests run against a real S3 implementation
// without Docker. Nothing here changes MinIO's behaviour: it only calls
// MinIO's entry point with the process arguments.
package main

import (
	"os"

	minio "github.com/minio/minio/cmd"
)

func main() {
	minio.Main(os.Args)
}
