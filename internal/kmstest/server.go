package kmstest

import (
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// Server is a Handler listening on a loopback port for the length of a
// test.
type Server struct {
	*Handler
	// URL is the endpoint, http://127.0.0.1:PORT, for BaseEndpoint or
	// AWS_ENDPOINT_URL_KMS.
	URL string
	t   testing.TB
}

// Start serves a new Handler on 127.0.0.1 with a random port and closes it
// when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	h := NewHandler(opts...)
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return &Server{Handler: h, URL: hs.URL, t: t}
}

// AddKey creates a key and fails the test if that is not possible.
func (s *Server) AddKey(spec KeySpec) Key {
	s.t.Helper()
	k, err := s.CreateKey(spec)
	if err != nil {
		s.t.Fatal(err)
	}
	return k
}

// Client returns an aws-sdk-go-v2 KMS client for this server that signs
// as accessKeyID (the caller identity the per-key allow-lists check).
func (s *Server) Client(accessKeyID string) *kms.Client {
	return kms.NewFromConfig(s.Config(accessKeyID))
}

// Config returns an aws.Config with static credentials for accessKeyID,
// the server's region, and BaseEndpoint set to the server. BaseEndpoint
// applies to every service built from the config; for S3 clients, use a
// separate config.
func (s *Server) Config(accessKeyID string) aws.Config {
	return aws.Config{
		Region:       s.region,
		Credentials:  credentials.NewStaticCredentialsProvider(accessKeyID, "kmstest-secret-"+accessKeyID, ""),
		BaseEndpoint: aws.String(s.URL),
	}
}
