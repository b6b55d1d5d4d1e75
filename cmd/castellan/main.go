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
	"syscall"
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
  castellan tokens create LOGIN_NAME [TTL]     issue a personal access token on the server (bootstrap)
  castellan admin recover LOGIN_NAME [ORG_ID]  break glass: make LOGIN_NAME an active instance owner
                                              (created if missing) and print one-time credentials

API client (calls a running server: CASTELLAN_URL, default http://localhost:8080,
with the token in CASTELLAN_TOKEN):
  castellan users COMMAND                     list, get, create, update, lock, unlock, deactivate,
                                              reactivate, delete, set-password, token
  castellan orgs COMMAND                      list, get, create, rename, deactivate, reactivate, delete,
                                              add-domain, request-verification, verify-domain,
                                              set-primary-domain, add-member
  castellan user-types COMMAND                list, get, create, update, validate
  castellan me                                the calling user
  castellan version                           print the version
  castellan help                              this text

Every command takes the settings of docs/configuration.md as flags, environment
variables or a YAML file (--config FILE); "castellan start --help" lists them.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "castellan:", err)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "start":
		return start(ctx, rest, stdout, stderr)
	case "migrate":
		return migrate(ctx, rest, stdout, stderr)
	case "projections":
		return projections(ctx, rest, stdout, stderr)
	case "keys":
		return keys(rest, stdout)
	case "tokens":
		return tokens(ctx, rest, stdout, stderr)
	case "admin":
		return admin(ctx, rest, stdout, stderr)
	case "users":
		return usersCommand(ctx, rest, stdin, stdout, stderr)
	case "orgs":
		return orgsCommand(ctx, rest, stdin, stdout, stderr)
	case "user-types":
		return userTypesCommand(ctx, rest, stdin, stdout, stderr)
	case "me":
		return meCommand(ctx, stdin, stdout)
	case "version", "--version":
		fmt.Fprintln(stdout, "castellan", buildVersion())
		return nil
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
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
