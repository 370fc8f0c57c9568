package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keyturn/keyturn/internal/cli"
	"github.com/keyturn/keyturn/internal/envfile"
	"github.com/keyturn/keyturn/internal/envfmt"
	"github.com/keyturn/keyturn/internal/secfile"
	"github.com/keyturn/keyturn/internal/source/s3src"
)

func cmdPush(ctx context.Context, c *command, args []string) error {
	in := c.fs.String("in", "-", "")
	sse := c.fs.Bool("sse", false, "")
	if err := c.parse(args, "s3://BUCKET/KEY"); err != nil {
		return err
	}
	obj, err := c.object()
	if err != nil {
		return err
	}
	key, err := c.key()
	if err != nil {
		return err
	}
	if *in == "-" && c.stdinIsTerminal() {
		return cli.Fail(cli.ExitUsage, errors.New("push reads the env file from -in FILE or stdin, and stdin is a terminal"),
			"give -in FILE, or redirect it: s3kms push ... < prod.env")
	}
	b, err := c.readInput(*in)
	if err != nil {
		return err
	}
	vars, err := envfile.ParseLenient(b)
	clear(b)
	if err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	if len(vars) == 0 {
		return fmt.Errorf("%s holds no variables; nothing was pushed", *in)
	}
	s, err := c.store(ctx)
	if err != nil {
		return err
	}
	return c.wrote(s.Push(ctx, obj, vars, s3src.Protection{KMSKey: key, SSE: *sse}))
}

func cmdPull(ctx context.Context, c *command, args []string) error {
	ver := c.fs.String("version", "", "")
	format := c.fs.String("format", "env", "")
	out := c.fs.String("o", "-", "")
	legacy := c.fs.Bool("legacy", false, "")
	if err := c.parse(args, "s3://BUCKET/KEY"); err != nil {
		return err
	}
	f, err := envfmt.ParseFormat(*format)
	if err != nil {
		return cli.Fail(cli.ExitUsage, err)
	}
	t, err := c.target(ctx)
	if err != nil {
		return err
	}
	obj, allow, s := t.obj, t.allow, t.store
	var opts []s3src.ReadOption
	if *legacy {
		opts = append(opts, s3src.Legacy())
	}
	sec, err := s.Read(ctx, obj, *ver, allow, opts...)
	if err != nil {
		return err
	}
	c.log.Info("read", "object", obj.String(), "version", sec.VersionID, "format", string(sec.Format), "key", sec.KeyARN, "variables", len(sec.Vars))
	// Nothing is created before the data is complete: a failed render
	// leaves no file, and no half output.
	o := secfile.NewOutput(*out)
	o.Stdout = c.stdout
	defer o.Abort()
	if err := envfmt.Render(o, f, sec.Vars); err != nil {
		return err
	}
	return o.Commit()
}

func cmdSet(ctx context.Context, c *command, args []string) error {
	sse := c.fs.Bool("sse", false, "")
	if err := c.parse(args, "s3://BUCKET/KEY", "NAME"); err != nil {
		return err
	}
	name := c.args[1]
	if !envfmt.ValidName(name) {
		return cli.Usagef("%q is not a variable name ([A-Za-z_][A-Za-z0-9_]*)", name)
	}
	obj, err := c.object()
	if err != nil {
		return err
	}
	allow, err := c.allowList()
	if err != nil {
		return err
	}
	var create *s3src.Protection
	if c.kmsKey != "" {
		k, err := c.key()
		if err != nil {
			return err
		}
		create = &s3src.Protection{KMSKey: k, SSE: *sse}
	}
	v, err := c.readValue(name)
	if err != nil {
		return err
	}
	value := string(v)
	clear(v)
	if strings.IndexByte(value, 0) >= 0 {
		return errors.New("the value holds a NUL byte, which no environment variable can hold")
	}
	s, err := c.store(ctx)
	if err != nil {
		return err
	}
	return c.wrote(s.Update(ctx, obj, allow, create, func(vars map[string]string) error {
		vars[name] = value
		return nil
	}))
}

func cmdUnset(ctx context.Context, c *command, args []string) error {
	if err := c.parse(args, "s3://BUCKET/KEY", "NAME"); err != nil {
		return err
	}
	name := c.args[1]
	t, err := c.target(ctx)
	if err != nil {
		return err
	}
	obj, allow, s := t.obj, t.allow, t.store
	return c.wrote(s.Update(ctx, obj, allow, nil, func(vars map[string]string) error {
		if _, ok := vars[name]; !ok {
			return fmt.Errorf("%s is not set in %s; nothing was written", name, obj)
		}
		delete(vars, name)
		return nil
	}))
}

func cmdVersions(ctx context.Context, c *command, args []string) error {
	format := c.fs.String("format", "text", "")
	if err := c.parse(args, "s3://BUCKET/KEY"); err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return cli.Usagef("-format must be text or json, not %q", *format)
	}
	obj, err := c.object()
	if err != nil {
		return err
	}
	s, err := c.store(ctx)
	if err != nil {
		return err
	}
	vs, err := s.Versions(ctx, obj)
	if err != nil {
		return err
	}
	if *format == "json" {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(vs)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tLAST MODIFIED\tSIZE\t")
	for _, v := range vs {
		note := ""
		switch {
		case v.DeleteMarker && v.Latest:
			note = "deleted (latest)"
		case v.DeleteMarker:
			note = "deleted"
		case v.Latest:
			note = "latest"
		}
		size := fmt.Sprint(v.Size)
		if v.DeleteMarker {
			size = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s3src.PinValue(v.ID), v.LastModified.UTC().Format(time.RFC3339), size, note)
	}
	return tw.Flush()
}

func cmdDiff(ctx context.Context, c *command, args []string) error {
	from := c.fs.String("from", "", "")
	to := c.fs.String("to", "", "")
	if err := c.parse(args, "s3://BUCKET/KEY"); err != nil {
		return err
	}
	t, err := c.target(ctx)
	if err != nil {
		return err
	}
	obj, allow, s := t.obj, t.allow, t.store
	ch, err := s.Diff(ctx, obj, allow, *from, *to)
	if err != nil {
		return err
	}
	c.log.Info("compared", "object", obj.String(), "from", ch.From, "to", ch.To)
	for _, l := range []struct {
		mark  string
		names []string
	}{{"+", ch.Added}, {"-", ch.Removed}, {"~", ch.Changed}} {
		for _, n := range l.names {
			fmt.Fprintf(c.stdout, "%s %s\n", l.mark, n)
		}
	}
	return nil
}

func cmdRollback(ctx context.Context, c *command, args []string) error {
	to := c.fs.String("to", "", "")
	if err := c.parse(args, "s3://BUCKET/KEY"); err != nil {
		return err
	}
	if *to == "" {
		return cli.Usagef("rollback needs -to VERSION_ID (see s3kms versions)")
	}
	t, err := c.target(ctx)
	if err != nil {
		return err
	}
	obj, allow, s := t.obj, t.allow, t.store
	return c.wrote(s.Rollback(ctx, obj, allow, *to))
}

func cmdRotate(ctx context.Context, c *command, args []string) error {
	if err := c.parse(args, "s3://BUCKET/KEY"); err != nil {
		return err
	}
	newKey := ""
	if c.kmsKey != "" {
		var err error
		if newKey, err = c.key(); err != nil {
			return err
		}
	}
	t, err := c.target(ctx)
	if err != nil {
		return err
	}
	return c.wrote(t.store.Rotate(ctx, t.obj, t.allow, newKey))
}

func cmdPutBlob(ctx context.Context, c *command, args []string) error {
	unbound := c.fs.Bool("unbound", false, "")
	if err := c.parse(args, "s3://BUCKET/PREFIX/NAME"); err != nil {
		return err
	}
	obj, err := c.object()
	if err != nil {
		return err
	}
	key, err := c.key()
	if err != nil {
		return err
	}
	v, err := c.readValue(obj.Key)
	if err != nil {
		return err
	}
	defer clear(v)
	s, err := c.store(ctx)
	if err != nil {
		return err
	}
	return c.wrote(s.PutBlob(ctx, obj, key, v, *unbound))
}

func cmdMakeBucket(ctx context.Context, c *command, args []string) error {
	if err := c.parse(args, "s3://BUCKET"); err != nil {
		return err
	}
	bucket, err := s3src.ParseBucket(c.args[0])
	if err != nil {
		return cli.Fail(cli.ExitUsage, err)
	}
	s, err := c.store(ctx)
	if err != nil {
		return err
	}
	if err := s.MakeBucket(ctx, bucket); err != nil {
		return err
	}
	c.log.Info("bucket ready, versioning enabled", "bucket", bucket)
	return nil
}

func cmdMigrate(ctx context.Context, c *command, args []string) error {
	dryRun := c.fs.Bool("dry-run", false, "")
	if err := c.parse(args, "s3://BUCKET/KEY"); err != nil {
		return err
	}
	key, err := c.key()
	if err != nil {
		return err
	}
	t, err := c.target(ctx)
	if err != nil {
		return err
	}
	m, err := t.store.Migrate(ctx, t.obj, t.allow, key, *dryRun)
	if err != nil {
		return err
	}
	from := string(m.From)
	if m.FromKey != "" {
		from += " under " + m.FromKey
	}
	if *dryRun {
		fmt.Fprintf(c.stdout, "would migrate %s (version %s: %s, %d variables) to a keyturn envelope under %s\n",
			m.Object, s3src.PinValue(m.Version), from, m.Vars, key)
		return nil
	}
	c.log.Info("migrated", "object", m.Object.String(), "from", from, "old_version", m.Version)
	return c.wrote(m.Written, nil)
}
