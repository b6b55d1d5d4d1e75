package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// An administrator drives Castellan from a shell: a bootstrap token on
// the server, then the API client commands.
func TestAdministrationThroughTheCLI(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		p := start(t, b.env)
		token, stderr, err := castellan(t, b.env, "tokens", "create", "admin", "1h")
		token = strings.TrimSpace(token)
		if err != nil || !strings.HasPrefix(token, "cst_") {
			t.Fatalf("tokens create: %q %v\n%s", token, err, stderr)
		}
		client := []string{"CASTELLAN_URL=" + p.url, "CASTELLAN_TOKEN=" + token}
		run := func(args ...string) string {
			t.Helper()
			out, stderr, err := castellan(t, client, args...)
			if err != nil {
				t.Fatalf("castellan %v: %v\n%s", args, err, stderr)
			}
			return out
		}
		var me struct {
			ID             string `json:"id"`
			OrganizationID string `json:"organizationId"`
			LoginName      string `json:"loginName"`
		}
		if err := json.Unmarshal([]byte(run("me")), &me); err != nil || me.LoginName != "admin" {
			t.Fatalf("me: %+v %v", me, err)
		}
		id := strings.TrimSpace(run("users", "create", "--org", me.OrganizationID, "--type", "human", "--login-name", "grace",
			"--email", "grace@example.com", "--traits", `{"profile": {"given_name": "Grace", "family_name": "Hopper"}}`))
		if !regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(id) {
			t.Fatalf("users create printed %q", id)
		}
		list := run("users", "list", "--login-prefix", "gr")
		if !strings.Contains(list, id) || !strings.Contains(list, "grace") || !strings.Contains(list, "(1 of 1)") {
			t.Fatalf("users list:\n%s", list)
		}
		if got := run("users", "get", id); !strings.Contains(got, `"Hopper"`) {
			t.Fatalf("users get:\n%s", got)
		}
		if got := run("users", "list", "--login-prefix", "grace"); !strings.Contains(got, "initial") {
			t.Fatalf("a user without a password starts initial:\n%s", got)
		}
		run("users", "deactivate", id)
		if got := run("users", "list", "--login-prefix", "grace"); !strings.Contains(got, "inactive") {
			t.Fatalf("after deactivate:\n%s", got)
		}
		// Organizations and members.
		orgID := strings.TrimSpace(run("orgs", "create", "Globex"))
		if got := run("orgs", "list"); !strings.Contains(got, orgID) || !strings.Contains(got, "Globex") || !strings.Contains(got, "Castellan") {
			t.Fatalf("orgs list:\n%s", got)
		}
		run("orgs", "add-domain", orgID, "globex.example")
		if got := run("orgs", "request-verification", orgID, "globex.example", "dns"); !strings.Contains(got, "_castellan-challenge.globex.example") {
			t.Fatalf("request-verification:\n%s", got)
		}
		run("orgs", "add-member", orgID, id, "org.user_manager")
		if got := run("orgs", "get", orgID); !strings.Contains(got, "globex.example") {
			t.Fatalf("orgs get:\n%s", got)
		}
		// User types: a custom schema from a file, checked before use.
		schema := filepath.Join(t.TempDir(), "employee.json")
		if err := os.WriteFile(schema, []byte(`{"type": "object", "permission": {"self": "r", "admin": "rw"}, "required": ["employee_id"],
			"properties": {"employee_id": {"type": "string", "pattern": "^E[0-9]{4}$", "unique": "org"}}}`), 0o600); err != nil {
			t.Fatal(err)
		}
		run("user-types", "create", "employee", schema)
		if got := run("user-types", "list"); !strings.Contains(got, "employee") || !strings.Contains(got, "human") || !strings.Contains(got, "machine") {
			t.Fatalf("user-types list:\n%s", got)
		}
		if got := run("user-types", "validate", "employee", `{"employee_id": "E0001"}`); !strings.Contains(got, "valid under revision 1") {
			t.Fatalf("validate:\n%s", got)
		}
		out, stderr, err := castellan(t, client, "user-types", "validate", "employee", `{"employee_id": "X"}`)
		if err == nil || !strings.Contains(out, "/employee_id") || !strings.Contains(stderr, "not valid") {
			t.Fatalf("invalid traits: %v\n%s\n%s", err, out, stderr)
		}
		run("users", "create", "--org", orgID, "--type", "employee", "--login-name", "e1", "--traits", `{"employee_id": "E0001"}`)

		// A bulk import with a password hash from another system.
		hash, err := bcrypt.GenerateFromPassword([]byte("imported secret"), 10)
		if err != nil {
			t.Fatal(err)
		}
		lines := fmt.Sprintf("{\"loginName\": \"legacy-1\", \"passwordHash\": %q, \"email\": \"l1@example.com\"}\n", hash) +
			"{\"loginName\": \"legacy-2\", \"password\": \"a plain one, hashed on import\"}\n" +
			"{\"loginName\": \"legacy 3\"}\n"
		file := filepath.Join(t.TempDir(), "users.jsonl")
		if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
			t.Fatal(err)
		}
		out, stderr, err = castellan(t, client, "users", "import", "--org", me.OrganizationID, file)
		if err == nil || !strings.Contains(out, "imported 2 users, 1 failed") || !strings.Contains(stderr, "line 3 (legacy 3): loginName") || !strings.Contains(stderr, "3/3 users") {
			t.Fatalf("users import: %v\n%s\n%s", err, out, stderr)
		}

		// The same API over plain REST.
		req, _ := http.NewRequest(http.MethodGet, p.url+"/v1/users/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("REST GET user: %s", resp.Status)
		}
		// Bad input is refused by name, and nothing is created.
		_, stderr, err = castellan(t, client, "users", "create", "--org", me.OrganizationID, "--login-name", "GRACE")
		if err == nil || !strings.Contains(stderr, "loginName") {
			t.Fatalf("duplicate login name: %v\n%s", err, stderr)
		}
		_, stderr, err = castellan(t, []string{"CASTELLAN_URL=" + p.url, "CASTELLAN_TOKEN=cst_forged"}, "me")
		if err == nil || !strings.Contains(stderr, "unauthenticated") {
			t.Fatalf("forged token: %v\n%s", err, stderr)
		}
	})
}
