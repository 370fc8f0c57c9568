package main

import (
	"context"
	"maps"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyturn/keyturn/internal/scripttest"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"s3kms": func() { os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

func TestScripts(t *testing.T) {
	cmds := scripttest.Commands()
	maps.Copy(cmds, scripttest.S3Commands())
	testscript.Run(t, testscript.Params{
		Dir:   "testdata",
		Cmds:  cmds,
		Setup: scripttest.StartS3,
	})
}
