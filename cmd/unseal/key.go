package main

import (
	"context"
	"fmt"
	"time"

	"github.com/keyturn/keyturn/internal/cli"
	"github.com/keyturn/keyturn/internal/unseal"
)

func checkFormat(f string) error {
	if f != "text" && f != "json" {
		return cli.Usagef("-format must be text or json, not %q", f)
	}
	return nil
}

func cmdKey(ctx context.Context, e *env, args []string) error {
	var c common
	var d decryptFlags
	fs := newFlags("key", &c, true)
	d.register(fs)
	keyFile := fs.String("key-file", "", "")
	wait := fs.Duration("wait", 2*time.Minute, "")
	format := fs.String("format", "text", "")
	if err := c.parse(e, fs, args, 0); err != nil {
		return err
	}
	if *keyFile == "" {
		return cli.Usagef("key needs -key-file FILE (the encrypted share init wrote for you)")
	}
	if err := checkFormat(*format); err != nil {
		return err
	}
	if *wait < 0 {
		return cli.Usagef("-wait cannot be negative")
	}
	nodes, err := c.nodeList(e)
	if err != nil {
		return err
	}
	dec, err := d.decrypter(e)
	if err != nil {
		return err
	}
	defer dec.Close()
	share, err := dec.DecryptShare(ctx, *keyFile)
	if err != nil {
		return err
	}
	defer share.Wipe()
	c.log.Info("share decrypted; submitting", "nodes", len(nodes))

	results := unseal.Turn(ctx, nodes, share, unseal.TurnOptions{
		Wait:   *wait,
		Logger: c.log,
		Event: func(addr, msg string) {
			fmt.Fprintf(e.stderr, "unseal: %s: %s\n", addr, msg)
		},
	})
	share.Wipe()
	if *format == "json" {
		out := make([]turnJSON, len(results))
		for i, r := range results {
			out[i] = turnJSON{NodeResult: r, Result: result(r)}
			if r.Err != nil {
				out[i].Error = r.Err.Error()
			}
		}
		if err := printJSON(e.stdout, out); err != nil {
			return err
		}
	} else {
		printTurn(e.stdout, results)
	}
	return turnError(results)
}

// turnError summarises the nodes that could not take the share.
func turnError(rs []unseal.NodeResult) error {
	f := &turnFailure{total: len(rs)}
	for _, r := range rs {
		switch r.Outcome {
		case unseal.Rejected:
			f.rejected++
		case unseal.Unreachable:
			f.unreachable++
		case unseal.NotJoined:
			f.notJoined++
		case unseal.Failed:
			f.failed++
		}
	}
	if f.rejected+f.unreachable+f.notJoined+f.failed == 0 {
		return nil
	}
	return f
}

func cmdStatus(ctx context.Context, e *env, args []string) error {
	var c common
	fs := newFlags("status", &c, true)
	format := fs.String("format", "text", "")
	if err := c.parse(e, fs, args, 0); err != nil {
		return err
	}
	if err := checkFormat(*format); err != nil {
		return err
	}
	nodes, err := c.nodeList(e)
	if err != nil {
		return err
	}
	sts := unseal.StatusAll(ctx, nodes)
	if *format == "json" {
		if err := printJSON(e.stdout, sts); err != nil {
			return err
		}
	} else {
		printStatus(e.stdout, sts)
	}
	var down, sealed int
	for _, st := range sts {
		switch {
		case !st.Reachable:
			down++
		case st.Sealed:
			sealed++
		}
	}
	if down+sealed == 0 {
		return nil
	}
	return &statusFailure{total: len(sts), down: down, sealed: sealed}
}
