package scripttest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// cmdAuditHas: audit-has FILE EVENT [COND...] checks an audit trail (one
// JSON object per line). Every line must be an object with a time in RFC
// 3339, an event, a host and a pid; then some line of kind EVENT must meet
// every COND:
//
//	FIELD=VALUE    the field equals VALUE
//	FIELD~REGEXP   the field matches REGEXP
//	FIELD          the field is present and not empty
//
// FIELD may be nested (tags.team). A string field is compared as is, any
// other as compact JSON (names=["A","B"], code=0, renewable=true). With
// !, no line of kind EVENT may meet them all.
func cmdAuditHas(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: audit-has FILE EVENT [FIELD=VALUE|FIELD~REGEXP|FIELD]...")
	}
	lines := auditLines(ts, args[0])
	conds := args[2:]
	matched := 0
	var kind []string // lines of the kind, shown on failure (the test's own throwaway values)
	for _, l := range lines {
		if l["event"] != args[1] {
			continue
		}
		if len(kind) < 5 {
			b, _ := json.Marshal(l)
			kind = append(kind, string(b))
		}
		if auditMatch(ts, l, conds) {
			matched++
		}
	}
	switch {
	case neg && matched > 0:
		ts.Fatalf("%s: %d %s line(s) match %q", args[0], matched, args[1], conds)
	case !neg && matched == 0:
		ts.Fatalf("%s: no %s line matches %q; %s lines:\n%s", args[0], args[1], conds, args[1], strings.Join(kind, "\n"))
	}
}

// auditLines parses the file and checks the fields every line carries.
func auditLines(ts *testscript.TestScript, file string) []map[string]any {
	b, err := os.ReadFile(ts.MkAbs(file))
	ts.Check(err)
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var l map[string]any
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			ts.Fatalf("%s:%d is not one JSON object: %v", file, n, err)
		}
		t, _ := l["time"].(string)
		if _, err := time.Parse(time.RFC3339Nano, t); err != nil || !strings.HasSuffix(t, "Z") {
			ts.Fatalf("%s:%d: time %q is not RFC 3339 in UTC", file, n, t)
		}
		for _, f := range []string{"event", "host", "pid"} {
			if v, ok := l[f]; !ok || v == "" {
				ts.Fatalf("%s:%d: no %s", file, n, f)
			}
		}
		out = append(out, l)
	}
	ts.Check(sc.Err())
	return out
}

func auditMatch(ts *testscript.TestScript, l map[string]any, conds []string) bool {
	for _, c := range conds {
		i := strings.IndexAny(c, "=~")
		field := c
		if i >= 0 {
			field = c[:i]
		}
		v, ok := auditField(l, field)
		switch {
		case !ok:
			return false
		case i < 0:
			if v == "" || v == "[]" || v == "{}" || v == "null" {
				return false
			}
		case c[i] == '=':
			if v != c[i+1:] {
				return false
			}
		default:
			re, err := regexp.Compile(c[i+1:])
			ts.Check(err)
			if !re.MatchString(v) {
				return false
			}
		}
	}
	return true
}

// auditField returns a (nested) field as text: a string as is, anything
// else as compact JSON.
func auditField(l map[string]any, path string) (string, bool) {
	var cur any = l
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		if cur, ok = m[part]; !ok {
			return "", false
		}
	}
	if s, ok := cur.(string); ok {
		return s, true
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(cur); err != nil {
		return fmt.Sprint(cur), true
	}
	return strings.TrimSuffix(b.String(), "\n"), true
}

// cmdVaultUnseal: vault-unseal unseals the script's dev Vault with the
// key its banner printed.
func cmdVaultUnseal(ts *testscript.TestScript, neg bool, args []string) {
	v := lookup(ts)
	re := regexp.MustCompile(`Unseal Key: (\S+)`)
	b, err := os.ReadFile(v.s.LogPath)
	ts.Check(err)
	m := re.FindSubmatch(b)
	if m == nil {
		ts.Fatalf("vault-unseal: no unseal key in the dev server's log")
	}
	st, err := root(ts).Sys().Unseal(string(m[1]))
	ts.Check(err)
	if st.Sealed {
		ts.Fatalf("vault-unseal: still sealed")
	}
}

// cmdLeaseSecrets: lease-secrets PREFIX registers the ID of every lease
// under PREFIX as a credential, so the leak check looks for lease IDs too.
// It fails if there is none: the check would be empty.
func cmdLeaseSecrets(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || !strings.HasSuffix(args[0], "/") {
		ts.Fatalf("usage: lease-secrets PREFIX/")
	}
	sec, err := root(ts).Logical().List("sys/leases/lookup/" + args[0])
	ts.Check(err)
	var keys []any
	if sec != nil {
		keys, _ = sec.Data["keys"].([]any)
	}
	if len(keys) == 0 {
		ts.Fatalf("lease-secrets: no lease under %s", args[0])
	}
	for _, k := range keys {
		AddCredential(ts.Getenv("WORK"), args[0]+fmt.Sprint(k))
	}
}
