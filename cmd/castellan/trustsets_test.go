package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/oauth/trustset/certtest"
)

// The trust-sets commands against a real API: create from a CA file,
// list, publish a CRL with update (the rest stays), make it the default,
// get as JSON, delete; a file that is not PEM is the server's
// invalid_argument.
func TestTrustSetsCommands(t *testing.T) {
	withoutSettings(t)
	env := apitest.Start(t, func(a *app.App, auth *authn.Authenticator) []api.Service { return a.Services(version) })
	t.Setenv("CASTELLAN_TOKEN", env.AdminToken)
	t.Setenv("CASTELLAN_URL", env.URL)
	dir := t.TempDir()
	ca := certtest.NewCA(t, "Example Bank Root")
	revoked := ca.Issue(t, certtest.Options{})
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	caFile, crlFile, junk := write("ca.pem", ca.PEM()), write("crl.pem", ca.CRL(t, time.Now().Add(time.Hour), revoked)), write("junk.pem", "not a certificate")

	out, _, err := castellan(t, "trust-sets", "create", "Banks", caFile)
	if err != nil || !strings.Contains(out, "Banks") || !strings.Contains(out, "false    1             0") {
		t.Fatalf("trust-sets create: %v\n%s", err, out)
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	if out, _, err := castellan(t, "trust-sets", "list"); err != nil || !strings.Contains(out, id) {
		t.Fatalf("trust-sets list: %v\n%s", err, out)
	}
	if out, _, err := castellan(t, "trust-sets", "update", id, "--crls", crlFile, "--default=true"); err != nil || !strings.Contains(out, "Banks  true     1             1") {
		t.Fatalf("trust-sets update: %v\n%s", err, out)
	}
	out, _, err = castellan(t, "trust-sets", "get", id)
	var got struct {
		Name, Certificates, Crls string
		Default                  bool
	}
	if err != nil || json.Unmarshal([]byte(out), &got) != nil || got.Name != "Banks" || got.Certificates != ca.PEM() || !strings.Contains(got.Crls, "X509 CRL") || !got.Default {
		t.Fatalf("trust-sets get: %v\n%s", err, out)
	}
	if out, _, err := castellan(t, "trust-sets", "update", id, "--no-crls", "--name", "Banks EU"); err != nil || !strings.Contains(out, "Banks EU  true     1             0") {
		t.Fatalf("trust-sets update --no-crls: %v\n%s", err, out)
	}
	_, _, err = castellan(t, "trust-sets", "create", "Junk", junk)
	if msg, ok := describeAPIError(err); !ok || !strings.HasPrefix(msg, "invalid_argument: certificates") {
		t.Fatalf("a file that is not PEM: %v (%q)", err, msg)
	}
	if _, _, err := castellan(t, "trust-sets", "update", id, "--crls", crlFile, "--no-crls"); err == nil || !strings.Contains(err.Error(), "exclude each other") {
		t.Fatalf("--crls with --no-crls: %v", err)
	}
	if _, _, err := castellan(t, "trust-sets", "delete", id); err != nil {
		t.Fatalf("trust-sets delete: %v", err)
	}
	if out, _, err := castellan(t, "trust-sets", "list"); err != nil || strings.Contains(out, id) {
		t.Fatalf("trust-sets list after delete: %v\n%s", err, out)
	}
}
