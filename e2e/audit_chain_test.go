package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
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

// TestHistoryOfOrganizationsAndUserTypes asks the history API for an
// organization and a user type at moments between their changes and for
// what changed between them, on each backend, and checks that an
// organization's owner cannot see another organization's past.
func TestHistoryOfOrganizationsAndUserTypes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		p := start(t, b.env)
		token, stderr, err := castellan(t, b.env, "tokens", "create", "admin", "1h")
		if err != nil {
			t.Fatalf("tokens create: %v\n%s", err, stderr)
		}
		admin := strings.TrimSpace(token)
		client := []string{"CASTELLAN_URL=" + p.url, "CASTELLAN_TOKEN=" + admin}
		run := func(args ...string) string {
			t.Helper()
			out, stderr, err := castellan(t, client, args...)
			if err != nil {
				t.Fatalf("castellan %v: %v\n%s", args, err, stderr)
			}
			return strings.TrimSpace(out)
		}
		pause := func() string {
			time.Sleep(5 * time.Millisecond)
			at := time.Now().UTC().Format(time.RFC3339Nano)
			time.Sleep(5 * time.Millisecond)
			return url.QueryEscape(at)
		}
		orgID := run("orgs", "create", "Initech")
		named := pause()
		run("orgs", "rename", orgID, "Initrode")
		run("orgs", "add-domain", orgID, "initrode.example")
		renamed := pause()

		schema := func(field string) string {
			f := filepath.Join(t.TempDir(), "schema.json")
			doc := `{"type": "object", "permission": {"self": "r", "admin": "rw"}, "properties": {"` + field + `": {"type": "string"}}}`
			if err := os.WriteFile(f, []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			return f
		}
		typeID := run("user-types", "create", "contractor", schema("agency"))
		first := pause()
		run("user-types", "update", typeID, schema("agency_name"))
		second := pause()

		org := func(at string) map[string]any {
			return mustJSON(t, p.url, admin, http.MethodGet, "/v1/history/organizations/"+orgID+"?time="+at, nil)["organization"].(map[string]any)
		}
		if o := org(named); o["Name"] != "Initech" || o["Domains"] != nil {
			t.Fatalf("the organization before its rename: %v", o)
		}
		if o := org(renamed); o["Name"] != "Initrode" || !strings.Contains(fmt.Sprint(o["Domains"]), "initrode.example") {
			t.Fatalf("the organization after its rename: %v", o)
		}
		userType := func(at string) map[string]any {
			return mustJSON(t, p.url, admin, http.MethodGet, "/v1/history/user_types/"+typeID+"?time="+at, nil)["userType"].(map[string]any)
		}
		if ut := userType(first); ut["Revision"] != float64(1) || !strings.Contains(fmt.Sprint(ut["Document"]), "agency") {
			t.Fatalf("the user type at its first revision: %v", ut)
		}
		if ut := userType(second); ut["Revision"] != float64(2) || !strings.Contains(fmt.Sprint(ut["Document"]), "agency_name") {
			t.Fatalf("the user type at its second revision: %v", ut)
		}
		if code, _ := jsonCall(t, p.url, admin, http.MethodGet, "/v1/history/organizations/"+orgID+"?time="+url.QueryEscape(time.Unix(0, 0).UTC().Format(time.RFC3339)), nil); code != http.StatusNotFound {
			t.Fatalf("the organization before it existed: %d, want 404", code)
		}

		// What changed between the moments, field by field: the name, and
		// the domain by its name; the schema's revision and fields.
		changes := func(token, path string) (int, string) {
			code, out := jsonCall(t, p.url, token, http.MethodGet, path, nil)
			var lines []string
			for _, c := range asList(out["changes"]) {
				c := c.(map[string]any)
				lines = append(lines, fmt.Sprint(c["kind"], " ", c["path"], " ", c["before"], " ", c["after"]))
			}
			return code, strings.Join(lines, "\n")
		}
		if code, d := changes(admin, "/v1/history/organizations/"+orgID+":diff?from="+named+"&to="+renamed); code != http.StatusOK ||
			!strings.Contains(d, "changed /Name Initech Initrode") || !strings.Contains(d, "added /Domains/initrode.example") {
			t.Fatalf("the organization's diff: %d\n%s", code, d)
		}
		if code, d := changes(admin, "/v1/history/user_types/"+typeID+":diff?from="+first+"&to="+second); code != http.StatusOK ||
			!strings.Contains(d, "changed /Revision 1 2") || !strings.Contains(d, "added /Document/properties/agency_name") {
			t.Fatalf("the user type's diff: %d\n%s", code, d)
		}
		if code, _ := changes(admin, "/v1/history/organizations/"+orgID+":diff?from="+renamed+"&to="+named); code != http.StatusBadRequest {
			t.Fatalf("a diff from a later moment to an earlier one: %d, want 400", code)
		}

		// The owner of another organization sees neither.
		other := run("orgs", "create", "Globex")
		owner := run("users", "create", "--org", other, "--type", "machine", "--login-name", "hank", "--traits", `{"name": "Hank"}`)
		beforeOwner := pause()
		run("orgs", "add-member", other, owner, "org.owner")
		afterOwner := pause()
		hankToken := run("users", "token", owner)
		for _, path := range []string{"/v1/history/organizations/" + orgID, "/v1/history/user_types/" + typeID} {
			if code, _ := jsonCall(t, p.url, hankToken, http.MethodGet, path+"?time="+renamed, nil); code != http.StatusNotFound {
				t.Fatalf("%s for another organization's owner: %d, want 404", path, code)
			}
		}
		for _, path := range []string{"/v1/history/organizations/" + orgID + ":diff", "/v1/history/user_types/" + typeID + ":diff"} {
			for _, q := range []string{"?from=" + named + "&to=" + renamed, "?from=" + renamed + "&to=" + named, ""} {
				if code, _ := jsonCall(t, p.url, hankToken, http.MethodGet, path+q, nil); code != http.StatusNotFound {
					t.Fatalf("%s%s for another organization's owner: %d, want 404", path, q, code)
				}
			}
		}
		if o := mustJSON(t, p.url, hankToken, http.MethodGet, "/v1/history/organizations/"+other+"?time="+pause(), nil); o["organization"].(map[string]any)["Name"] != "Globex" {
			t.Fatalf("an owner's own organization: %v", o)
		}

		// Administrators as they were: hank's roles, and who could write
		// Globex's users, before and after hank became its owner.
		memberships := func(at string) string {
			return fmt.Sprint(mustJSON(t, p.url, admin, http.MethodGet, "/v1/history/users/"+owner+"/memberships?time="+at, nil)["memberships"])
		}
		if m := memberships(beforeOwner); m != "<nil>" && m != "[]" {
			t.Fatalf("hank's memberships before: %s", m)
		}
		if m := memberships(afterOwner); !strings.Contains(m, "scopeId:"+other) || !strings.Contains(m, "org.owner") {
			t.Fatalf("hank's memberships after: %s", m)
		}
		holders := func(token, at string) string {
			return fmt.Sprint(mustJSON(t, p.url, token, http.MethodGet, "/v1/history/permissions/user.write/holders?organizationId="+other+"&time="+at, nil)["holders"])
		}
		if h := holders(admin, beforeOwner); strings.Contains(h, owner) {
			t.Fatalf("holders of user.write on Globex before hank: %s", h)
		}
		if h := holders(admin, afterOwner); !strings.Contains(h, owner) || !strings.Contains(h, "instance.owner") {
			t.Fatalf("holders of user.write on Globex after hank, asked by the instance's owner: %s", h)
		}
		// Globex's owner sees what Globex's memberships gave, not the
		// instance's administrators.
		if h := holders(hankToken, afterOwner); !strings.Contains(h, owner) || strings.Contains(h, "instance.owner") {
			t.Fatalf("holders of user.write on Globex, asked by its owner: %s", h)
		}
		if code, _ := jsonCall(t, p.url, hankToken, http.MethodGet, "/v1/history/permissions/user.write/holders?organizationId="+orgID+"&time="+afterOwner, nil); code != http.StatusNotFound {
			t.Fatalf("holders on another organization, asked by Globex's owner: %d, want 404", code)
		}
		if code, _ := jsonCall(t, p.url, admin, http.MethodGet, "/v1/history/permissions/no.such/holders?time="+afterOwner, nil); code != http.StatusBadRequest {
			t.Fatalf("an unknown permission: %d, want 400", code)
		}
	})
}

// asList is a JSON array, or nothing.
func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
