package e2e

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/database"
)

func dumpTable(t *testing.T, db *database.DB, query string) []string {
	t.Helper()
	rows, err := db.Reader().Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
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
		if !slices.Equal(names, []string{"instances", "orgs", "user_schemas", "users", "members", "personal_access_tokens", "machine_keys"}) {
			t.Fatalf("projections list = %v", names)
		}
		for _, name := range names {
			if name == "personal_access_tokens" || name == "machine_keys" {
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
