package envfmt

import (
	"encoding/json"
	"errors"
	"maps"
	"math"
	"strings"
	"testing"
)

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{
		"a":            "A",
		"db_password":  "DB_PASSWORD",
		"api-key":      "API_KEY",
		"db.url":       "DB_URL",
		"a.b":          "A_B",
		"2fa":          "_2FA",
		"9":            "_9",
		"_x":           "_X",
		"clé":          "CL_",
		"日本":           "__",
		"ıi":           "_I", // dotless i is not ASCII: no Unicode case mapping
		"with space":   "WITH_SPACE",
		"MiXeD123":     "MIXED123",
		"a=b":          "A_B",
		"\xff\xfe":     "__",
		"$(rm -rf /)":  "__RM__RF___",
		"-":            "_",
		"Already_OK_1": "ALREADY_OK_1",
	} {
		got, err := SanitizeName(in)
		if err != nil || got != want {
			t.Errorf("SanitizeName(%q) = %q, %v; want %q", in, got, err, want)
		}
		if !ValidName(got) {
			t.Errorf("SanitizeName(%q) = %q is not a valid name", in, got)
		}
	}
	if _, err := SanitizeName(""); !errors.Is(err, ErrEmptyName) {
		t.Errorf("empty name: %v", err)
	}
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"A", "_", "a", "A_1", "_9", "lower_case"} {
		if !ValidName(ok) {
			t.Errorf("ValidName(%q) = false", ok)
		}
	}
	for _, bad := range []string{"", "1A", "A-B", "A.B", "A B", "A=B", "É", "A\n", "A'"} {
		if ValidName(bad) {
			t.Errorf("ValidName(%q) = true", bad)
		}
	}
}

// decode parses JSON the way the Vault client does (numbers as json.Number).
func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestFlatten(t *testing.T) {
	data := decode(t, `{
		"user": "app",
		"password": "p'w\"d",
		"port": 5432,
		"ratio": 0.25,
		"big": 12345678901234567890,
		"exp": 1e21,
		"enabled": true,
		"off": false,
		"nothing": null,
		"db": {"host": "h", "replicas": ["r1", {"host": "r2"}], "opts": {}},
		"empty_list": [],
		"api-key": "k",
		"2fa": "x"
	}`)
	got, err := Flatten("", data)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"USER":               "app",
		"PASSWORD":           `p'w"d`,
		"PORT":               "5432",
		"RATIO":              "0.25",
		"BIG":                "12345678901234567890",
		"EXP":                "1e21",
		"ENABLED":            "true",
		"OFF":                "false",
		"NOTHING":            "",
		"DB_HOST":            "h",
		"DB_REPLICAS_0":      "r1",
		"DB_REPLICAS_1_HOST": "r2",
		"API_KEY":            "k",
		"_2FA":               "x",
	}
	if !maps.Equal(got, want) {
		t.Fatalf("Flatten:\n got %v\nwant %v", got, want)
	}

	got, err = Flatten("my.app", map[string]any{"user": "u", "n": []any{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, map[string]string{"MY_APP_USER": "u", "MY_APP_N_0": "a"}) {
		t.Fatalf("with prefix: %v", got)
	}
}

// Values decoded without UseNumber are float64; they must still print as
// JSON does, not in Go's %v notation.
func TestFlattenGoNumbers(t *testing.T) {
	got, err := Flatten("", map[string]any{
		"f": 3.0, "g": 1e21, "h": 0.1, "i": 42, "u": uint8(7), "s": float32(1.5), "neg": -2,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"F": "3", "G": "1e+21", "H": "0.1", "I": "42", "U": "7", "S": "1.5", "NEG": "-2"}
	if !maps.Equal(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
	for _, bad := range []any{math.NaN(), math.Inf(1), float32(math.Inf(-1))} {
		if _, err := Flatten("", map[string]any{"x": bad}); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestFlattenErrors(t *testing.T) {
	_, err := Flatten("", map[string]any{"a-b": "secret-one", "a_b": "secret-two"})
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Name != "A_B" || !ce.Keys || ce.First != "a-b" || ce.Second != "a_b" {
		t.Fatalf("collision: %#v", err)
	}
	if strings.Contains(err.Error(), "secret-") {
		t.Fatalf("error shows a value: %v", err)
	}
	if !strings.Contains(err.Error(), `"a-b"`) || !strings.Contains(err.Error(), "A_B") {
		t.Fatalf("error does not name the keys and variable: %v", err)
	}

	if _, err := Flatten("", map[string]any{"": "x"}); !errors.Is(err, ErrEmptyName) {
		t.Fatalf("empty key: %v", err)
	}
	// With a prefix an empty key is just the prefix plus "_".
	if got, err := Flatten("p", map[string]any{"": "x"}); err != nil || got["P_"] != "x" {
		t.Fatalf("empty key with prefix: %v %v", got, err)
	}

	_, err = Flatten("", map[string]any{"k": struct{ S string }{"hidden-value"}})
	if err == nil || strings.Contains(err.Error(), "hidden-value") {
		t.Fatalf("unsupported type: %v", err)
	}
}
