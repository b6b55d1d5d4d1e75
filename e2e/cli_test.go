package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
)

func dumpTable(t *testing.T, db *database.DB, query string) []string {
	t.Helper()
	var out []string
	for _, vals := range dbtest.Rows(t)(db.Reader().Query(query)) {
		out = append(out, fmt.Sprint(vals...))
	}
	return out
}

func TestProjectionRebuildGivesTheInlineRows(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		p := start(t, b.env)
		p.stop(t)
		db := openDB(t, b)
		queries := map[string]string{
			"instances": `SELECT i.id, i.name, i.created_at, i.sequence, d.domain, d.is_primary FROM instances i
JOIN instance_domains d ON d.instance_id = i.id ORDER BY i.id`,
			"user_schemas": `SELECT s.*, r.revision, r.document FROM user_schemas s JOIN user_schema_revisions r ON r.schema_id = s.id ORDER BY s.id`,
			"members":      `SELECT * FROM members ORDER BY instance_id, user_id, scope, scope_id`,
			"orgs":         `SELECT * FROM orgs ORDER BY instance_id, id`,
			"users":        `SELECT * FROM users ORDER BY instance_id, id`,
		}
		list, _, err := castellan(t, b.env, "projections", "list")
		if err != nil {
			t.Fatal(err)
		}
		names := strings.Fields(list)
		if !slices.Equal(names, []string{"instances", "orgs", "user_schemas", "users", "members", "personal_access_tokens", "machine_keys", "machine_certificates", "settings", "sessions",
			"web_keys", "revoked_tokens", "projects", "trust_sets", "groups", "project_access", "oauth_grants", "oauth_consents"}) {
			t.Fatalf("projections list = %v", names)
		}
		for _, name := range names {
			if !slices.Contains([]string{"instances", "orgs", "user_schemas", "users", "members"}, name) {
				continue // none exist after a first start
			}
			inline := dumpTable(t, db, queries[name])
			if len(inline) == 0 {
				t.Fatalf("%s: no rows to compare", name)
			}
			out, stderr, err := castellan(t, b.env, "projections", "rebuild", name)
			if err != nil {
				t.Fatalf("rebuild %s: %v\n%s", name, err, stderr)
			}
			if !regexp.MustCompile(`^rebuilt ` + name + ` from [1-9][0-9]* events`).MatchString(out) {
				t.Fatalf("rebuild output: %q", out)
			}
			if rebuilt := dumpTable(t, db, queries[name]); !slices.Equal(inline, rebuilt) {
				t.Fatalf("%s rebuilt differs:\ninline  %v\nrebuilt %v", name, inline, rebuilt)
			}
		}
		if _, stderr, err := castellan(t, b.env, "projections", "rebuild", "nonesuch"); err == nil || !strings.Contains(stderr, `no projection named "nonesuch"`) {
			t.Fatalf("unknown projection: err=%v stderr=%s", err, stderr)
		}
	})
}

func TestMigrateVersionAndHelp(t *testing.T) {
	env := []string{"CASTELLAN_DATA_DIR=" + t.TempDir()}
	out, stderr, err := castellan(t, env, "migrate")
	if err != nil || !regexp.MustCompile(`^applied [1-9][0-9]* migrations to sqlite:`).MatchString(out) {
		t.Fatalf("first migrate: %q %v %s", out, err, stderr)
	}
	if out, _, err = castellan(t, env, "migrate"); err != nil || !strings.HasPrefix(out, "applied 0 migrations") {
		t.Fatalf("second migrate: %q %v", out, err)
	}
	// A database path in a directory that does not exist is a mistake, not
	// a place to create a new database.
	missing := filepath.Join(t.TempDir(), "nonexistent")
	if _, stderr, err := castellan(t, nil, "migrate", "--database", "sqlite:"+filepath.Join(missing, "x.db")); err == nil || !strings.Contains(stderr, "does not exist") {
		t.Fatalf("migrate into a missing directory: %v %s", err, stderr)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatalf("migrate created %s: %v", missing, err)
	}
	if out, _, err = castellan(t, nil, "version"); err != nil || !strings.HasPrefix(out, "castellan dev") {
		t.Fatalf("version: %q %v", out, err)
	}
	if out, _, err = castellan(t, nil, "--help"); err != nil || !strings.Contains(out, "castellan start") || !strings.Contains(out, "projections rebuild") {
		t.Fatalf("--help: %q %v", out, err)
	}
	_, usage, err := castellan(t, nil, "start", "--help")
	for _, want := range []string{"--listen", "CASTELLAN_LISTEN", "--data-dir", "--database", "--external-url", ":8080"} {
		if !strings.Contains(usage, want) {
			t.Fatalf("start --help lacks %s: %v\n%s", want, err, usage)
		}
	}
	if _, stderr, err := castellan(t, nil, "frobnicate"); err == nil || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %v %s", err, stderr)
	}
	key, _, err := castellan(t, nil, "keys", "generate")
	if err != nil || !regexp.MustCompile(`^k[0-9a-f]{8}:[A-Za-z0-9+/]{43}=\n$`).MatchString(key) {
		t.Fatalf("keys generate: %q %v", key, err)
	}
}

// Two replicas started together on an empty PostgreSQL database agree on
// one first instance.
func TestReplicasStartTogetherOnPostgres(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		if b.name != "postgres" {
			t.Skip("replicas share a PostgreSQL database")
		}
		var procs [3]*proc
		for i := range procs {
			procs[i] = launch(t, b.env) // all start at once, racing for the empty database
		}
		for _, p := range procs {
			p.waitReady(t)
		}
		ids := map[string]bool{}
		for _, p := range procs {
			ids[rootOf(t, p).Instance.ID] = true
		}
		for _, p := range procs {
			p.stop(t)
		}
		created := 0
		for _, p := range procs {
			if strings.Contains(p.stdout.String(), "Administrator:") {
				created++
			}
		}
		db := openDB(t, b)
		if len(ids) != 1 || created != 1 || count(t, db, "instances") != 1 || count(t, db, "users") != 1 {
			t.Fatalf("replicas: instance ids %v, %d printed a first start, %d instances, %d users", ids, created, count(t, db, "instances"), count(t, db, "users"))
		}
	})
}

// castellanIn runs a one-shot CLI command in dir and returns its output and
// exit status.
func castellanIn(t *testing.T, dir string, env []string, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		status = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errb.String(), status
}

// Help needs no server, token or data and exits 0; a mistake exits 2 and
// points to the help.
func TestCLIHelpAndMistakes(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--help"}, {"users", "--help"}, {"users", "create", "--help"}, {"orgs", "add-member", "-h"}, {"user-types", "validate", "--help"},
		{"me", "--help"}, {"tokens", "--help"}, {"tokens", "create", "--help"}, {"tokens", "create", "admin", "-h"},
		{"keys", "generate", "--help"}, {"projections", "list", "--help"}, {"admin", "--help"}, {"admin", "recover", "--help"},
		{"migrate", "--help"}, {"start", "--help"}, {"version", "--help"},
	} {
		stdout, stderr, status := castellanIn(t, dir, nil, args...)
		if status != 0 || !strings.Contains(stdout+stderr, "Usage") {
			t.Errorf("castellan %s: exit %d\n%s%s", strings.Join(args, " "), status, stdout, stderr)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"users", "create", "--x"}, "castellan: unknown flag --x; see castellan users create --help\n"},
		{[]string{"start", "--x"}, "castellan: unknown flag --x; see castellan start --help\n"},
		{[]string{"users", "token", "USER_ID", "--expires-in", "30"}, `castellan: --expires-in: "30" is not a duration such as 30s`},
	} {
		_, stderr, status := castellanIn(t, dir, nil, tc.args...)
		if status != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("castellan %s: exit %d, want 2 and %q\n%s", strings.Join(tc.args, " "), status, tc.want, stderr)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("help and mistakes left %v behind", entries)
	}
}

// A server whose instance is not named by the URL's host: tokens create,
// run elsewhere, finds the server's data by its settings and the instance
// by --host; the API client commands reach it with --host or
// CASTELLAN_HOST, and say so when they do not.
func TestCLIReachesTheServersDataAndInstanceFromAnotherDirectory(t *testing.T) {
	data := t.TempDir()
	p := start(t, []string{"CASTELLAN_DATA_DIR=" + data}, "--external-url", "https://auth.example.test")
	elsewhere := t.TempDir()

	_, stderr, status := castellanIn(t, elsewhere, nil, "tokens", "create", "admin")
	if want := "there is no database sqlite:" + filepath.Join(elsewhere, "castellan-data", "castellan.db"); status != 2 || !strings.Contains(stderr, want) {
		t.Fatalf("tokens create without the server's settings: exit %d, want %q\n%s", status, want, stderr)
	}
	if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
		t.Fatalf("tokens create left %v behind", entries)
	}
	_, stderr, status = castellanIn(t, elsewhere, nil, "tokens", "create", "admin", "--data-dir", data)
	if want := `no instance serves the host "localhost" (from first_instance.domain) in the database sqlite:` + filepath.Join(data, "castellan.db") +
		"; name the instance's domain with --host or CASTELLAN_HOST"; status != 2 || !strings.Contains(stderr, want) {
		t.Fatalf("tokens create without the instance's domain: exit %d, want %q\n%s", status, want, stderr)
	}
	token, stderr, status := castellanIn(t, elsewhere, []string{"CASTELLAN_DATA_DIR=" + data, "CASTELLAN_HOST=auth.example.test"}, "tokens", "create", "admin", "1h")
	if token = strings.TrimSpace(token); status != 0 || !strings.HasPrefix(token, "cst_") {
		t.Fatalf("tokens create with CASTELLAN_HOST: exit %d %q\n%s", status, token, stderr)
	}
	if other, stderr, status := castellanIn(t, elsewhere, nil, "tokens", "create", "admin", "--host", "auth.example.test", "--data-dir", data, "1h"); status != 0 || !strings.HasPrefix(other, "cst_") {
		t.Fatalf("tokens create with flags after the login name: exit %d %q\n%s", status, other, stderr)
	}

	client := []string{"CASTELLAN_URL=" + p.url, "CASTELLAN_TOKEN=" + token}
	host := strings.TrimPrefix(p.url, "http://")
	_, stderr, status = castellanIn(t, elsewhere, client, "orgs", "list")
	if want := "castellan: no instance serves " + host + "; name the instance's domain with --host or CASTELLAN_HOST"; status != 2 || !strings.HasPrefix(stderr, want) {
		t.Fatalf("orgs list at the URL's host: exit %d, want %q\n%s", status, want, stderr)
	}
	if out, stderr, status := castellanIn(t, elsewhere, client, "orgs", "list", "--host", "auth.example.test"); status != 0 || !strings.Contains(out, "Castellan") {
		t.Fatalf("orgs list --host: exit %d\n%s%s", status, out, stderr)
	}
	if out, stderr, status := castellanIn(t, elsewhere, append(client, "CASTELLAN_HOST=auth.example.test"), "me"); status != 0 || !regexp.MustCompile(`"loginName":\s*"admin"`).MatchString(out) {
		t.Fatalf("me with CASTELLAN_HOST: exit %d\n%s%s", status, out, stderr)
	}
}
