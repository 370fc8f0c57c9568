package pgp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// GPGOptions configures DecryptWithGPG. The zero value runs `gpg` from PATH
// interactively: gpg-agent asks for the passphrase through the operator's
// pinentry (or a smartcard), exactly as `gpg -d` would.
type GPGOptions struct {
	// Program is the gpg executable; empty means "gpg" looked up in PATH.
	Program string
	// Home, if set, is passed as --homedir. Otherwise gpg uses GNUPGHOME
	// from the environment, or ~/.gnupg.
	Home string
	// Batch adds --batch: gpg never prompts, so a protected key fails
	// (ErrPassphraseRequired) unless Passphrase is set or the agent has
	// the passphrase cached.
	Batch bool
	// Passphrase, if non-nil, is fed to gpg through an inherited pipe
	// (--pinentry-mode loopback --passphrase-fd), never argv or the
	// environment. gpg honours --passphrase-fd only in batch mode, so this
	// implies Batch. It must not contain a newline.
	Passphrase []byte
	// Stderr receives gpg's own messages (prompts, warnings, key info);
	// nil means os.Stderr. The plaintext never goes there.
	Stderr io.Writer
}

// Errors classifying why gpg failed; test with errors.Is on the error from
// DecryptWithGPG (a *GPGError wraps them).
var (
	ErrGPGNotFound = errors.New("gpg not found")
	ErrNoSecretKey = errors.New("no secret key for this message")
	ErrCanceled    = errors.New("passphrase entry was canceled")
	ErrPinentry    = errors.New("pinentry failed")
)

// GPGError reports a failed gpg run: its exit status, the reason read from
// gpg's machine-readable status output when there is one, and a hint.
type GPGError struct {
	ExitCode int   // -1 if gpg did not exit normally
	Reason   error // one of the Err* values of this package, or nil
	Hint     string
}

func (e *GPGError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "gpg exited with status %d", e.ExitCode)
	if e.Reason != nil {
		b.WriteString(": " + e.Reason.Error())
	}
	if e.Hint != "" {
		b.WriteString(" (" + e.Hint + ")")
	}
	return b.String()
}

func (e *GPGError) Unwrap() error { return e.Reason }

// maxStatusSize bounds how much of gpg's status output is kept; it is a few
// hundred bytes for one message.
const maxStatusSize = 64 << 10

// DecryptWithGPG decrypts a binary or armored OpenPGP message with the
// operator's gpg. The message goes to gpg on stdin and the plaintext comes
// back on a stdout pipe into memory: no temporary file, nothing on the command
// line. gpg's stderr passes through to opts.Stderr so the operator sees its
// prompts and warnings. The plaintext is returned only if gpg reports that it
// decrypted a public-key-encrypted message with its integrity intact. Wipe
// it with ZeroBytes when done.
func DecryptWithGPG(ctx context.Context, ciphertext []byte, opts GPGOptions) ([]byte, error) {
	if len(ciphertext) > MaxMessageSize {
		return nil, fmt.Errorf("decrypt with gpg: %w", ErrMessageTooLarge)
	}
	if bytes.ContainsAny(opts.Passphrase, "\r\n") {
		return nil, errors.New("decrypt with gpg: passphrase contains a line break, which gpg would cut")
	}
	program := opts.Program
	if program == "" {
		program = "gpg"
	}
	path, err := exec.LookPath(program)
	if err != nil {
		return nil, fmt.Errorf("decrypt with gpg: %w: %w (install gnupg)", ErrGPGNotFound, err)
	}

	statusR, statusW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("decrypt with gpg: %w", err)
	}
	defer statusR.Close()
	extra := []*os.File{statusW} // fd 3

	// No --quiet: it also silences the NO_SECKEY and ERROR status lines
	// that tell a missing key from a wrong passphrase. The price is gpg's
	// "encrypted with ... key, ID ..." note on stderr, which names the key
	// the operator is being asked to unlock and so is useful anyway.
	// --no-auto-key-retrieve: a signed message must not make gpg contact a
	// keyserver. --output - keeps the plaintext on our pipe whatever name
	// the literal packet suggests.
	args := []string{"--status-fd", "3", "--no-auto-key-retrieve"}
	if opts.Home != "" {
		args = append(args, "--homedir", opts.Home)
	}
	var passW *os.File
	if opts.Passphrase != nil {
		passR, w, err := os.Pipe()
		if err != nil {
			statusW.Close()
			return nil, fmt.Errorf("decrypt with gpg: %w", err)
		}
		passW = w
		extra = append(extra, passR) // fd 4
		args = append(args, "--batch", "--pinentry-mode", "loopback", "--passphrase-fd", "4")
	} else if opts.Batch {
		args = append(args, "--batch")
	}
	args = append(args, "--output", "-", "--decrypt")

	out := &boundedSink{buf: make([]byte, 0, MaxPlaintextSize+1)}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = bytes.NewReader(ciphertext)
	cmd.Stdout = out
	cmd.Stderr = opts.Stderr
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	cmd.ExtraFiles = extra
	// A process gpg starts (gpg-agent) could keep our pipes open; do not
	// wait for it forever once gpg itself has exited.
	cmd.WaitDelay = 5 * time.Second

	startErr := cmd.Start()
	// gpg holds its own copies of the child ends; ours would keep the
	// status pipe from ever reaching EOF.
	for _, f := range extra {
		f.Close()
	}
	if startErr != nil {
		if passW != nil {
			passW.Close()
		}
		return nil, fmt.Errorf("decrypt with gpg: start %s: %w", path, startErr)
	}

	if passW != nil {
		go func() {
			line := make([]byte, 0, len(opts.Passphrase)+1)
			line = append(append(line, opts.Passphrase...), '\n')
			// An error here means gpg never read it (unprotected key); the
			// outcome shows in gpg's status either way.
			_, _ = passW.Write(line)
			ZeroBytes(line)
			passW.Close()
		}()
	}
	statusDone := make(chan []byte, 1)
	go func() {
		data, _ := io.ReadAll(io.LimitReader(statusR, maxStatusSize))
		_, _ = io.Copy(io.Discard, statusR)
		statusDone <- data
	}()

	waitErr := cmd.Wait()
	var status []byte
	select {
	case status = <-statusDone:
	case <-time.After(5 * time.Second):
		statusR.Close()
		status = <-statusDone
	}
	st := parseStatus(status)

	if out.tooLarge {
		out.wipe()
		return nil, fmt.Errorf("decrypt with gpg: %w", ErrPlaintextTooLarge)
	}
	if ctx.Err() != nil {
		out.wipe()
		return nil, fmt.Errorf("decrypt with gpg: %w", ctx.Err())
	}
	if waitErr != nil {
		out.wipe()
		var exitErr *exec.ExitError
		if !errors.As(waitErr, &exitErr) {
			return nil, fmt.Errorf("decrypt with gpg: %w", waitErr)
		}
		return nil, fmt.Errorf("decrypt with gpg: %w", st.failure(exitErr.ExitCode()))
	}
	if err := st.verify(); err != nil {
		out.wipe()
		return nil, fmt.Errorf("decrypt with gpg: %w", err)
	}
	plaintext := bytes.Clone(out.buf)
	out.wipe()
	return plaintext, nil
}

// boundedSink collects gpg's stdout into one preallocated buffer. As an
// io.ReaderFrom it lets os/exec read the pipe straight into that buffer, so
// no intermediate copy buffer ever holds the plaintext.
type boundedSink struct {
	buf      []byte // cap is the limit plus one
	tooLarge bool
}

var errSinkFull = errors.New("output exceeds limit")

func (s *boundedSink) Write(p []byte) (int, error) {
	room := cap(s.buf) - len(s.buf)
	if len(p) >= room {
		s.tooLarge = true
		return 0, errSinkFull
	}
	s.buf = append(s.buf, p...)
	return len(p), nil
}

func (s *boundedSink) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		if len(s.buf) == cap(s.buf) {
			// Closing our end makes gpg fail on its next write rather than
			// block; the caller reports the overflow.
			s.tooLarge = true
			return total, errSinkFull
		}
		n, err := r.Read(s.buf[len(s.buf):cap(s.buf)])
		s.buf = s.buf[:len(s.buf)+n]
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

func (s *boundedSink) wipe() { ZeroBytes(s.buf[:cap(s.buf)]) }

// gpgStatus holds the keywords of gpg's --status-fd output that decide the
// outcome. Status lines describe the operation, never the plaintext.
type gpgStatus struct {
	keywords map[string][]string // keyword -> argument strings, one per line
}

func parseStatus(data []byte) gpgStatus {
	st := gpgStatus{keywords: map[string][]string{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "[GNUPG:] ")
		if !ok {
			continue
		}
		kw, rest, _ := strings.Cut(line, " ")
		st.keywords[kw] = append(st.keywords[kw], rest)
	}
	return st
}

func (st gpgStatus) has(kw string) bool { _, ok := st.keywords[kw]; return ok }

// verify accepts only a run in which gpg decrypted a message addressed to a
// public key and found its integrity protection intact. gpg --decrypt exits 0
// on a plain unencrypted message too, which must not pass for a share.
func (st gpgStatus) verify() error {
	switch {
	case st.has("BADMDC") || st.has("DECRYPTION_FAILED"):
		return &GPGError{ExitCode: 0, Reason: ErrDecryptionFailed, Hint: "integrity check failed; the message is damaged or was altered"}
	case !st.has("DECRYPTION_OKAY"):
		return ErrNotEncrypted
	case !st.has("ENC_TO") || st.has("NEED_PASSPHRASE_SYM"):
		return ErrNotEncrypted
	}
	return nil
}

// failure turns a nonzero exit into an error with the most specific reason
// the status output supports.
func (st gpgStatus) failure(code int) *GPGError {
	e := &GPGError{ExitCode: code}
	switch {
	case st.has("BAD_PASSPHRASE") || st.errorCode() == gpgErrBadPassphrase:
		e.Reason, e.Hint = ErrBadPassphrase, "check the passphrase of the key gpg named above"
	case st.errorCode() == gpgErrCanceled:
		e.Reason, e.Hint = ErrCanceled, "the pinentry dialog was dismissed"
	case st.has("MISSING_PASSPHRASE") || st.errorCode() == gpgErrNoPassphrase:
		e.Reason, e.Hint = ErrPassphraseRequired, "gpg ran in batch mode and could not ask for the passphrase"
	case st.errorCode() == gpgErrNoPinentry || st.errorCode() == gpgErrPinentry || st.errorCode() == gpgErrNoTTY:
		e.Reason, e.Hint = ErrPinentry, "gpg-agent could not ask for the passphrase; in a terminal, export GPG_TTY=$(tty), or supply the passphrase"
	case st.has("NO_SECKEY"):
		e.Reason = ErrNoSecretKey
		e.Hint = "the message is for key id " + strings.Join(st.firstFields("ENC_TO"), ", ") +
			"; check `gpg --list-secret-keys`, GNUPGHOME, or that the smartcard is inserted"
	case st.has("NODATA"):
		e.Reason, e.Hint = ErrNotMessage, "gpg found no openpgp data in the input"
	case st.has("DECRYPTION_FAILED") || st.has("BADMDC"):
		e.Reason, e.Hint = ErrDecryptionFailed, "the message is damaged, altered, or not for this key"
	default:
		e.Hint = "see gpg's messages above"
	}
	return e
}

// libgpg-error codes (the low 16 bits of the number in ERROR status lines).
const (
	gpgErrBadPassphrase = 11
	gpgErrNoPinentry    = 85
	gpgErrPinentry      = 86
	gpgErrCanceled      = 99
	gpgErrNoPassphrase  = 177
	gpgErrNoTTY         = 1<<15 | 102 // ENOTTY: pinentry found no terminal
)

// errorCode returns the code of the first "ERROR <location> <code>" status
// line, or -1.
func (st gpgStatus) errorCode() int {
	for _, args := range append(st.keywords["ERROR"], st.keywords["FAILURE"]...) {
		fields := strings.Fields(args)
		if len(fields) < 2 {
			continue
		}
		n, err := strconv.ParseUint(fields[1], 10, 32)
		if err == nil && n&0xffff != 0 {
			return int(n & 0xffff)
		}
	}
	return -1
}

func (st gpgStatus) firstFields(kw string) []string {
	var out []string
	for _, args := range st.keywords[kw] {
		if f := strings.Fields(args); len(f) > 0 {
			out = append(out, strings.ToLower(f[0]))
		}
	}
	return out
}
