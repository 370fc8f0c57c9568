package prestart

import (
	"io"
	"os"
	"sync"
	"time"
)

// stdio gives the supervised child file descriptors for IO's streams. A
// stream that is already an *os.File (the process's own, in production) is
// handed on as it is, so the child can tell a terminal; any other reader or
// writer is connected through a pipe.
type stdio struct {
	in, out, err *os.File
	closers      []io.Closer
	copies       sync.WaitGroup
}

func openStdio(s IO) (*stdio, error) {
	f := &stdio{}
	var err error
	if f.in, err = f.reader(s.Stdin); err == nil {
		if f.out, err = f.writer(s.Stdout); err == nil {
			f.err, err = f.writer(s.Stderr)
		}
	}
	if err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

func (f *stdio) reader(r io.Reader) (*os.File, error) {
	if file, ok := r.(*os.File); ok {
		return file, nil
	}
	if r == nil {
		null, err := os.Open(os.DevNull)
		f.closers = append(f.closers, null)
		return null, err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	f.closers = append(f.closers, pr)
	go func() {
		io.Copy(pw, r)
		pw.Close()
	}()
	return pr, nil
}

func (f *stdio) writer(w io.Writer) (*os.File, error) {
	if file, ok := w.(*os.File); ok {
		return file, nil
	}
	if w == nil {
		w = io.Discard
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	// Our copy of the write end is closed first, so the copy ends once
	// every child holding it has exited.
	f.closers = append([]io.Closer{pw}, f.closers...)
	f.copies.Add(1)
	go func() {
		defer f.copies.Done()
		io.Copy(w, pr)
		pr.Close()
	}()
	return pw, nil
}

// close releases the pipes and waits until what the children wrote has
// been copied out, or a moment longer if an orphan still holds a pipe.
func (f *stdio) close() {
	for _, c := range f.closers {
		c.Close()
	}
	done := make(chan struct{})
	go func() {
		f.copies.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
}
