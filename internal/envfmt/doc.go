// Package envfmt turns secrets into environment variables and prints them in
// the formats prestart offers (shell, env file, dotenv, JSON).
//
// # Names
//
// A secret read from Vault is a JSON-like value: map[string]any holding
// strings, numbers, booleans, null, nested maps and lists. Flatten turns it
// into variables:
//
//   - nested keys are joined with "_", list elements are named by their index:
//     {"db": {"user": "app", "hosts": ["a", "b"]}} gives DB_USER, DB_HOSTS_0 and
//     DB_HOSTS_1 (so "a.b" in dotted notation becomes A_B);
//   - an optional prefix is the first segment: prefix "app" gives APP_DB_USER;
//   - the joined name is then sanitised by SanitizeName: ASCII letters are
//     upper-cased, every other character outside [A-Z0-9_] becomes one "_"
//     (one per UTF-8 character, one per invalid byte), and a leading digit gets
//     a "_" prefix: "api-key" → API_KEY, "db.url" → DB_URL, "2fa" → _2FA,
//     "clé" → CL_;
//   - a name that comes out empty (an empty key with no prefix) is an error,
//     and so are two keys of one secret that come out the same ("a-b" and
//     "a_b"): a *ConflictError names both keys.
//
// Only ASCII letters are upper-cased, so the result does not depend on Unicode
// case tables (no "ı" → "I" surprises).
//
// # Values
//
// Strings are used as they are. Numbers and booleans become their JSON text
// (42, 4.5, 1e+21, true): json.Number keeps the exact text Vault sent. null
// becomes the empty string, so a key that exists with a null value still
// yields a variable. Nested maps and lists are flattened as above, never
// rendered as JSON; an empty map or list yields no variable. Any other Go type
// is an error.
//
// # Several sources
//
// Env collects the variables of several sources and remembers which source set
// each name; two sources setting the same name are a *ConflictError naming
// both sources and the variable, unless the later one is merged with
// override. Error messages never contain values.
//
// # Output formats
//
// Every renderer writes variables sorted by name, validates everything before
// writing anything, and refuses names that are not shell identifiers
// ([A-Za-z_][A-Za-z0-9_]*) and values holding a NUL byte (an environment
// variable cannot hold one).
//
//   - Shell: export NAME='value' in POSIX single quotes, a quote inside the
//     value written as the four characters '\' + "'" (see ShellQuote);
//     eval "$(prestart -print shell)" reproduces every value byte for byte.
//   - EnvFile: NAME='value', the same quoting without export; what
//     prestart -env-file writes, a shell can source, and envfile.Parse reads back.
//   - Dotenv: NAME="value" with \\ \" \n \r \$ escaped, as dotenv libraries
//     read double-quoted values.
//   - JSON: one object mapping names to values; values must be valid UTF-8,
//     since JSON would otherwise replace the invalid bytes.
package envfmt
