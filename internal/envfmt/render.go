package envfmt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"
)

// Format names an output format, as given to prestart -print.
type Format string

// The formats Render knows.
const (
	FormatShell   Format = "shell"
	FormatEnvFile Format = "env"
	FormatDotenv  Format = "dotenv"
	FormatJSON    Format = "json"
)

// ParseFormat checks a format name given by a user.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatShell, FormatEnvFile, FormatDotenv, FormatJSON:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q (want shell, env, dotenv or json)", s)
}

// Render writes vars in format f.
func Render(w io.Writer, f Format, vars map[string]string) error {
	switch f {
	case FormatShell:
		return Shell(w, vars)
	case FormatEnvFile:
		return EnvFile(w, vars)
	case FormatDotenv:
		return Dotenv(w, vars)
	case FormatJSON:
		return JSON(w, vars)
	}
	return fmt.Errorf("unknown format %q", string(f))
}

// InvalidNameError reports a variable name that cannot be rendered.
type InvalidNameError struct{ Name string }

func (e *InvalidNameError) Error() string {
	return fmt.Sprintf("variable name %q is not a shell identifier", e.Name)
}

// InvalidValueError reports a value that cannot be rendered; it names the
// variable and the reason, never the value.
type InvalidValueError struct {
	Name   string
	Reason string
}

func (e *InvalidValueError) Error() string {
	return fmt.Sprintf("value of %s %s", e.Name, e.Reason)
}

// check validates every variable before anything is written, so a bad entry
// produces no partial output, and returns the names in output order.
func check(vars map[string]string, needUTF8 bool) ([]string, error) {
	names := slices.Sorted(maps.Keys(vars))
	for _, name := range names {
		if !ValidName(name) {
			return nil, &InvalidNameError{Name: name}
		}
		v := vars[name]
		if strings.IndexByte(v, 0) >= 0 {
			return nil, &InvalidValueError{Name: name, Reason: "contains a NUL byte, which an environment variable cannot hold"}
		}
		if needUTF8 && !utf8.ValidString(v) {
			return nil, &InvalidValueError{Name: name, Reason: "is not valid UTF-8"}
		}
	}
	return names, nil
}

// ShellQuote quotes s for a POSIX shell: inside single quotes every byte is
// literal except the single quote itself, which cannot appear there at all.
// Each one is therefore written as four characters, close quote, backslash,
// quote, open quote:
//
//	it's  →  'it'\''s'
//
// No other escaping is needed or done, so newlines, $, backticks and
// backslashes pass through untouched.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Shell writes one "export NAME='value'" line per variable, for
// eval "$(prestart -print shell)". A value with newlines spans several lines
// inside its quotes, which eval handles.
func Shell(w io.Writer, vars map[string]string) error {
	return writeLines(w, vars, false, func(b *bytes.Buffer, name, v string) {
		b.WriteString("export ")
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(ShellQuote(v))
		b.WriteByte('\n')
	})
}

// EnvFile writes one "NAME='value'" line per variable: the file prestart
// -env-file writes. A shell can source it (set -a; . FILE) and envfile.Parse
// reads it back exactly.
func EnvFile(w io.Writer, vars map[string]string) error {
	return writeLines(w, vars, false, func(b *bytes.Buffer, name, v string) {
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(ShellQuote(v))
		b.WriteByte('\n')
	})
}

// dotenvEscaper escapes a value for a double-quoted dotenv value: the
// backslash and the quote because they end or change the quoting, newline and
// carriage return because dotenv values are read line by line, and $ because
// dotenv parsers expand $NAME, ${NAME} and $(command) inside double quotes.
var dotenvEscaper = strings.NewReplacer(
	`\`, `\\`,
	`"`, `\"`,
	"\n", `\n`,
	"\r", `\r`,
	`$`, `\$`,
)

// Dotenv writes one NAME="value" line per variable, escaped with
// dotenvEscaper. This is the double-quoted form that dotenv parsers agree on
// (godotenv, Ruby dotenv, docker compose); tabs and other bytes are written
// as they are. The tests read it back with github.com/joho/godotenv, which
// (as of v1.5.1) misreads a value ending in a backslash or a double quote,
// whatever the escaping; EnvFile and JSON carry every value exactly.
func Dotenv(w io.Writer, vars map[string]string) error {
	return writeLines(w, vars, false, func(b *bytes.Buffer, name, v string) {
		b.WriteString(name)
		b.WriteString(`="`)
		dotenvEscaper.WriteString(b, v)
		b.WriteString("\"\n")
	})
}

// JSON writes vars as one JSON object (keys sorted) followed by a newline.
// HTML characters are not escaped: the output is data, not markup.
func JSON(w io.Writer, vars map[string]string) error {
	if _, err := check(vars, true); err != nil {
		return err
	}
	if vars == nil {
		vars = map[string]string{}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(vars); err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	defer clear(b.Bytes())
	_, err := w.Write(b.Bytes())
	return err
}

// writeLines renders every line into one buffer and writes it once, so the
// destination sees all of the output or (on a validation error) none of it.
func writeLines(w io.Writer, vars map[string]string, needUTF8 bool, line func(*bytes.Buffer, string, string)) error {
	names, err := check(vars, needUTF8)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	for _, name := range names {
		line(&b, name, vars[name])
	}
	defer clear(b.Bytes())
	_, err = w.Write(b.Bytes())
	return err
}
