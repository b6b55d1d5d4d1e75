package e2e

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
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
		run("users", "lock", id)
		if got := run("users", "list", "--login-prefix", "grace"); !strings.Contains(got, "locked") {
			t.Fatalf("after lock:\n%s", got)
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
