package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
)

// castellan runs the CLI in the test process, as main does but without
// exiting, and returns what it printed.
func castellan(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), err
}

// withoutSettings runs the test with none of the CLI's environment
// variables set.
func withoutSettings(t *testing.T) {
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "CASTELLAN_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
}

// subcommands lists the commands of a group from its usage text: the
// lowercase words that start its indented lines ("  lock | unlock USER_ID").
func subcommands(usage string) []string {
	var names []string
	for _, line := range strings.Split(usage, "\n") {
		if !strings.HasPrefix(line, "  ") {
			continue
		}
		for _, w := range strings.Fields(line) {
			if w == "|" {
				continue
			}
			if strings.HasPrefix(w, "-") || strings.IndexFunc(w, func(r rune) bool { return !unicode.IsLower(r) && r != '-' }) >= 0 {
				break
			}
			names = append(names, w)
		}
	}
	return names
}

func everyCommand() [][]string {
	commands := [][]string{{"start"}, {"migrate"}, {"projections"}, {"projections", "list"}, {"projections", "rebuild"},
		{"keys"}, {"keys", "generate"}, {"tokens"}, {"tokens", "create"}, {"admin"}, {"admin", "recover"}, {"audit"}, {"audit", "verify"}, {"audit", "archive"}, {"audit", "verify-archive"}, {"audit", "restore"},
		{"users"}, {"orgs"}, {"user-types"}, {"roles"}, {"trust-sets"}, {"events"}, {"history"}, {"me"}, {"version"}, {"help"}}
	for group, usage := range map[string]string{"users": usersUsage, "orgs": orgsUsage, "user-types": userTypesUsage, "roles": rolesUsage, "trust-sets": trustSetsUsage, "events": eventsUsage, "history": historyUsage} {
		for _, name := range subcommands(usage) {
			commands = append(commands, []string{group, name})
		}
	}
	return commands
}

func TestHelpSucceedsForEveryCommandWithoutSettings(t *testing.T) {
	withoutSettings(t)
	t.Chdir(t.TempDir())
	if n := len(everyCommand()); n < 45 {
		t.Fatalf("found only %d commands", n)
	}
	for _, command := range everyCommand() {
		for _, help := range []string{"--help", "-h"} {
			args := append(slices.Clone(command), help)
			stdout, stderr, err := castellan(t, args...)
			if err != nil && !errors.Is(err, flag.ErrHelp) {
				t.Errorf("castellan %s: %v", strings.Join(args, " "), err)
				continue
			}
			if !strings.Contains(stdout+stderr, "Usage: castellan") && !strings.Contains(stdout, "Castellan: identity") {
				t.Errorf("castellan %s printed no usage:\n%s%s", strings.Join(args, " "), stdout, stderr)
			}
			if len(command) == 2 && strings.Contains(stdout, "COMMAND") {
				t.Errorf("castellan %s printed its group's usage:\n%s", strings.Join(args, " "), stdout)
			}
		}
	}
	if entries, _ := os.ReadDir("."); len(entries) != 0 {
		t.Fatalf("--help left %v behind", entries)
	}
}

func TestMistakesPointToHelp(t *testing.T) {
	withoutSettings(t)
	t.Chdir(t.TempDir())
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"users", "create", "--x"}, "unknown flag --x; see castellan users create --help"},
		{[]string{"orgs", "get", "ORG", "--nope=1"}, "unknown flag --nope; see castellan orgs get --help"},
		{[]string{"users", "list", "--org"}, "--org needs a value; see castellan users list --help"},
		{[]string{"users", "list", "--all=maybe"}, `--all: "maybe" is neither true nor false; see castellan users list --help`},
		{[]string{"users", "get"}, "users get: want USER_ID, got none; see castellan users get --help"},
		{[]string{"orgs", "rename", "ORG"}, `orgs rename: want ORG_ID NAME, got ["ORG"]; see castellan orgs rename --help`},
		{[]string{"orgs", "frobnicate"}, `orgs: unknown command "frobnicate"; see castellan orgs --help`},
		{[]string{"me", "extra"}, "me: want no arguments"},
		{[]string{"migrate", "--x"}, "unknown flag --x; see castellan migrate --help"},
		{[]string{"projections", "rebuild", "--x"}, "unknown flag --x; see castellan projections rebuild --help"},
		{[]string{"tokens", "create", "admin", "--x"}, "unknown flag --x; see castellan tokens create --help"},
		{[]string{"tokens", "create", "admin", "--host"}, "--host needs a value; see castellan tokens create --help"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"; see castellan --help`},
	} {
		_, _, err := castellan(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("castellan %s: %v, want %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

func TestDurationsAreExplained(t *testing.T) {
	withoutSettings(t)
	t.Chdir(t.TempDir())
	for _, args := range [][]string{
		{"users", "token", "USER", "--expires-in", "3"},
		{"users", "token", "--expires-in=-1h", "USER"},
		{"tokens", "create", "admin", "3"},
		{"tokens", "create", "admin", "0s"},
	} {
		_, _, err := castellan(t, args...)
		if err == nil || !strings.Contains(err.Error(), "a duration such as 30s") {
			t.Errorf("castellan %s: %v", strings.Join(args, " "), err)
		}
	}
}

func TestFlagsMayFollowPositionalArguments(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	org := fs.String("org", "", "")
	all := fs.Bool("all", false, "")
	got, err := parseInterleaved(fs, []string{"a", "--org", "o", "b", "--all", "--", "--c", "d"})
	if err != nil || !slices.Equal(got, []string{"a", "b", "--c", "d"}) || *org != "o" || !*all {
		t.Fatalf("%q %v org=%q all=%v", got, err, *org, *all)
	}

	host, rest, err := cutHostFlag([]string{"admin", "--host", "a.example", "--data-dir", "d", "-host=b.example", "--", "--host"})
	if err != nil || host != "b.example" || !slices.Equal(rest, []string{"admin", "--data-dir", "d", "--", "--host"}) {
		t.Fatalf("cutHostFlag: %q %q %v", host, rest, err)
	}

	noEnv := func(string) (string, bool) { return "", false }
	cfg, positional, err := loadConfigInterleaved([]string{"admin", "--data-dir", "/srv/castellan", "1h", "--log-level=debug"}, noEnv)
	if err != nil || !slices.Equal(positional, []string{"admin", "1h"}) || cfg.DataDir != "/srv/castellan" || cfg.Log.Level != "debug" {
		t.Fatalf("loadConfigInterleaved: %q %v %+v", positional, err, cfg)
	}
	if _, positional, err = loadConfigInterleaved([]string{"--data-dir", "d", "--", "-admin"}, noEnv); err != nil || !slices.Equal(positional, []string{"-admin"}) {
		t.Fatalf("after --: %q %v", positional, err)
	}
}

// Away from the server's data, tokens create says which database it looked
// for and how to name the right one — and creates none.
func TestTokensCreateNamesTheDatabaseItLookedFor(t *testing.T) {
	withoutSettings(t)
	dir := t.TempDir()
	t.Chdir(dir)
	_, _, err := castellan(t, "tokens", "create", "admin")
	want := "there is no database sqlite:" + filepath.Join(dir, "castellan-data", "castellan.db") + "; run it with the server's settings (--data-dir"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("tokens create left %v behind", entries)
	}
}

func TestTokensCreateNamesTheInstanceHostItUsed(t *testing.T) {
	withoutSettings(t)
	dir := t.TempDir()
	t.Chdir(t.TempDir()) // not where the data is
	t.Setenv("CASTELLAN_DATA_DIR", dir)
	if _, _, err := castellan(t, "migrate"); err != nil {
		t.Fatal(err)
	}
	_, _, err := castellan(t, "tokens", "create", "admin")
	if err == nil || !strings.Contains(err.Error(), "has no instance yet; castellan start creates the first one") {
		t.Fatalf("an empty database: %v", err)
	}
}

// The API client commands call a real API (apitest) through the SDK.
func TestAPICommandsReachTheInstanceOfTheirHost(t *testing.T) {
	withoutSettings(t)
	env := apitest.Start(t, func(a *app.App, auth *authn.Authenticator) []api.Service { return a.Services(version) })
	t.Setenv("CASTELLAN_TOKEN", env.AdminToken)
	byAddress := strings.Replace(env.URL, "localhost", "127.0.0.1", 1)

	t.Setenv("CASTELLAN_URL", env.URL)
	out, _, err := castellan(t, "orgs", "list")
	if err != nil || !strings.Contains(out, env.OrgID) {
		t.Fatalf("orgs list: %v\n%s", err, out)
	}

	t.Setenv("CASTELLAN_URL", byAddress)
	_, _, err = castellan(t, "orgs", "list")
	msg, ok := describeAPIError(err)
	host := strings.TrimPrefix(byAddress, "http://")
	if !ok || !strings.HasPrefix(msg, "no instance serves "+host+"; name the instance's domain with --host or CASTELLAN_HOST") {
		t.Fatalf("no instance: %v (%q)", err, msg)
	}
	if out, _, err := castellan(t, "orgs", "list", "--host", "localhost"); err != nil || !strings.Contains(out, env.OrgID) {
		t.Fatalf("orgs list --host localhost: %v\n%s", err, out)
	}
	t.Setenv("CASTELLAN_HOST", "localhost")
	if out, _, err := castellan(t, "me"); err != nil || !strings.Contains(out, env.AdminID) {
		t.Fatalf("me with CASTELLAN_HOST: %v\n%s", err, out)
	}
	if out, _, err := castellan(t, "orgs", "list", "--url", env.URL, "--host", "127.0.0.1"); err == nil {
		t.Fatalf("--host wins over CASTELLAN_HOST: %s", out)
	}

	if out, _, err := castellan(t, "roles", "define", "custom.helpdesk", "org", "Help desk", "user.read", "user.credential.write"); err != nil ||
		!strings.Contains(out, "custom.helpdesk  org    Help desk  user.read user.credential.write") {
		t.Fatalf("roles define: %v\n%s", err, out)
	}
	if out, _, err := castellan(t, "roles", "list"); err != nil || !strings.Contains(out, "org.owner") || !strings.Contains(out, "custom.helpdesk") {
		t.Fatalf("roles list: %v\n%s", err, out)
	}
	if out, _, err := castellan(t, "roles", "permissions"); err != nil || !strings.Contains(out, "role.write") {
		t.Fatalf("roles permissions: %v\n%s", err, out)
	}
	_, _, err = castellan(t, "roles", "define", "custom.x", "org", "X", "instance.write")
	if msg, ok := describeAPIError(err); !ok || !strings.HasPrefix(msg, "invalid_argument: permissions") {
		t.Fatalf("an inapplicable permission: %v (%q)", err, msg)
	}
	if _, _, err := castellan(t, "roles", "remove", "custom.helpdesk"); err != nil {
		t.Fatalf("roles remove: %v", err)
	}

	// The audit trail as JSON Lines: every event, in commit order, the
	// role just defined and removed among them, credentials redacted; an
	// export resumed after a position gives the rest.
	out, stderr, err := castellan(t, "events", "export")
	if err != nil || !strings.Contains(stderr, "exported") {
		t.Fatalf("events export: %v\n%s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var types []string
	var first string
	for i, l := range lines {
		var e struct{ Position, Type string }
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.Position == "" {
			t.Fatalf("line %d: %v %q", i, err, l)
		}
		if i == 0 {
			first = e.Position
		}
		types = append(types, e.Type)
	}
	if !slices.Contains(types, "custom_role.defined") || !slices.Contains(types, "custom_role.removed") || strings.Contains(out, "$argon2id") ||
		!strings.Contains(out, "[redacted]") {
		t.Fatalf("the export holds %v", types)
	}
	rest, _, err := castellan(t, "events", "export", "--after", first)
	if err != nil || strings.Count(rest, "\n") != len(lines)-1 {
		t.Fatalf("a resumed export: %v, %d lines of %d", err, strings.Count(rest, "\n"), len(lines))
	}

	// History: the organization as it was before a rename, the rename as
	// a diff, the administrator's memberships; mistakes named.
	before := time.Now().UTC()
	var org struct{ Name string }
	if out, _, err := castellan(t, "orgs", "get", env.OrgID); err != nil || json.Unmarshal([]byte(out), &org) != nil || org.Name == "" {
		t.Fatalf("orgs get: %v\n%s", err, out)
	}
	if _, _, err := castellan(t, "orgs", "rename", env.OrgID, "Renamed for history"); err != nil {
		t.Fatalf("orgs rename: %v", err)
	}
	out, _, err = castellan(t, "history", "org", env.OrgID, "--at", before.Format(time.RFC3339Nano))
	var then struct{ Organization struct{ Name string } }
	if err != nil || json.Unmarshal([]byte(out), &then) != nil || then.Organization.Name != org.Name {
		t.Fatalf("history org: %v\n%s", err, out)
	}
	out, _, err = castellan(t, "history", "diff", "org", env.OrgID, "--from", before.Format(time.RFC3339Nano))
	if err != nil || !strings.Contains(out, org.Name) || !strings.Contains(out, "Renamed for history") {
		t.Fatalf("history diff org: %v\n%s", err, out)
	}
	if out, _, err := castellan(t, "history", "memberships", env.AdminID, "--at", time.Now().UTC().Format(time.RFC3339Nano)); err != nil || !strings.Contains(out, `"instance.owner"`) {
		t.Fatalf("history memberships: %v\n%s", err, out)
	}
	// Every question about a user, asked of the administrator, answers
	// JSON naming it (or its memberships and authorizations).
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for _, args := range [][]string{
		{"history", "user", env.AdminID, "--at", now},
		{"history", "authorizations", env.AdminID, "--at", now},
		{"history", "diff", "user", env.AdminID, "--from", before.Format(time.RFC3339Nano)},
		{"history", "diff", "memberships", env.AdminID, "--from", "2026-01-01"},
		{"history", "diff", "authorizations", env.AdminID, "--from", "2026-01-01"},
		{"history", "permission-holders", "user.write", "--at", now},
	} {
		out, _, err := castellan(t, args...)
		var v map[string]any
		if err != nil || json.Unmarshal([]byte(out), &v) != nil {
			t.Errorf("castellan %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if args[1] == "user" || args[1] == "permission-holders" {
			if !strings.Contains(out, env.AdminID) {
				t.Errorf("castellan %s does not name the administrator:\n%s", strings.Join(args, " "), out)
			}
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"history", "org", env.OrgID}, "--at is required"},
		{[]string{"history", "org", env.OrgID, "--at", "yesterday"}, `--at: "yesterday" is not a moment`},
		{[]string{"history", "diff", "planet", "X", "--from", "2026-01-01"}, `"planet" is not one of user, org`},
		{[]string{"history", "diff", "org", env.OrgID, "--from", "2026-03-02", "--to", "2026-03-01"}, "--to (2026-03-01T00:00:00Z) is before --from"},
	} {
		if _, _, err := castellan(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("castellan %s: %v, want %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}

	_, _, err = castellan(t, "users", "create", "--org", env.OrgID, "--login-name", "")
	if msg, ok := describeAPIError(err); !ok || !strings.HasPrefix(msg, "invalid_argument: loginName") {
		t.Fatalf("a refusal: %v (%q)", err, msg)
	}
	t.Setenv("CASTELLAN_TOKEN", "")
	if _, _, err := castellan(t, "orgs", "list"); err == nil || !strings.Contains(err.Error(), "CASTELLAN_TOKEN is not set") {
		t.Fatalf("without a token: %v", err)
	}
}
