// Package audit writes prestart's audit trail: one JSON object per line for
// every access to a credential or a secret (login, read, renewal, revoke)
// and every action on the application (start, restart, signal, exit), so
// that an operator can ship the lines to a log platform and alarm on them.
//
// A line says who (host, pid, operator tags), when (RFC 3339, UTC,
// nanoseconds), what happened and to which source, path, token accessor or
// lease; it never holds a secret value, a token, a secret ID or a lease ID.
// The event types only have fields for identifiers that are safe to
// publish: token and secret ID accessors, references (locations), variable
// names, KV versions, certificate serial numbers, and for leases the path
// without its unique suffix plus a fingerprint (see LeaseFields).
//
// An Auditor is safe for concurrent use: renewals, re-reads and forwarded
// signals are audited from different goroutines, and each line reaches the
// file in one write(2), so lines never interleave, also not with other
// processes appending to the same file. There is no user-space buffer:
// once Emit returns, the line is in the kernel, so a process that execs
// next loses nothing. A nil *Auditor is a valid, disabled auditor: every
// method does nothing, so call sites need no checks.
package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"
)

// Stderr is the -audit value that means standard error. Standard output
// is not offered: it belongs to the application and to -print.
const Stderr = "-"

// Options say what every line carries besides its event.
type Options struct {
	// Tags are the operator's K=V labels (-audit-tag), on every line.
	Tags map[string]string
	// Host and PID default to os.Hostname and os.Getpid.
	Host string
	PID  int
	// Now defaults to time.Now; tests fix it.
	Now func() time.Time
}

// Auditor writes events. The zero value is not usable; a nil one is
// disabled.
type Auditor struct {
	mu      sync.Mutex
	w       io.Writer
	closer  io.Closer // nil for standard error
	head    header
	now     func() time.Time
	err     error       // the first failed write
	onError func(error) // told about every failed write, once set
	failed  int64
}

type header struct {
	Time  string            `json:"time"`
	Event string            `json:"event"`
	Host  string            `json:"host"`
	PID   int               `json:"pid"`
	Tags  map[string]string `json:"tags,omitempty"`
}

// Open returns an Auditor for path: "" means no audit trail (a nil
// Auditor), Stderr ("-") means stderr, anything else a file opened for
// appending (created 0600, as an audit trail says which secrets a
// container used). The file is appended to, not replaced by an atomic
// rename as files holding secrets are: it is a log that outlives each
// start (a restarted container, a -from-env-file job, a supervisor
// restarted by its orchestrator all add to it), and a rename would drop
// what a log shipper has not read yet. Go opens it close-on-exec, so the
// application prestart execs or supervises never inherits it.
//
// Open fails when the file cannot be opened for writing, so that a start
// whose trail cannot be written fails before it logs in.
func Open(path string, stderr io.Writer, o Options) (*Auditor, error) {
	if path == "" {
		return nil, nil
	}
	a := &Auditor{w: stderr, now: o.Now, head: header{Host: o.Host, PID: o.PID, Tags: o.Tags}}
	if path != Stderr {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("audit trail: %w", err)
		}
		a.w, a.closer = f, f
	}
	if a.head.Host == "" {
		a.head.Host, _ = os.Hostname()
	}
	if a.head.PID == 0 {
		a.head.PID = os.Getpid()
	}
	if a.now == nil {
		a.now = time.Now
	}
	return a, nil
}

// New returns an Auditor writing to w, for tests and callers that bring
// their own writer.
func New(w io.Writer, o Options) *Auditor {
	a, _ := Open(Stderr, w, o)
	return a
}

// Event is one kind of line. Its JSON fields follow the common ones.
type Event interface {
	// Name is the value of the line's "event" field.
	Name() string
}

// Emit writes one line for ev. A failed write is remembered (Err) and
// reported to the OnError function; the caller goes on.
func (a *Auditor) Emit(ev Event) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	line, err := a.line(ev)
	if err == nil {
		var n int
		n, err = a.w.Write(line)
		if err == nil && n < len(line) {
			err = io.ErrShortWrite
		}
	}
	if err != nil {
		err = fmt.Errorf("audit trail: %s event: %w", ev.Name(), err)
		a.failed++
		if a.err == nil {
			a.err = err
		}
		if a.onError != nil {
			a.onError(err)
		}
	}
}

// line renders the common fields and ev's fields as one JSON object and a
// newline.
func (a *Auditor) line(ev Event) ([]byte, error) {
	h := a.head
	h.Time = a.now().UTC().Format(time.RFC3339Nano)
	h.Event = ev.Name()
	head, err := marshal(h)
	if err != nil {
		return nil, err
	}
	body, err := marshal(ev)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(body, []byte("{")) || !bytes.HasSuffix(head, []byte("}")) {
		return nil, errors.New("an event must encode as a JSON object")
	}
	// {"time":...,"tags":{...}} + {"mode":...} -> {"time":...,"tags":{...},"mode":...}
	line := head[:len(head)-1]
	if len(body) > 2 {
		line = append(line, ',')
		line = append(line, body[1:]...)
	} else {
		line = append(line, '}')
	}
	return append(line, '\n'), nil
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	// References and paths hold & and <>: keep them readable.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Err returns the first failed write, or nil: what a caller checks before
// it hands secrets to the application, so that a start whose trail is
// incomplete does not go ahead.
func (a *Auditor) Err() error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// Failures returns how many lines could not be written.
func (a *Auditor) Failures() int64 {
	if a == nil {
		return 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.failed
}

// OnError sets a function told about every later failed write (to log it
// and count it in a metric). It is called with the Auditor's lock held and
// must not emit.
func (a *Auditor) OnError(f func(error)) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.onError = f
}

// Close closes the file; standard error stays open. Events after Close
// fail.
func (a *Auditor) Close() error {
	if a == nil || a.closer == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.closer.Close()
}

// sortedKeys is used by events that list names.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
