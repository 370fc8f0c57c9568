package faultproxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// backend serves a fixed body of size bytes and counts its requests.
type backend struct {
	*httptest.Server
	hits  atomic.Int64
	hosts chan string
}

func newBackend(t *testing.T, size int) *backend {
	t.Helper()
	b := &backend{hosts: make(chan string, 100)}
	body := strings.Repeat("x", size)
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		select {
		case b.hosts <- r.Host:
		default:
		}
		io.WriteString(w, body)
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) addr() string { return strings.TrimPrefix(b.URL, "http://") }

func newProxy(t *testing.T, target string, opts ...Option) *Proxy {
	t.Helper()
	p, err := New(target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// client has no keep-alive, so every request is a new connection, and a
// short timeout, so that a blackhole shows as a timeout.
func client(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
}

func get(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// rawConn is one kept-open connection through the proxy, for faults that
// act on connections already open.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, p *Proxy) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, r: bufio.NewReader(c)}
}

// roundTrip sends one keep-alive GET on the raw connection and reads the
// answer within d.
func (c *rawConn) roundTrip(d time.Duration) (*http.Response, error) {
	c.SetDeadline(time.Now().Add(d))
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return nil, err
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestPassForwardsAndCounts(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts []Option
	}{{"tcp", nil}, {"http", []Option{HTTP()}}} {
		t.Run(mode.name, func(t *testing.T) {
			b := newBackend(t, 100<<10)
			p := newProxy(t, b.addr(), mode.opts...)
			for i := 0; i < 3; i++ {
				code, body, err := get(client(5*time.Second), p.URL("http"))
				if err != nil || code != 200 || len(body) != 100<<10 {
					t.Fatalf("GET %d: %d, %d bytes, %v", i, code, len(body), err)
				}
			}
			st := p.Stats()
			if st.Connections != 3 || b.hits.Load() != 3 {
				t.Fatalf("stats %+v, backend hits %d, want 3 connections and 3 hits", st, b.hits.Load())
			}
			if mode.name == "http" && st.Requests != 3 {
				t.Fatalf("requests %d, want 3", st.Requests)
			}
		})
	}
}

func TestDelayPerConnectionAndPerChunk(t *testing.T) {
	b := newBackend(t, 10)
	p := newProxy(t, b.addr())
	p.Delay(400*time.Millisecond, 0)
	start := time.Now()
	if _, _, err := get(client(5*time.Second), p.URL("http")); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 400*time.Millisecond {
		t.Fatalf("per-connection delay: the request took %s, want at least 400ms", el)
	}
	// Per chunk: the request is at least one chunk in, the answer at
	// least one chunk out.
	p.Delay(0, 250*time.Millisecond)
	start = time.Now()
	if _, _, err := get(client(5*time.Second), p.URL("http")); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 500*time.Millisecond {
		t.Fatalf("per-chunk delay: the request took %s, want at least 500ms", el)
	}
	p.Pass()
	start = time.Now()
	if _, _, err := get(client(5*time.Second), p.URL("http")); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 250*time.Millisecond {
		t.Fatalf("after Pass the request took %s", el)
	}
}

func TestResetOpenAndNewConnections(t *testing.T) {
	b := newBackend(t, 10)
	p := newProxy(t, b.addr())
	rc := dialRaw(t, p)
	if _, err := rc.roundTrip(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	p.Reset()
	if _, err := rc.roundTrip(5 * time.Second); !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("open connection after Reset: %v, want a reset", err)
	}
	_, _, err := get(client(5*time.Second), p.URL("http"))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("new connection during Reset: %v, want connection reset by peer", err)
	}
	if p.Stats().Resets < 2 {
		t.Fatalf("resets %d, want the open and the new connection", p.Stats().Resets)
	}
	p.Pass()
	if code, _, err := get(client(5*time.Second), p.URL("http")); err != nil || code != 200 {
		t.Fatalf("after Pass: %d %v", code, err)
	}
}

func TestBlackholeHoldsAndKills(t *testing.T) {
	b := newBackend(t, 10)
	p := newProxy(t, b.addr())
	rc := dialRaw(t, p)
	idle := dialRaw(t, p)
	if _, err := rc.roundTrip(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	hits := b.hits.Load()
	p.Blackhole()
	if _, err := rc.roundTrip(300 * time.Millisecond); !isTimeout(err) {
		t.Fatalf("open connection in a blackhole: %v, want a timeout", err)
	}
	if _, _, err := get(client(300*time.Millisecond), p.URL("http")); !isTimeout(err) {
		t.Fatalf("new connection in a blackhole: %v, want a timeout", err)
	}
	if b.hits.Load() != hits {
		t.Fatal("a request passed the blackhole")
	}
	p.Pass()
	// The connection that lost bytes stays dead; an idle one and new ones
	// work.
	if _, err := rc.roundTrip(300 * time.Millisecond); !isTimeout(err) {
		t.Fatalf("connection killed by the blackhole: %v, want it to stay dead", err)
	}
	if resp, err := idle.roundTrip(5 * time.Second); err != nil || resp.StatusCode != 200 {
		t.Fatalf("idle connection after the blackhole: %v", err)
	}
	if code, _, err := get(client(5*time.Second), p.URL("http")); err != nil || code != 200 {
		t.Fatalf("new connection after the blackhole: %d %v", code, err)
	}
}

func TestSlowBody(t *testing.T) {
	b := newBackend(t, 2000)
	p := newProxy(t, b.addr())
	p.SlowBody(200, 50*time.Millisecond)
	start := time.Now()
	code, body, err := get(client(10*time.Second), p.URL("http"))
	if err != nil || code != 200 || body != strings.Repeat("x", 2000) {
		t.Fatalf("slow body: %d, %d bytes, %v", code, len(body), err)
	}
	// Headers and body are more than ten chunks: at least ten pauses.
	if el := time.Since(start); el < 500*time.Millisecond {
		t.Fatalf("the answer took %s, want at least 500ms", el)
	}
	// A client with a shorter deadline gives up in the middle of the body.
	p.SlowBody(10, 100*time.Millisecond)
	if _, _, err := get(client(500*time.Millisecond), p.URL("http")); !isTimeout(err) {
		t.Fatalf("slow body past the client's timeout: %v, want a timeout", err)
	}
}

func TestFailNext(t *testing.T) {
	b := newBackend(t, 10)
	p := newProxy(t, b.addr(), HTTP())
	if err := p.FailNext(2, http.StatusServiceUnavailable); err != nil {
		t.Fatal(err)
	}
	// Keep-alive on: the failures must not cost the connection.
	c := &http.Client{Timeout: 5 * time.Second}
	var codes []int
	for i := 0; i < 3; i++ {
		code, _, err := get(c, p.URL("http"))
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, code)
	}
	if fmt.Sprint(codes) != "[503 503 200]" || b.hits.Load() != 1 {
		t.Fatalf("codes %v, backend hits %d, want [503 503 200] and one hit", codes, b.hits.Load())
	}
	st := p.Stats()
	if st.Requests != 3 || st.Failed != 2 || st.Connections != 1 || p.FailPending() != 0 {
		t.Fatalf("stats %+v pending %d", st, p.FailPending())
	}
	if host := <-b.hosts; host != p.Addr() {
		t.Fatalf("backend saw Host %q, want the proxy's %q", host, p.Addr())
	}
	tcp := newProxy(t, b.addr())
	if err := tcp.FailNext(1, 500); !errors.Is(err, ErrNotHTTP) {
		t.Fatalf("FailNext in TCP mode: %v", err)
	}
}

// Close ends held, slow and open connections and leaves no goroutine.
func TestCloseReleasesEverything(t *testing.T) {
	b := newBackend(t, 1000)
	before := runtime.NumGoroutine()
	for _, opts := range [][]Option{nil, {HTTP()}} {
		p, err := New(b.addr(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		open := dialRaw(t, p)
		if _, err := open.roundTrip(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		p.Blackhole()
		held := make(chan error, 2)
		go func() { _, _, err := get(client(0), p.URL("http")); held <- err }()
		go func() { _, err := open.roundTrip(time.Minute); held <- err }()
		time.Sleep(200 * time.Millisecond)
		start := time.Now()
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			if err := <-held; err == nil {
				t.Fatal("a held request succeeded")
			}
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Fatalf("Close took %s", el)
		}
		open.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
}
