package main

import (
	"github.com/keyturn/keyturn/source"
	"github.com/keyturn/keyturn/source/vaultsrc"
)

// readers returns the source readers by scheme. vault:// needs the session;
// the other schemes bring their own credentials.
func readers(s *session) source.Readers {
	r := source.Readers{}
	if s != nil {
		r["vault"] = vaultsrc.New(s.client)
	}
	return r
}
