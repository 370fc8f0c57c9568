// Command tlsprobe is a test helper for the container tests (busybox has no
// TLS client): "serve" serves HTTPS with a certificate prestart wrote, "get"
// connects, verifies the server against a CA file and prints the verified
// peer's DNS names.
//
//	tlsprobe serve -cert DIR -addr :8443
//	tlsprobe get -ca FILE URL
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: tlsprobe serve|get ...")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fs.String("cert", "", "directory with cert.pem and key.pem")
	addr := fs.String("addr", ":8443", "listen address")
	ca := fs.String("ca", "", "CA certificate file")
	_ = fs.Parse(os.Args[2:])
	switch os.Args[1] {
	case "serve":
		srv := &http.Server{Addr: *addr, ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			host, _ := os.Hostname()
			fmt.Fprintf(w, "hello from %s\n", host)
		})}
		fmt.Println("tlsprobe: serving on", *addr)
		err := srv.ListenAndServeTLS(filepath.Join(*dir, "cert.pem"), filepath.Join(*dir, "key.pem"))
		fmt.Fprintln(os.Stderr, "tlsprobe:", err)
		os.Exit(1)
	case "get":
		pem, err := os.ReadFile(*ca)
		if err != nil {
			fmt.Fprintln(os.Stderr, "tlsprobe:", err)
			os.Exit(1)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			fmt.Fprintln(os.Stderr, "tlsprobe: no certificate in", *ca)
			os.Exit(1)
		}
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		resp, err := c.Get(fs.Arg(0))
		if err != nil {
			fmt.Fprintln(os.Stderr, "tlsprobe:", err)
			os.Exit(1)
		}
		defer resp.Body.Close()
		peer := resp.TLS.PeerCertificates[0]
		fmt.Printf("verified %s (DNS %s) status %d\n", peer.Subject.CommonName, strings.Join(peer.DNSNames, ","), resp.StatusCode)
	default:
		fmt.Fprintln(os.Stderr, "usage: tlsprobe serve|get ...")
		os.Exit(2)
	}
}
