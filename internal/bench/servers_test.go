package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyturn/keyturn/internal/miniotest"
	"github.com/keyturn/keyturn/internal/vaulttest"
)

func repeat(label string, n int) []string {
	var l []string
	for range n {
		l = append(l, label)
	}
	return l
}

// TestCountsAndBareClients starts the benchmark's servers from the real
// binaries, counts one start of prestart and of its bare clients in every
// case, and checks that the servers saw the request sequence the README
// documents for prestart, and the very same from the bare clients: a bare
// client that skipped a request would make every ratio flatter prestart,
// and barevault-api one that differed would measure more than vault/api's
// initialisation. It also mints with issuer and both bare clients, and
// follows prestart -supervise through a few 1-second token renewals.
func TestCountsAndBareClients(t *testing.T) {
	dir := t.TempDir()
	b := &binaries{vault: vaulttest.Binary(t), prestart: filepath.Join(dir, "prestart"), issuer: filepath.Join(dir, "issuer")}
	minio, err := miniotest.Binary()
	if err != nil {
		t.Fatalf("minio binary: %v (build it with make tools)", err)
	}
	b.minio = minio
	for bin, pkg := range map[string]string{b.prestart: "github.com/keyturn/keyturn/cmd/prestart", b.issuer: "github.com/keyturn/keyturn/cmd/issuer"} {
		if err := goBuild("", bin, pkg); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.build(dir); err != nil {
		t.Fatal(err)
	}
	v, err := startVault(b.vault, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer v.stop()
	l, err := startS3(b.minio, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.stop()

	cases := append(vaultCases(b, v), s3Cases(b, l)...)
	for _, c := range cases {
		// Agent and shell make their own requests; prestart and the bare
		// clients must agree.
		c.contenders = slices.DeleteFunc(c.contenders, func(ct contender) bool { return ct.name == "vault agent" || ct.name == "shell" })
		want := 2
		if c.backend == "vault" {
			want = 3 // and barevault-api
		}
		if len(c.contenders) != want {
			t.Fatalf("%s: %d contenders besides agent and shell, want %d", c.id, len(c.contenders), want)
		}
	}
	got, err := countRequests(cases, v, l)
	if err != nil {
		t.Fatal(err)
	}
	read := []string{"login", "mount lookup", "kv read", "revoke-self"}
	want := map[string][]string{
		"kv1":         read,
		"kv1-wrapped": append([]string{"wrapping lookup", "unwrap"}, read...),
		"kv20":        slices.Concat([]string{"login", "mount lookup"}, repeat("kv read", kv20), []string{"revoke-self"}),
		"s3-env1":     {"GetObject", "kms:Decrypt"},
		"s3-env200":   {"GetObject", "kms:Decrypt"},
		"s3-blobs20":  slices.Concat([]string{"ListObjectsV2"}, repeat("GetObject", s3Blobs), repeat("kms:Decrypt", s3Blobs)),
	}
	for _, c := range cases {
		for _, ct := range c.contenders {
			if r := got[c.id][ct.name]; !slices.Equal(r.labels, want[c.id]) {
				t.Errorf("%s, %s: requests\n  %s\nwant\n  %s", c.id, ct.name, strings.Join(r.labels, ", "), strings.Join(want[c.id], ", "))
			}
		}
	}

	mints, err := countMint(b, v)
	if err != nil {
		t.Fatal(err)
	}
	for k, name := range []string{"issuer mint", "barevault -mint", "barevault-api -mint"} {
		if !slices.Equal(mints[k].labels, []string{"secret-id"}) {
			t.Errorf("%s: requests %v, want one secret-id", name, mints[k].labels)
		}
	}
	m, err := benchMint(b, v, 4, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.issuer) != 1 || m.issuer[0] <= 0 || m.bare[0] <= 0 || m.bareAPI[0] <= 0 || m.floor <= 0 {
		t.Errorf("mint throughput %+v", m)
	}

	s, err := startSupervise(b, v, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer s.stop()
	if err := s.finish(4, func(string) {}); err != nil {
		t.Fatal(err)
	}
	if len(s.samples) != 4 || s.samples[3].renewals < 4 || s.rssStart <= 0 || s.hwmEnd < s.samples[3].rss {
		t.Errorf("supervise: RSS %d kB at the start, then %+v, peak %d kB", s.rssStart, s.samples, s.hwmEnd)
	}
}
