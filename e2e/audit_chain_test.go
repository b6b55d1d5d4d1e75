package e2e

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
)

// TestAuditVerify: a running server chains its events; `castellan audit
// verify` finds the chain intact — also after a user's personal data was
// erased — and names the first broken link once the database is tampered
// with.
func TestAuditVerify(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		p := start(t, b.env)
		token, stderr, err := castellan(t, b.env, "tokens", "create", "admin", "1h")
		if err != nil {
			t.Fatalf("tokens create: %v\n%s", err, stderr)
		}
		client := []string{"CASTELLAN_URL=" + p.url, "CASTELLAN_TOKEN=" + strings.TrimSpace(token)}
		run := func(args ...string) string {
			t.Helper()
			out, stderr, err := castellan(t, client, args...)
			if err != nil {
				t.Fatalf("castellan %v: %v\n%s", args, err, stderr)
			}
			return out
		}
		orgID := strings.TrimSpace(run("orgs", "create", "Initech"))
		id := strings.TrimSpace(run("users", "create", "--org", orgID, "--type", "human", "--login-name", "peter",
			"--email", "peter@initech.example", "--traits", `{"profile": {"given_name": "Peter", "family_name": "Gibbons"}}`))
		run("users", "update", id, "--traits", `{"profile": {"given_name": "Pete", "family_name": "Gibbons"}}`)
		// Deleting a user erases its personal data: the key that sealed it
		// is destroyed, the sealed bytes the chain covers stay.
		run("users", "delete", id)

		verified := regexp.MustCompile(`instance (\S+): ([0-9]+) events and ([0-9]+) signed checkpoints verified .*: intact`)
		deadline := time.Now().Add(20 * time.Second)
		var out string
		for {
			out, stderr, err = castellan(t, b.env, "audit", "verify")
			if err != nil {
				t.Fatalf("audit verify on a running server: %v\n%s%s", err, out, stderr)
			}
			if verified.MatchString(out) && !strings.Contains(out, "not chained yet") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the server did not chain its events:\n%s", out)
			}
			time.Sleep(200 * time.Millisecond)
		}
		p.stop(t)
		m := verified.FindStringSubmatch(out)
		if m[2] == "0" {
			t.Fatalf("nothing verified:\n%s", out)
		}

		db := openDB(t, b)
		var position int64
		if err := db.Reader().QueryRowContext(context.Background(),
			`SELECT position FROM events WHERE event_type = 'user.traits.updated'`).Scan(&position); err != nil {
			t.Fatal(err)
		}
		err = db.InTx(context.Background(), func(tx *database.Tx) error {
			disable := `DROP TRIGGER events_no_update`
			if tx.Dialect == database.Postgres {
				disable = `ALTER TABLE events DISABLE TRIGGER events_no_change`
			}
			if _, err := tx.ExecContext(context.Background(), disable); err != nil {
				return err
			}
			_, err := tx.ExecContext(context.Background(), `UPDATE events SET editor_user = 'someone-else' WHERE position = $1`, position)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		out, _, err = castellan(t, b.env, "audit", "verify", m[1])
		if err == nil || !strings.Contains(out, "BROKEN at link") || !strings.Contains(out, "user.traits.updated event 2 of user/"+id+" does not match its link") {
			t.Fatalf("audit verify after tampering: %v\n%s", err, out)
		}
	})
}
