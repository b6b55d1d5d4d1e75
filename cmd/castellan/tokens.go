package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/config"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/pat"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
)

const tokensUsage = `Usage: castellan tokens create LOGIN_NAME [TTL] [flags]

Issues a personal access token for the user LOGIN_NAME and prints it. It writes to the server's
database directly — for the first administrator, before any other credential exists — so it reads
the server's settings as castellan start does: run it with the same flags, CASTELLAN_ variables or
--config FILE as the server, or in the directory the server runs in (the default database is
castellan-data/castellan.db there). TTL is the token's lifetime, a duration such as 30s, 15m or
720h (default 720h, 30 days). Flags may come before or after LOGIN_NAME.

  --host HOST  domain of the instance (CASTELLAN_HOST); default first_instance.domain, the first instance's
`

// hostEnv names the instance for the CLI, as --host does.
const hostEnv = "CASTELLAN_HOST"

// tokens issues a personal access token directly in the database, for the
// first administrator to reach the API before any other credential exists.
// It reads the server's settings like `start`, and never creates a
// database: run from the wrong directory it says which database it looked
// for and how to name the right one.
func tokens(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	switch {
	case len(args) == 0:
		return errors.New("tokens: want create LOGIN_NAME [TTL]; see castellan tokens --help")
	case isHelp(args[0]) || args[0] == "help":
		fmt.Fprint(stdout, tokensUsage, "\n\"castellan tokens create --help\" also lists the server's settings.\n")
		return nil
	case args[0] != "create":
		return fmt.Errorf("tokens: unknown command %q; want create LOGIN_NAME [TTL]", args[0])
	}
	host, args, err := cutHostFlag(args[1:])
	if err != nil {
		return err
	}
	cfg, positional, err := loadConfigInterleaved(args, serverEnv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, tokensUsage, "\nServer settings (each also an environment variable; see docs/configuration.md):\n")
		config.FlagUsage(stdout)
		return err
	}
	if err != nil {
		return err
	}
	if len(positional) < 1 || len(positional) > 2 {
		return fmt.Errorf("tokens create: want LOGIN_NAME and optionally a lifetime (%s), got %s; see castellan tokens create --help", aDuration, describeArgs(positional))
	}
	loginName, ttl := positional[0], 30*24*time.Hour
	if len(positional) == 2 {
		if ttl, err = time.ParseDuration(positional[1]); err != nil || ttl <= 0 {
			return fmt.Errorf("tokens create: the lifetime %q is not %s", positional[1], aDuration)
		}
	}
	hostSource := "--host"
	if host == "" {
		host, hostSource = os.Getenv(hostEnv), hostEnv
	}
	if host == "" {
		host, hostSource = cfg.FirstInstance.Domain, "first_instance.domain"
	}

	database := cfg.RedactedDatabase()
	if path := cfg.SQLitePath(); path != "" {
		if abs, err := filepath.Abs(path); err == nil {
			database = "sqlite:" + abs
		}
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("tokens create: there is no database %s; run it with the server's settings (--data-dir, --database or --config FILE, or CASTELLAN_DATA_DIR, CASTELLAN_DATABASE, CASTELLAN_CONFIG), or in the directory the server runs in", database)
		}
	}
	a, err := app.Open(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return fmt.Errorf("tokens create: the database %s: %w", database, err)
	}
	defer a.Close()
	inst, err := instance.NewResolver(a.DB).ByHost(ctx, host)
	if failure.Is(err, failure.KindNotFound) {
		if n, cerr := instance.Count(ctx, a.DB); cerr == nil && n == 0 {
			return fmt.Errorf("tokens create: the database %s has no instance yet; castellan start creates the first one", database)
		}
		return fmt.Errorf("tokens create: no instance serves the host %q (from %s) in the database %s; name the instance's domain with --host or %s, or run with the server's settings (--external-url, --first-instance-domain or --config FILE)",
			host, hostSource, database, hostEnv)
	}
	if err != nil {
		return err
	}
	found, err := user.Find(ctx, a.DB, inst.ID, user.Search{LoginName: loginName, Limit: 1}, userschema.Admin)
	if err != nil {
		return err
	}
	if len(found.Users) == 0 {
		return fmt.Errorf("tokens create: no user with login name %q in the instance %s (host %s)", loginName, inst.Name, host)
	}
	u := found.Users[0]
	holder := eventstore.Aggregate{InstanceID: inst.ID, Type: user.AggregateType, ID: u.ID, Owner: u.OrgID}
	_, token, err := pat.NewCommands(a.Store, nil).Add(ctx, eventstore.Editor{UserID: "system", ClientID: "cli"}, holder, time.Now().Add(ttl))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, token)
	return err
}

// serverEnv is os.LookupEnv without the CLI's own CASTELLAN_HOST, which is
// no server setting.
func serverEnv(name string) (string, bool) {
	if name == hostEnv {
		return "", false
	}
	return os.LookupEnv(name)
}

// cutHostFlag removes --host HOST (or --host=HOST, with one dash or two)
// from the flags of args and returns its value.
func cutHostFlag(args []string) (host string, rest []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return host, append(rest, args[i:]...), nil
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "host" {
			rest = append(rest, a)
			continue
		}
		if !hasValue {
			if i+1 == len(args) {
				return "", nil, errors.New("--host needs a value; see castellan tokens create --help")
			}
			i++
			value = args[i]
		}
		host = value
	}
	return host, rest, nil
}

// loadConfigInterleaved is config.LoadWithArgs for a command whose flags
// may also come after its positional arguments (the flag package stops at
// the first one): it returns the settings and the positional arguments.
func loadConfigInterleaved(args []string, lookupEnv func(string) (string, bool)) (*config.Config, []string, error) {
	var flags, positional []string
	for len(args) > 0 {
		_, rest, err := config.LoadWithArgs(args, lookupEnv)
		if err != nil {
			return nil, nil, err
		}
		consumed := args[:len(args)-len(rest)]
		if n := len(consumed); n > 0 && consumed[n-1] == "--" {
			flags = append(flags, consumed[:n-1]...)
			positional = append(positional, rest...)
			break
		}
		flags = append(flags, consumed...)
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	cfg, _, err := config.LoadWithArgs(flags, lookupEnv)
	return cfg, positional, err
}
