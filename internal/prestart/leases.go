package prestart

import (
	"context"
	"sync"

	"github.com/keyturn/keyturn/internal/source"
)

// keepLeases wraps every reader for the attempts of one start. A read
// fails as a whole when any source is unavailable, and the retry reads
// every source again; a result that came with a lease (a database
// credential minted for this start) is then served from memory instead of
// minted once more, which would leave the earlier lease alive, unused,
// for as long as the token. Static results are read again: they cost
// nothing to mint and may have changed meanwhile.
func keepLeases(readers source.Readers) source.Readers {
	kept := &leaseMemo{got: map[string]*source.Result{}}
	out := make(source.Readers, len(readers))
	for scheme, r := range readers {
		out[scheme] = &memoReader{Reader: r, memo: kept}
	}
	return out
}

type leaseMemo struct {
	mu  sync.Mutex
	got map[string]*source.Result // by Ref.Key
}

type memoReader struct {
	source.Reader
	memo *leaseMemo
}

func (m *memoReader) Read(ctx context.Context, ref source.Ref) (*source.Result, error) {
	k := ref.Key()
	m.memo.mu.Lock()
	res := m.memo.got[k]
	m.memo.mu.Unlock()
	if res != nil {
		return res, nil
	}
	res, err := m.Reader.Read(ctx, ref)
	if err == nil && res.Lease != nil {
		m.memo.mu.Lock()
		m.memo.got[k] = res
		m.memo.mu.Unlock()
	}
	return res, err
}
