// Command castellan is the Castellan identity and access management server
// and its administration commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/castellan-iam/castellan/internal/app"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

const usage = `Castellan: identity and access management.

Usage:
  castellan start [flags]                     serve (migrates and, on an empty database, creates the first instance)
  castellan migrate [flags]                   apply database migrations and exit
  castellan projections list                  list the read models
  castellan projections rebuild NAME [flags]  recompute a read model from the events
  castellan keys generate                     print a new master key for keys.master
  castellan tokens create LOGIN_NAME [TTL]    issue a personal access token in the server's database (bootstrap)
  castellan admin recover LOGIN_NAME [ORG_ID]  break glass: make LOGIN_NAME an active instance owner
                                              (created if missing) and print one-time credentials
  castellan audit verify [INSTANCE_ID]        check the event log against its hash chain and signed
                                              checkpoints; report the first broken link
  castellan audit archive [INSTANCE_ID]       move events older than audit.retention into archive files
  castellan audit verify-archive FILE         check an archive file against its chain and signatures
  castellan audit restore FILE                load an archive file back into the database

API client (calls a running server: --url or CASTELLAN_URL, default http://localhost:8080;
--host or CASTELLAN_HOST for an instance whose domain is not the URL's host; the token in
CASTELLAN_TOKEN):
  castellan users COMMAND                     list, get, create, update, lock, unlock, deactivate,
                                              reactivate, delete, set-password, token, import
  castellan orgs COMMAND                      list, get, create, rename, deactivate, reactivate, delete,
                                              add-domain, request-verification, verify-domain,
                                              set-primary-domain, add-member
  castellan user-types COMMAND                list, get, create, update, validate
  castellan roles COMMAND                     list, permissions, define, change, remove
  castellan trust-sets COMMAND                list, get, create, update, delete
  castellan events export                     the audit trail as JSON Lines, resumable
  castellan history COMMAND                   objects and access as they were at a moment, and diffs:
                                              user, org, user-type, project, memberships,
                                              authorizations, role-holders, permission-holders, diff
  castellan me                                the calling user
  castellan version                           print the version
  castellan help                              this text

"castellan COMMAND --help" describes a command. The server's commands (start, migrate,
projections rebuild, tokens create, admin recover, audit) take the settings of docs/configuration.md
as flags, environment variables or a YAML file (--config FILE); "castellan start --help"
lists them.
`

// helpOf is the usage of the commands that parse no flags of their own,
// printed for "castellan COMMAND --help".
var helpOf = map[string]string{
	"keys": "Usage: castellan keys generate\n\nPrints a new random master key for keys.master (CASTELLAN_KEYS_MASTER), as ID:BASE64.\n",
	"projections": "Usage: castellan projections list\n       castellan projections rebuild NAME [flags]\n\n" +
		"list prints the names of the read models; rebuild recomputes the read model NAME from the events,\n" +
		"in the database of the server's settings (\"castellan projections rebuild --help\" lists them).\n",
	"admin": "Usage: castellan admin recover LOGIN_NAME [ORG_ID] [flags]\n\n" +
		"Break glass: makes LOGIN_NAME an active owner of the first instance (created, if missing, in ORG_ID or\n" +
		"else the instance's first organization by name) and prints a one-time password and a personal access\n" +
		"token. It works in the server's database, with the server's settings (\"castellan admin recover --help\"\n" +
		"lists them).\n",
	"audit": "Usage: castellan audit verify [INSTANCE_ID] [flags]\n" +
		"       castellan audit archive [INSTANCE_ID] [flags]\n" +
		"       castellan audit verify-archive FILE [flags]\n" +
		"       castellan audit restore FILE [flags]\n\n" +
		"verify recomputes the hash chain of each instance's events (or only INSTANCE_ID's) in the server's\n" +
		"database, checks the signed checkpoints with the server's key ring, and reports the first broken link;\n" +
		"it exits with status 2 when a chain is broken. archive moves each instance's events older than\n" +
		"audit.retention, up to a signed checkpoint, into a gzip JSON Lines file under audit.archive_dir.\n" +
		"verify-archive checks such a file; restore checks it and loads its events back (newest archive first).\n" +
		"They take the server's settings (\"castellan audit verify --help\" lists them). See docs/audit.md.\n",
	"version": "Usage: castellan version\n\nPrints the version of this castellan binary.\n",
	"help":    usage,
}

func main() {
	app.TuneGC()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	if err == nil || errors.Is(err, flag.ErrHelp) { // help was asked for and printed
		return
	}
	msg := err.Error()
	if m, ok := describeAPIError(err); ok {
		msg = m
	}
	fmt.Fprintln(os.Stderr, "castellan:", msg)
	stop()
	os.Exit(2)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	if help, ok := helpOf[args[0]]; ok && asksHelp(args[1:]) {
		fmt.Fprint(stdout, help)
		return nil
	}
	err := dispatch(ctx, args, streams{stdin: stdin, stdout: stdout, stderr: stderr})
	// The server's commands read their flags with the settings (package
	// config), which words a mistake as the flag package does.
	if msg, isConfig := strings.CutPrefix(fmt.Sprint(err), "config: "); isConfig &&
		(strings.HasPrefix(msg, "flag provided but not defined: ") || strings.HasPrefix(msg, "flag needs an argument: ")) {
		path := args[0]
		if len(args) > 1 && (args[0] == "projections" || args[0] == "admin" || args[0] == "tokens" || args[0] == "audit") {
			path += " " + args[1]
		}
		return flagMistake(path, errors.New(msg))
	}
	return err
}

// asksHelp reports whether args, those of a command without flags of its
// own (keys generate, projections list, …), ask for help: the first, or any
// after the subcommand.
func asksHelp(args []string) bool {
	for i, a := range args {
		if isHelp(a) {
			return true
		}
		if i == 0 && (a == "rebuild" || a == "recover" || a == "verify" || a == "archive" || a == "verify-archive" || a == "restore") {
			return false // these parse the settings' flags, --help included
		}
	}
	return false
}

func dispatch(ctx context.Context, args []string, s streams) error {
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "start":
		return start(ctx, rest, s.stdout, s.stderr)
	case "migrate":
		return migrate(ctx, rest, s.stdout, s.stderr)
	case "projections":
		return projections(ctx, rest, s.stdout, s.stderr)
	case "keys":
		return keys(rest, s.stdout)
	case "tokens":
		return tokens(ctx, rest, s.stdout, s.stderr)
	case "admin":
		return admin(ctx, rest, s.stdout, s.stderr)
	case "audit":
		return audit(ctx, rest, s.stdout, s.stderr)
	case "users":
		return usersCommand(ctx, rest, s)
	case "orgs":
		return orgsCommand(ctx, rest, s)
	case "user-types":
		return userTypesCommand(ctx, rest, s)
	case "roles":
		return rolesCommand(ctx, rest, s)
	case "trust-sets":
		return trustSetsCommand(ctx, rest, s)
	case "events":
		return eventsCommand(ctx, rest, s)
	case "history":
		return historyCommand(ctx, rest, s)
	case "me":
		return meCommand(ctx, rest, s)
	case "version", "--version":
		fmt.Fprintln(s.stdout, "castellan", buildVersion())
		return nil
	case "help", "--help", "-h":
		fmt.Fprint(s.stdout, usage)
		return nil
	default:
		fmt.Fprint(s.stderr, usage)
		return fmt.Errorf("unknown command %q; see castellan --help", cmd)
	}
}

func buildVersion() string {
	v := version
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		v += " " + info.GoVersion
	}
	return v
}
