package faultproxy

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// conn is the client's side of one proxied connection; every fault is
// applied in its Read (client to server) and Write (server to client).
type conn struct {
	net.Conn
	p      *Proxy
	closed chan struct{}
	once   sync.Once
	// dead is set once a blackhole swallowed bytes of this connection:
	// nothing passes any more, in either direction.
	dead atomic.Bool
}

func (c *conn) Read(b []byte) (int, error) {
	if c.dead.Load() {
		return 0, c.drain()
	}
	n, err := c.Conn.Read(b)
	if n == 0 {
		return n, err
	}
	f, _ := c.p.current()
	switch f.kind {
	case KindBlackhole:
		c.kill()
		return 0, c.drain()
	case KindReset:
		// Reset closed the connections open when it was set; a read that
		// raced with it must not pass bytes either.
		c.reset()
		return 0, net.ErrClosed
	case KindDelay:
		if f.perChunk > 0 && !c.sleep(f.perChunk) {
			return 0, net.ErrClosed
		}
	}
	return n, err
}

func (c *conn) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		if c.dead.Load() {
			c.waitClosed()
			return written, net.ErrClosed
		}
		f, _ := c.p.current()
		n := len(b)
		switch f.kind {
		case KindBlackhole:
			c.kill()
			continue
		case KindReset:
			c.reset()
			return written, net.ErrClosed
		case KindDelay:
			if f.perChunk > 0 && !c.sleep(f.perChunk) {
				return written, net.ErrClosed
			}
		case KindSlowBody:
			n = min(n, f.chunk)
		}
		m, err := c.Conn.Write(b[:n])
		written += m
		if err != nil {
			return written, err
		}
		b = b[n:]
		if f.kind == KindSlowBody && len(b) > 0 && !c.sleep(f.interval) {
			return written, net.ErrClosed
		}
	}
	return written, nil
}

// Close closes the connection once and forgets it.
func (c *conn) Close() error {
	var err error
	c.once.Do(func() {
		err = c.Conn.Close()
		close(c.closed)
		c.p.untrack(c)
	})
	return err
}

// reset closes the connection with a RST instead of a FIN.
func (c *conn) reset() {
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	select {
	case <-c.closed:
		return
	default:
	}
	c.p.resets.Add(1)
	c.Close()
}

func (c *conn) kill() { c.dead.Store(true) }

// drain swallows whatever the client still sends on a dead connection
// until it gives up and closes it (or the proxy closes), then closes it.
func (c *conn) drain() error {
	buf := make([]byte, 4096)
	for {
		if _, err := c.Conn.Read(buf); err != nil {
			break
		}
	}
	c.Close()
	return net.ErrClosed
}

func (c *conn) waitClosed() { <-c.closed }

// sleep waits d, or less if the connection closes (false then).
func (c *conn) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.closed:
		return false
	}
}

func (c *conn) closeWrite() {
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}
