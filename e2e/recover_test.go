package e2e

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// An operator who lost every owner's credentials recovers the instance
// with the server's database and keys: `castellan admin recover` restores
// an existing owner or creates a new one, prints one-time credentials, and
// the change is in the audit trail.
func TestBreakGlassRecovery(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		p := start(t, b.env)
		tokenLine := regexp.MustCompile(`(?m)^Personal access token \(valid 1h0m0s\): (cst_\S+)$`)
		passwordLine := regexp.MustCompile(`(?m)^One-time password \(must be changed at sign-in\): (\S{20})$`)

		out, stderr, err := castellan(t, b.env, "admin", "recover", "rescue")
		if err != nil || !strings.Contains(out, "Instance owner created: rescue") || !passwordLine.MatchString(out) {
			t.Fatalf("admin recover: %v\n%s\n%s", err, out, stderr)
		}
		m := tokenLine.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no token in:\n%s", out)
		}
		client := []string{"CASTELLAN_URL=" + p.url, "CASTELLAN_TOKEN=" + m[1]}
		me, stderr, err := castellan(t, client, "me")
		var who struct {
			LoginName string `json:"loginName"`
		}
		if err != nil || json.Unmarshal([]byte(me), &who) != nil || who.LoginName != "rescue" {
			t.Fatalf("me with the recovery token: %v %s %s", err, me, stderr)
		}
		// Only an instance owner creates organizations.
		if out, stderr, err := castellan(t, client, "orgs", "create", "Recovered Inc"); err != nil {
			t.Fatalf("the recovered owner creates an organization: %v %s %s", err, out, stderr)
		}

		// An existing user is restored, not duplicated.
		out, stderr, err = castellan(t, b.env, "admin", "recover", "admin")
		if err != nil || !strings.Contains(out, "Instance owner restored: admin") || !tokenLine.MatchString(out) {
			t.Fatalf("admin recover admin: %v\n%s\n%s", err, out, stderr)
		}

		// Bad input names the problem.
		if _, stderr, err := castellan(t, b.env, "admin", "recover"); err == nil || !strings.Contains(stderr, "LOGIN_NAME") {
			t.Fatalf("no login name: %v %s", err, stderr)
		}
	})
}
