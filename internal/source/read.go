package source

import (
	"context"
	"fmt"
	"sync"
)

// MaxConcurrentReads bounds the reads Refresh runs at once: enough to hide
// round trips to a remote Vault or S3, few enough not to look like a burst
// to a rate limit.
const MaxConcurrentReads = 8

// Key identifies what a read of r returns: the #FIELD only picks from it,
// so refs that differ in it alone share one read.
func (r Ref) Key() string {
	return r.Scheme + "://" + r.Path + "?" + r.Query.Encode()
}

// readAll returns one result per request. Requests with the same Ref.Key
// share a read; a result from prev is kept when no request of the group
// needs a fresh one.
func readAll(ctx context.Context, readers Readers, reqs []Request, prev []Loaded, reread func(i int) bool) ([]*Result, error) {
	results := make([]*Result, len(reqs))
	type read struct {
		first   int   // the request whose Ref is read and whose error is reported
		members []int // every request served by this read
	}
	var reads []*read
	byKey := map[string]*read{}
	for i, req := range reqs {
		if _, ok := readers[req.Ref.Scheme]; !ok {
			return nil, fmt.Errorf("%s: no reader for scheme %q", req.Ref, req.Ref.Scheme)
		}
		k := req.Ref.Key()
		if rd := byKey[k]; rd != nil {
			rd.members = append(rd.members, i)
			continue
		}
		rd := &read{first: i, members: []int{i}}
		byKey[k] = rd
		reads = append(reads, rd)
	}

	// keep reports whether every request of a read may keep its previous
	// result; the first member's result is then shared.
	keep := func(rd *read) bool {
		for _, i := range rd.members {
			if i >= len(prev) || prev[i].Result == nil || prev[i].Result.Watchable || (reread != nil && reread(i)) {
				return false
			}
		}
		return true
	}

	// Each read gets its own context so that a failure cancels only the
	// reads after it in request order: their errors could not be reported
	// anyway, while an earlier read still runs to tell whether it fails too.
	ctxs := make([]context.Context, len(reads))
	cancels := make([]context.CancelFunc, len(reads))
	for j := range reads {
		ctxs[j], cancels[j] = context.WithCancel(ctx)
		defer cancels[j]()
	}
	errs := make([]error, len(reads))
	sem := make(chan struct{}, MaxConcurrentReads)
	var wg sync.WaitGroup
	for j, rd := range reads {
		if keep(rd) {
			for _, i := range rd.members {
				results[i] = prev[i].Result
			}
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ref := reqs[rd.first].Ref
			res, err := readers[ref.Scheme].Read(ctxs[j], ref)
			if err != nil {
				errs[j] = err
				for _, c := range cancels[j+1:] {
					c()
				}
				return
			}
			for _, i := range rd.members {
				results[i] = res
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return results, nil
}
