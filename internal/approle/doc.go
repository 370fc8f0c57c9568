// Package approle is keyturn's AppRole layer: it mints response-wrapped
// one-time secret IDs, logs in with them after checking that the wrapping
// token came from the role's secret-id endpoint, and lists or revokes
// secret IDs by accessor. Roles, policies and launcher permissions are
// bootstrapped from one file by package approle/bootstrap, which prestart
// does not link: it only ever logs in.
//
// Every function takes a context first and an *api.Client configured by the
// caller. Errors are typed (see errors.go) and never carry a secret ID, a
// wrapping token or a Vault token in their text.
package approle

// DefaultMount is where the AppRole auth method is mounted unless a
// bootstrap file or a -mount flag says otherwise.
const DefaultMount = "approle"
