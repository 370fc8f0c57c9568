package s3src

import (
	"context"
	"errors"
)

// Migration describes a conversion by Migrate.
type Migration struct {
	Object  Object
	From    Format // the form the object was in
	FromKey string // the KMS key it was under, if any
	Version string // the version that was read, kept in the history
	Vars    int
	// Written is the new envelope; nil for a dry run.
	Written *Written
}

// Migrate re-encrypts the env file in obj, in any form Read knows (S3
// Encryption Client v1 and v2, SSE-KMS, a plain file, an envelope), into a
// keyturn envelope under kmsKey, in place. The write is conditional on the
// ETag that was read, so a concurrent change is never overwritten
// (ErrConflict); in a versioned bucket the old object stays in the
// history. allow applies as for Read, except that a plain object is
// accepted without SSE-KMS: migrating it is the point. With dryRun,
// nothing is written.
func (s *Store) Migrate(ctx context.Context, obj Object, allow []string, kmsKey string, dryRun bool) (*Migration, error) {
	if kmsKey == "" {
		return nil, errors.New("no KMS key to encrypt with")
	}
	sec, err := s.Read(ctx, obj, "", allow, Legacy(), func(c *readConfig) { c.anyPlain = true })
	if err != nil {
		return nil, err
	}
	sec.raw.wipe()
	m := &Migration{Object: obj, From: sec.Format, FromKey: sec.KeyARN, Version: sec.VersionID, Vars: len(sec.Vars)}
	if dryRun {
		return m, nil
	}
	m.Written, err = s.write(ctx, obj, sec.Vars, Protection{KMSKey: kmsKey}, putParams{ifMatch: sec.ETag})
	if err != nil {
		return nil, err
	}
	return m, nil
}
