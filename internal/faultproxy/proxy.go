// Package faultproxy is a test harness: a TCP proxy on loopback that sits
// between a client under test (prestart) and a real server (Vault, MinIO,
// the KMS stand-in) and breaks the connection on demand, at run time:
// added latency, connection resets, a blackhole, a slow body, and, in HTTP
// mode, bursts of 5xx answers.
//
// Faults act on the client's side of the proxy, on every connection, the
// ones already open included:
//
//   - Pass forwards everything.
//   - Delay holds each connection for a while before it is served, and/or
//     each chunk of bytes in either direction.
//   - Reset closes every open connection with a TCP RST (SO_LINGER 0) and
//     resets every new one as soon as it is accepted: the client sees
//     "connection reset by peer" at once.
//   - Blackhole stops all traffic without closing anything: bytes the
//     client sends are dropped, nothing comes back, and new connections are
//     accepted (the kernel completes the handshake anyway) and then held.
//     A connection that lost bytes in a blackhole stays dead after the
//     fault ends, as one whose state a middlebox dropped: the client must
//     time out and open a new one. Idle connections are not touched.
//   - SlowBody trickles server-to-client bytes a few at a time.
//   - FailNext (HTTP mode only) answers the next N requests itself with a
//     status such as 503 and forwards nothing; it combines with the other
//     faults.
//
// In TCP mode the proxy forwards bytes and sees nothing of the protocol, so
// it works in front of TLS servers (a Vault raft cluster). In HTTP mode an
// http.Server reads the requests from the same fault-wrapped connections and
// an httputil.ReverseProxy forwards them over plain HTTP; the Host header is
// passed through unchanged, so AWS SigV4 signatures made for the proxy's
// address stay valid.
//
// Nothing in keyturn's binaries imports this package.
package faultproxy

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNotHTTP is returned by FailNext on a proxy in TCP mode, which cannot
// tell one request from the next.
var ErrNotHTTP = errors.New("faultproxy: 5xx answers need a proxy in HTTP mode")

// Kind names a fault.
type Kind int

const (
	KindPass Kind = iota
	KindDelay
	KindReset
	KindBlackhole
	KindSlowBody
)

func (k Kind) String() string {
	switch k {
	case KindPass:
		return "pass"
	case KindDelay:
		return "delay"
	case KindReset:
		return "reset"
	case KindBlackhole:
		return "blackhole"
	case KindSlowBody:
		return "slow-body"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// fault is the current fault; it is replaced as a whole, never changed.
type fault struct {
	kind       Kind
	perConn    time.Duration // KindDelay: before a connection is served
	perChunk   time.Duration // KindDelay: before each chunk, either way
	chunk      int           // KindSlowBody: bytes per write
	interval   time.Duration // KindSlowBody: pause between writes
	generation uint64
}

// Stats counts what the proxy saw.
type Stats struct {
	// Connections accepted, and how many of them are open now.
	Connections, Open int64
	// Resets is the number of connections closed with a RST.
	Resets int64
	// Requests is the number of HTTP requests read (HTTP mode), Failed
	// how many of them FailNext answered.
	Requests, Failed int64
}

// Proxy forwards connections from Addr to a target address.
type Proxy struct {
	target string
	ln     net.Listener
	http   *httpFront // nil in TCP mode

	mu      sync.Mutex
	f       fault
	changed chan struct{} // closed and replaced on every change of f
	conns   map[*conn]struct{}
	closed  bool

	failNext   atomic.Int64
	failStatus atomic.Int64

	connections, resets, requests, failed atomic.Int64

	wg   sync.WaitGroup
	done chan struct{}
}

// Option changes how New sets up a proxy.
type Option func(*Proxy)

// HTTP makes the proxy read HTTP/1.1 requests and forward them with a
// reverse proxy to http://target, which FailNext needs. Without it the
// proxy forwards bytes.
func HTTP() Option { return func(p *Proxy) { p.http = &httpFront{} } }

// New starts a proxy on 127.0.0.1 with a random port in front of target
// (host:port). It passes everything until a fault is set.
func New(target string, opts ...Option) (*Proxy, error) {
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("faultproxy: target %q: %w", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p := &Proxy{target: target, ln: ln, changed: make(chan struct{}),
		conns: map[*conn]struct{}{}, done: make(chan struct{})}
	for _, o := range opts {
		o(p)
	}
	if p.http != nil {
		p.http.start(p)
	}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is the proxy's address as an http:// or https:// URL, for a target
// that speaks that scheme.
func (p *Proxy) URL(scheme string) string { return scheme + "://" + p.Addr() }

// Target is the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// Stats returns the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	open := int64(len(p.conns))
	p.mu.Unlock()
	return Stats{Connections: p.connections.Load(), Open: open, Resets: p.resets.Load(),
		Requests: p.requests.Load(), Failed: p.failed.Load()}
}

// Fault returns the kind of the current fault.
func (p *Proxy) Fault() Kind {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.f.kind
}

// Pass ends any fault: bytes flow again (not on connections a blackhole
// killed).
func (p *Proxy) Pass() { p.set(fault{kind: KindPass}) }

// Delay holds every connection perConn before it is served and every chunk
// of bytes, in either direction, perChunk. Either may be 0.
func (p *Proxy) Delay(perConn, perChunk time.Duration) {
	p.set(fault{kind: KindDelay, perConn: perConn, perChunk: perChunk})
}

// Reset closes every open connection with a RST and resets every new one.
func (p *Proxy) Reset() {
	p.set(fault{kind: KindReset})
	p.mu.Lock()
	open := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		open = append(open, c)
	}
	p.mu.Unlock()
	for _, c := range open {
		c.reset()
	}
}

// Blackhole stops all traffic and holds every connection open.
func (p *Proxy) Blackhole() { p.set(fault{kind: KindBlackhole}) }

// SlowBody writes server-to-client bytes chunk at a time, every interval.
func (p *Proxy) SlowBody(chunk int, interval time.Duration) {
	if chunk < 1 {
		chunk = 1
	}
	p.set(fault{kind: KindSlowBody, chunk: chunk, interval: interval})
}

// FailNext answers the next n HTTP requests with status (500, 503 ...) and
// a Vault-style JSON error body, without forwarding them.
func (p *Proxy) FailNext(n int, status int) error {
	if p.http == nil {
		return ErrNotHTTP
	}
	p.failStatus.Store(int64(status))
	p.failNext.Store(int64(n))
	return nil
}

// FailPending is how many of FailNext's answers are still to come.
func (p *Proxy) FailPending() int { return int(max(p.failNext.Load(), 0)) }

func (p *Proxy) set(f fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f.generation = p.f.generation + 1
	p.f = f
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Proxy) current() (fault, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.f, p.changed
}

// Close stops accepting, closes every connection and waits for the
// proxy's goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	open := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		open = append(open, c)
	}
	p.mu.Unlock()
	close(p.done)
	err := p.ln.Close()
	for _, c := range open {
		c.Close()
	}
	if p.http != nil {
		p.http.close()
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		nc, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Too many open files and the like: back off, do not spin.
			select {
			case <-p.done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		p.connections.Add(1)
		c := &conn{Conn: nc, p: p, closed: make(chan struct{})}
		if !p.track(c) {
			nc.Close()
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(c)
		}()
	}
}

func (p *Proxy) track(c *conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c *conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// serve applies the faults that act on a new connection, then forwards it.
func (p *Proxy) serve(c *conn) {
	f, _ := p.current()
	switch f.kind {
	case KindReset:
		c.reset()
		return
	case KindBlackhole:
		c.kill()
		c.drain()
		return
	case KindDelay:
		if f.perConn > 0 && !c.sleep(f.perConn) {
			return
		}
	}
	if p.http != nil {
		p.http.serve(c)
		return
	}
	p.pipe(c)
}

// pipe copies bytes both ways between c and a new connection to the
// target until either side ends.
func (p *Proxy) pipe(c *conn) {
	defer c.Close()
	d := net.Dialer{Timeout: 10 * time.Second}
	up, err := d.Dial("tcp", p.target)
	if err != nil {
		// The client sees the target refuse, as it would without us.
		c.reset()
		return
	}
	done := make(chan struct{}, 2)
	go func() { copyAll(up, c); closeWrite(up); done <- struct{}{} }()
	go func() { copyAll(c, up); c.closeWrite(); done <- struct{}{} }()
	<-done
	// One direction ended: the other ends when its peer closes, or now if
	// the proxy or a reset closed the connection.
	select {
	case <-done:
	case <-c.closed:
		up.Close()
		<-done
	}
	up.Close()
}

func copyAll(dst, src interface {
	Read([]byte) (int, error)
	Write([]byte) (int, error)
}) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
		return
	}
	_ = c.Close()
}
