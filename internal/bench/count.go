package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// requests is what the case's servers saw during one start: Vault's audit
// log, or the S3 requests through the counting proxy and the KMS server's
// own per-operation counters.
type requests struct {
	labels []string // in arrival order per server: Vault, or S3 then KMS
}

func (r requests) total() int { return len(r.labels) }

func (r requests) count(label string) int {
	n := 0
	for _, l := range r.labels {
		if l == label {
			n++
		}
	}
	return n
}

// summary lists the requests with runs of the same one collapsed:
// "login, mount lookup, kv read ×20, revoke-self". Where that is still
// long (requests one after the other, each with its own lookup), it
// counts each kind instead, in order of first appearance.
func (r requests) summary() string {
	var parts []string
	for i := 0; i < len(r.labels); {
		j := i
		for j < len(r.labels) && r.labels[j] == r.labels[i] {
			j++
		}
		parts = append(parts, times(r.labels[i], j-i))
		i = j
	}
	if len(parts) <= 8 {
		return strings.Join(parts, ", ")
	}
	var order []string
	n := map[string]int{}
	for _, l := range r.labels {
		if n[l] == 0 {
			order = append(order, l)
		}
		n[l]++
	}
	parts = parts[:0]
	for _, l := range order {
		parts = append(parts, times(l, n[l]))
	}
	return "in all " + strings.Join(parts, ", ")
}

func times(label string, n int) string {
	if n > 1 {
		return fmt.Sprintf("%s ×%d", label, n)
	}
	return label
}

// counts[case id][contender name]
type counts map[string]map[string]requests

// countRequests runs one start of every runnable contender of every
// counted case while the servers count, and returns what they saw.
func countRequests(cases []*benchCase, v *vaultLab, l *s3Lab) (counts, error) {
	if v != nil {
		if err := v.auditOn(); err != nil {
			return nil, fmt.Errorf("enable the audit device: %w", err)
		}
		defer v.auditOff()
	}
	if l != nil {
		l.endpoint = l.proxyURL
		defer func() { l.endpoint = l.minioURL }()
	}
	out := counts{}
	for _, c := range cases {
		if c.backend == "" {
			continue
		}
		out[c.id] = map[string]requests{}
		for _, ct := range c.contenders {
			if ct.na != "" {
				continue
			}
			cmd, err := ct.prepare()
			if err != nil {
				return nil, fmt.Errorf("%s, %s: %w", c.id, ct.name, err)
			}
			var off int64
			if c.backend == "vault" {
				if off, err = v.auditOffset(); err != nil {
					return nil, err
				}
			}
			if c.backend == "s3" {
				l.proxyCount.take()
				l.kms.ResetCalls()
			}
			if _, err := timed(cmd); err != nil {
				return nil, fmt.Errorf("%s, %s: %w", c.id, ct.name, err)
			}
			var r requests
			if c.backend == "vault" {
				// Vault writes the response entry before it answers, but
				// an agent may still be revoking in the background.
				time.Sleep(50 * time.Millisecond)
				labels, err := v.auditSince(off)
				if err != nil {
					return nil, err
				}
				r.labels = append(r.labels, labels...)
			}
			if c.backend == "s3" {
				r.labels = append(r.labels, l.proxyCount.take()...)
				calls := l.kms.AllCalls()
				ops := make([]string, 0, len(calls))
				for op := range calls {
					ops = append(ops, op)
				}
				sort.Strings(ops)
				for _, op := range ops {
					for range calls[op] {
						r.labels = append(r.labels, "kms:"+op)
					}
				}
			}
			out[c.id][ct.name] = r
		}
	}
	return out, nil
}
