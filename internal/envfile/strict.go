package envfile

import (
	"bytes"
	"fmt"
	"io"

	"github.com/keyturn/keyturn/internal/envfmt"
)

// Parse reads the format envfmt.EnvFile writes (and the export lines
// envfmt.Shell writes) back into variables.
//
// It is a strict reader for keyturn's own format, not a general dotenv
// parser. The dotenv libraries considered (github.com/joho/godotenv v1.5.1 and
// github.com/hashicorp/go-envparse v0.1.0) both fail on the POSIX way of
// putting a quote inside single quotes (see envfmt.ShellQuote), and go-envparse
// cannot read a quoted value spanning lines, so neither reads EnvFile's output
// back exactly. The grammar accepted here is exactly the shell meaning of what
// EnvFile writes:
//
//	file    = { line }
//	line    = blank | comment | assign
//	blank   = [spaces] "\n"
//	comment = [spaces] "#" { any byte but "\n" } "\n"
//	assign  = ["export" spaces] NAME "=" value "\n"
//	value   = "'" { any byte but "'" } "'" { "\'" "'" { any byte but "'" } "'" }
//
// with NAME a shell identifier. Inside the quotes every byte is literal,
// including newlines and carriage returns. The last line may lack its "\n".
// Anything else is an error naming the line number (never the content):
// unquoted or double-quoted values, text after the closing quote (a shell
// would append it to the value), a NUL byte, a name given twice.
func Parse(r io.Reader) (map[string]string, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	defer clear(data)
	if err != nil {
		return nil, fmt.Errorf("read env file: %w", err)
	}
	if len(data) > MaxSize {
		return nil, ErrTooBig
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return nil, fmt.Errorf("env file line %d: NUL byte", 1+bytes.Count(data[:i], []byte("\n")))
	}
	p := parser{data: data, line: 1}
	out := make(map[string]string)
	for !p.eof() {
		start := p.line
		name, value, ok, err := p.statement()
		if err != nil {
			return nil, fmt.Errorf("env file line %d: %w", p.line, err)
		}
		if !ok {
			continue
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("env file line %d: variable %s is set twice", start, name)
		}
		out[name] = value
	}
	return out, nil
}

type parser struct {
	data []byte
	pos  int
	line int
}

func (p *parser) eof() bool { return p.pos >= len(p.data) }

func (p *parser) peek() byte { return p.data[p.pos] }

// statement reads one line (or one multi-line assignment). ok is false for
// blank and comment lines.
func (p *parser) statement() (name, value string, ok bool, err error) {
	p.skipSpaces()
	if p.eof() {
		return "", "", false, nil
	}
	switch p.peek() {
	case '\n':
		p.pos++
		p.line++
		return "", "", false, nil
	case '#':
		for !p.eof() && p.peek() != '\n' {
			p.pos++
		}
		if !p.eof() {
			p.pos++
			p.line++
		}
		return "", "", false, nil
	}
	name = p.word()
	if name == "export" && !p.eof() && (p.peek() == ' ' || p.peek() == '\t') {
		p.skipSpaces()
		name = p.word()
	}
	if !envfmt.ValidName(name) {
		return "", "", false, fmt.Errorf("expected a variable name")
	}
	if p.eof() || p.peek() != '=' {
		return "", "", false, fmt.Errorf("expected = after %s", name)
	}
	p.pos++
	value, err = p.quoted(name)
	if err != nil {
		return "", "", false, err
	}
	if !p.eof() {
		if p.peek() != '\n' {
			return "", "", false, fmt.Errorf("unexpected text after the closing quote of %s", name)
		}
		p.pos++
		p.line++
	}
	return name, value, true, nil
}

func (p *parser) skipSpaces() {
	for !p.eof() && (p.peek() == ' ' || p.peek() == '\t') {
		p.pos++
	}
}

// word reads the longest run of identifier characters.
func (p *parser) word() string {
	start := p.pos
	for !p.eof() {
		c := p.peek()
		if c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			p.pos++
			continue
		}
		break
	}
	return string(p.data[start:p.pos])
}

// quoted reads a single-quoted value, including the escaped quotes between
// quoted parts that ShellQuote writes.
func (p *parser) quoted(name string) (string, error) {
	var b []byte
	for {
		if p.eof() || p.peek() != '\'' {
			return "", fmt.Errorf("value of %s must be single-quoted", name)
		}
		p.pos++
		end := bytes.IndexByte(p.data[p.pos:], '\'')
		if end < 0 {
			return "", fmt.Errorf("unterminated quote in value of %s", name)
		}
		chunk := p.data[p.pos : p.pos+end]
		p.line += bytes.Count(chunk, []byte("\n"))
		b = append(b, chunk...)
		p.pos += end + 1
		// '\'' continues the value with a literal quote.
		if p.pos+1 < len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == '\'' {
			b = append(b, '\'')
			p.pos += 2
			continue
		}
		s := string(b)
		clear(b)
		return s, nil
	}
}
