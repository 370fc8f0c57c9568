package faultproxy

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

// httpFront is the HTTP mode: an http.Server on the fault-wrapped
// connections and a reverse proxy to the target.
type httpFront struct {
	srv   *http.Server
	conns chan net.Conn
	rp    *httputil.ReverseProxy
	tr    *http.Transport
	stop  chan struct{}
	once  sync.Once
}

func (h *httpFront) start(p *Proxy) {
	h.conns = make(chan net.Conn)
	h.stop = make(chan struct{})
	target := &url.URL{Scheme: "http", Host: p.target}
	h.tr = &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}
	h.rp = &httputil.ReverseProxy{
		// Director, not Rewrite: the client's Host header is kept, so a
		// request signed for the proxy's address is still valid.
		Director: func(r *http.Request) {
			r.URL.Scheme, r.URL.Host = target.Scheme, target.Host
		},
		Transport:     h.tr,
		FlushInterval: -1,
		// The target down or a client gone: answer 502 (when the
		// client is still there) without logging to the test's output.
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	h.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.requests.Add(1)
			if p.failNext.Add(-1) >= 0 {
				p.failed.Add(1)
				status := int(p.failStatus.Load())
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				fmt.Fprintf(w, "{\"errors\":[\"faultproxy: injected %d\"]}\n", status)
				return
			}
			h.rp.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: time.Minute,
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		_ = h.srv.Serve(&chanListener{conns: h.conns, stop: h.stop, addr: p.ln.Addr()})
	}()
}

// serve hands c to the http.Server, which closes it when done.
func (h *httpFront) serve(c *conn) {
	select {
	case h.conns <- c:
		// The server owns c now; wait so that Close can wait for it.
		c.waitClosed()
	case <-h.stop:
		c.Close()
	}
}

func (h *httpFront) close() {
	h.once.Do(func() {
		close(h.stop)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = h.srv.Shutdown(ctx)
		_ = h.srv.Close()
		h.tr.CloseIdleConnections()
	})
}

// chanListener is a net.Listener fed by the proxy's accept loop.
type chanListener struct {
	conns chan net.Conn
	stop  chan struct{}
	addr  net.Addr
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.stop:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error   { return nil }
func (l *chanListener) Addr() net.Addr { return l.addr }
