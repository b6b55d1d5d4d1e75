package e2e

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// screenshotsDir is where TestScreenshots writes the hosted login's
// screenshots; empty, it skips. `make screenshots` sets it to
// docs/screenshots.
var screenshotsDir = flag.String("screenshots", "", "write the hosted login's screenshots (e2e/browser/screenshots.mjs) into this directory")

// TestScreenshots starts Castellan on SQLite, creates two users with a
// password (grace, shown in English, and emmy, in German) and runs
// e2e/browser/screenshots.mjs in headless Chromium, which gives each user
// an authenticator app (TOTP), opens self-registration and photographs
// the hosted login's main screens in light and dark, English and German.
// It runs only with -screenshots=DIR:
//
//	go test ./e2e -run '^TestScreenshots$' -count=1 -screenshots=$PWD/docs/screenshots
func TestScreenshots(t *testing.T) {
	if *screenshotsDir == "" {
		t.Skip("writes screenshots only with -screenshots=DIR (make screenshots)")
	}
	out, err := filepath.Abs(*screenshotsDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	chromium, node := browserPrerequisites(t)

	data := []string{"CASTELLAN_DATA_DIR=" + t.TempDir()}
	p := start(t, data)
	notice := firstStartLines(p.waitStdout(t, "shown only now"))
	admin, adminPassword := notice["Administrator"], notice["Password"]
	token, stderr, err := castellan(t, data, "tokens", "create", admin, "1h")
	token = strings.TrimSpace(token)
	if err != nil || !strings.HasPrefix(token, "cst_") {
		t.Fatalf("tokens create: %q %v\n%s", token, err, stderr)
	}
	client := []string{"CASTELLAN_URL=" + p.url, "CASTELLAN_TOKEN=" + token}
	orgID := meOrganization(t, client)

	password := "Screens-" + randomHex(t, 12)
	tokens := map[string]string{}
	for _, u := range []struct{ login, given, family string }{{"grace", "Grace", "Hopper"}, {"emmy", "Emmy", "Noether"}} {
		out, stderr, err := castellanStdin(t, client, password+"\n", "users", "create", "--org", orgID,
			"--login-name", u.login, "--email", u.login+"@example.com", "--password-stdin",
			"--traits", `{"profile": {"given_name": "`+u.given+`", "family_name": "`+u.family+`"}}`)
		if err != nil {
			t.Fatalf("users create %s: %v\n%s%s", u.login, err, out, stderr)
		}
		userToken, stderr, err := castellan(t, data, "tokens", "create", u.login, "1h")
		userToken = strings.TrimSpace(userToken)
		if err != nil || !strings.HasPrefix(userToken, "cst_") {
			t.Fatalf("tokens create %s: %q %v\n%s", u.login, userToken, err, stderr)
		}
		tokens[u.login] = userToken
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "screenshots.mjs")
	cmd.Dir = browserDir
	cmd.Env = append(cleanEnv(),
		"BASE_URL="+p.url,
		"ADMIN_LOGIN_NAME="+admin,
		"ADMIN_PASSWORD="+adminPassword,
		"API_TOKEN="+token,
		"USER_LOGIN_NAME=grace",
		"USER_PASSWORD="+password,
		"USER_TOKEN="+tokens["grace"],
		"DE_LOGIN_NAME=emmy",
		"DE_TOKEN="+tokens["emmy"],
		"SCREENSHOTS_DIR="+out,
		"CHROMIUM="+chromium,
		"NO_COLOR=1",
	)
	cmd.WaitDelay = 10 * time.Second
	log := &lineLogger{t: t}
	cmd.Stdout, cmd.Stderr = log, log
	err = cmd.Run()
	log.flush()
	if err != nil {
		t.Fatalf("screenshots.mjs: %v (its output is above)", err)
	}
}

// meOrganization is the organization of the caller of client's token.
func meOrganization(t *testing.T, client []string) string {
	t.Helper()
	out, stderr, err := castellan(t, client, "me")
	if err != nil {
		t.Fatalf("me: %v\n%s", err, stderr)
	}
	var me struct {
		OrganizationID string `json:"organizationId"`
	}
	if err := json.Unmarshal([]byte(out), &me); err != nil || me.OrganizationID == "" {
		t.Fatalf("me: %q %v", out, err)
	}
	return me.OrganizationID
}
