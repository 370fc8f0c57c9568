// Package vaultsrc reads vault:// references: KV v1 and v2 secrets (the
// version is detected per mount, as the Vault CLI does) and any other logical
// path, such as dynamic database credentials, keeping its lease.
package vaultsrc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keyturn/keyturn/internal/source"
	"github.com/keyturn/keyturn/internal/vaulterr"
)

// Reader reads vault:// references with a logged-in client.
type Reader struct {
	client *api.Client
	mu     sync.Mutex
	mounts map[string]mountInfo // by mount path, "secret/"
	// lookups holds the mount lookup in flight per first path segment: two
	// paths with different first segments cannot share a mount, so their
	// lookups run concurrently, while secret/a and secret/b wait for one
	// lookup instead of asking twice.
	lookups map[string]chan struct{}
}

type mountInfo struct {
	path    string // "secret/"
	kv      bool
	version int // 1 or 2 for KV
}

// New returns a Reader using c (which must hold a token).
func New(c *api.Client) *Reader {
	return &Reader{client: c, mounts: map[string]mountInfo{}, lookups: map[string]chan struct{}{}}
}

var _ source.Reader = (*Reader)(nil)

// Read reads one reference. ?version=N pins a KV v2 version.
func (r *Reader) Read(ctx context.Context, ref source.Ref) (*source.Result, error) {
	for k := range ref.Query {
		if k != "version" {
			return nil, fmt.Errorf("%s: unknown option %q (vault:// takes version=N)", ref, k)
		}
	}
	m, err := r.mount(ctx, ref.Path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	version := ref.Query.Get("version")
	if version != "" {
		if n, err := strconv.Atoi(version); err != nil || n < 1 {
			return nil, fmt.Errorf("%s: version %q is not a positive number", ref, version)
		}
		if !m.kv || m.version != 2 {
			return nil, fmt.Errorf("%s: ?version= needs a KV v2 mount; %s is not one", ref, m.path)
		}
	}
	if m.kv && m.version == 2 {
		return r.readKV2(ctx, ref, m, version)
	}
	return r.readLogical(ctx, ref, m.kv)
}

// mount finds the mount of a path through sys/internal/ui/mounts, which
// any token with access below the mount may call, once per mount: a lookup
// for a path whose first segment is already being looked up waits for that
// answer, which usually covers it.
func (r *Reader) mount(ctx context.Context, path string) (mountInfo, error) {
	seg, _, _ := strings.Cut(path, "/")
	for {
		r.mu.Lock()
		if m, ok := r.cached(path); ok {
			r.mu.Unlock()
			return m, nil
		}
		wait, busy := r.lookups[seg]
		if !busy {
			done := make(chan struct{})
			r.lookups[seg] = done
			r.mu.Unlock()
			m, err := r.lookup(ctx, path)
			r.mu.Lock()
			if err == nil && m.path != "" {
				r.mounts[m.path] = m
			}
			delete(r.lookups, seg)
			r.mu.Unlock()
			close(done)
			return m, err
		}
		r.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return mountInfo{}, ctx.Err()
		}
	}
}

// cached returns the longest known mount that holds path; r.mu is held.
func (r *Reader) cached(path string) (mountInfo, bool) {
	var best mountInfo
	found := false
	for p, m := range r.mounts {
		if strings.HasPrefix(path+"/", p) && len(p) > len(best.path) {
			best, found = m, true
		}
	}
	return best, found
}

func (r *Reader) lookup(ctx context.Context, path string) (mountInfo, error) {
	sec, err := r.client.Logical().ReadWithContext(ctx, "sys/internal/ui/mounts/"+path)
	if err != nil {
		// Without the preflight permission, or on an old server, read the
		// path as given (KV v1 or any logical path), as the CLI does.
		if code := statusCode(err); code == http.StatusForbidden || code == http.StatusNotFound {
			return mountInfo{}, nil
		}
		return mountInfo{}, vaulterr.Classify("find the mount", err)
	}
	if sec == nil || sec.Data == nil {
		return mountInfo{}, nil
	}
	m := mountInfo{version: 1}
	m.path, _ = sec.Data["path"].(string)
	typ, _ := sec.Data["type"].(string)
	m.kv = typ == "kv" || typ == "generic"
	if opts, ok := sec.Data["options"].(map[string]any); ok && opts["version"] == "2" {
		m.version = 2
	}
	return m, nil
}

func (r *Reader) readKV2(ctx context.Context, ref source.Ref, m mountInfo, version string) (*source.Result, error) {
	rel := strings.TrimPrefix(ref.Path+"/", m.path)
	rel = strings.TrimSuffix(rel, "/")
	path := strings.TrimSuffix(m.path, "/") + "/data/" + rel
	var params map[string][]string
	if version != "" {
		params = map[string][]string{"version": {version}}
	}
	sec, err := r.client.Logical().ReadWithDataWithContext(ctx, path, params)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, vaulterr.Classify("read", err))
	}
	if sec == nil || sec.Data == nil {
		return nil, fmt.Errorf("%s: %w", ref, source.ErrNotFound)
	}
	data, _ := sec.Data["data"].(map[string]any)
	md, _ := sec.Data["metadata"].(map[string]any)
	if data == nil {
		// A deleted or destroyed version answers with metadata only.
		return nil, fmt.Errorf("%s: %w (version deleted or destroyed)", ref, source.ErrNotFound)
	}
	res := &source.Result{Data: data, Watchable: true}
	if v, ok := md["version"].(json.Number); ok {
		res.Version = v.String()
	}
	return res, nil
}

func (r *Reader) readLogical(ctx context.Context, ref source.Ref, kv bool) (*source.Result, error) {
	sec, err := r.client.Logical().ReadWithContext(ctx, ref.Path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, vaulterr.Classify("read", err))
	}
	if sec == nil || sec.Data == nil {
		return nil, fmt.Errorf("%s: %w", ref, source.ErrNotFound)
	}
	res := &source.Result{Data: sec.Data, Watchable: kv}
	if sec.LeaseID != "" {
		res.Lease = &source.Lease{ID: sec.LeaseID, Duration: time.Duration(sec.LeaseDuration) * time.Second, Renewable: sec.Renewable}
	} else if sec.LeaseDuration > 0 {
		// Leased KV v1 (a ttl field) has a duration but no lease ID: it
		// says how often to re-read, not something to renew.
		res.Watchable = true
	}
	return res, nil
}

func statusCode(err error) int {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}
