package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/notify/notifytest"
)

// browserDir holds the browser tests: *.test.mjs files run by node --test,
// driving Debian's Chromium with playwright-core (package.json pins it,
// package-lock.json locks it; scripts/test runs npm ci and installs
// Chromium).
const browserDir = "browser"

// browserTimeout bounds the whole node --test run.
const browserTimeout = 10 * time.Minute

// TestBrowser runs the browser tests (e2e/browser/*.test.mjs) in headless
// Chromium against a real Castellan on SQLite: the administrator printed
// at first start, a personal access token and a user with a password are
// passed to them in the environment (BASE_URL, ADMIN_LOGIN_NAME,
// ADMIN_PASSWORD, USER_LOGIN_NAME, USER_PASSWORD, API_TOKEN of the
// administrator, USER_TOKEN of the user, CHROMIUM). Castellan sends its
// email to a real SMTP server on loopback (notifytest.Mailbox), whose
// messages the tests read at MAILBOX_URL (serveMailbox), and its text
// messages to an SMS gateway on loopback that checks their Standard
// Webhooks signature, whose messages the tests read at SMS_URL
// (serveSMSGateway).
// BROWSER_TEST_NAME_PATTERN, when set, runs only the tests whose names
// match it (node --test-name-pattern); BROWSER_TEST_FILES, a
// comma-separated list of file names (magic_link.test.mjs), only those
// files.
//
// Without Chromium, Node.js or the node packages the test skips, saying
// what is missing; under CI=true it fails.
func TestBrowser(t *testing.T) {
	chromium, node := browserPrerequisites(t)
	files, err := filepath.Glob(filepath.Join(browserDir, "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no browser tests in e2e/%s (%v)", browserDir, err)
	}
	sort.Strings(files)
	if only := os.Getenv("BROWSER_TEST_FILES"); only != "" {
		files = slices.DeleteFunc(files, func(f string) bool { return !slices.Contains(strings.Split(only, ","), filepath.Base(f)) })
		if len(files) == 0 {
			t.Fatalf("BROWSER_TEST_FILES=%s names no browser test in e2e/%s", only, browserDir)
		}
	}

	box := notifytest.Start(t)
	mailboxURL := serveMailbox(t, box)
	smsSecret := randomHex(t, 16)
	smsGateway, smsURL := serveSMSGateway(t, smsSecret)
	data := []string{"CASTELLAN_DATA_DIR=" + t.TempDir()}
	p := start(t, append(slices.Clone(data), "CASTELLAN_NOTIFY_SMTP_HOST=127.0.0.1", "CASTELLAN_NOTIFY_SMTP_PORT="+strconv.Itoa(box.Port),
		"CASTELLAN_NOTIFY_SMS_WEBHOOK_URL="+smsGateway, "CASTELLAN_NOTIFY_SMS_WEBHOOK_SECRET="+smsSecret,
		"CASTELLAN_NOTIFY_SMTP_TLS=none", "CASTELLAN_NOTIFY_SMTP_FROM=Castellan <noreply@castellan.test>",
		// Every test posts from 127.0.0.1: the login's limit per client
		// address (60 forms a minute) would refuse a fast run.
		"CASTELLAN_SERVER_LOGIN_POSTS_PER_CLIENT=100000"))
	notice := firstStartLines(p.waitStdout(t, "shown only now"))
	admin, adminPassword := notice["Administrator"], notice["Password"]
	if admin == "" || adminPassword == "" {
		t.Fatalf("first start printed no administrator and password:\n%s", p.stdout)
	}
	token, stderr, err := castellan(t, data, "tokens", "create", admin, "1h")
	token = strings.TrimSpace(token)
	if err != nil || !strings.HasPrefix(token, "cst_") {
		t.Fatalf("tokens create: %q %v\n%s", token, err, stderr)
	}
	client := []string{"CASTELLAN_URL=" + p.url, "CASTELLAN_TOKEN=" + token}

	// A user of the administrator's organization whose password needs no
	// change, for the tests that must leave the administrator alone.
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
	userPassword := "Browser-" + randomHex(t, 12)
	out, stderr, err = castellanStdin(t, client, userPassword+"\n", "users", "create", "--org", me.OrganizationID,
		"--login-name", "grace", "--email", "grace@example.com", "--password-stdin",
		"--traits", `{"profile": {"given_name": "Grace", "family_name": "Hopper"}}`)
	if err != nil {
		t.Fatalf("users create: %v\n%s%s", err, out, stderr)
	}
	// Administrators make tokens for machine users only; the server's own
	// command makes one for a person.
	userToken, stderr, err := castellan(t, data, "tokens", "create", "grace", "1h")
	userToken = strings.TrimSpace(userToken)
	if err != nil || !strings.HasPrefix(userToken, "cst_") {
		t.Fatalf("tokens create grace: %q %v\n%s", userToken, err, stderr)
	}

	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	args := []string{"--test", "--test-concurrency=1", "--test-reporter=spec", "--test-timeout=120000"}
	if pattern := os.Getenv("BROWSER_TEST_NAME_PATTERN"); pattern != "" {
		args = append(args, "--test-name-pattern="+pattern)
	}
	for _, f := range files {
		args = append(args, filepath.Base(f))
	}
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = browserDir
	cmd.Env = append(cleanEnv(),
		"BASE_URL="+p.url,
		"ADMIN_LOGIN_NAME="+admin,
		"ADMIN_PASSWORD="+adminPassword,
		"USER_LOGIN_NAME=grace",
		"USER_PASSWORD="+userPassword,
		"API_TOKEN="+token,
		"USER_TOKEN="+userToken,
		"CHROMIUM="+chromium,
		"MAILBOX_URL="+mailboxURL,
		"SMS_URL="+smsURL,
		"NO_COLOR=1",
	)
	cmd.WaitDelay = 10 * time.Second // Chromium may hold the pipes after node is killed
	log := &lineLogger{t: t}
	cmd.Stdout, cmd.Stderr = log, log
	t.Logf("%s %s (in e2e/%s)", node, strings.Join(args, " "), browserDir)
	err = cmd.Run()
	log.flush()
	if ctx.Err() != nil {
		t.Fatalf("browser tests did not finish within %v", browserTimeout)
	}
	if err != nil {
		t.Fatalf("browser tests failed: %v (node's output is above)", err)
	}
}

// serveMailbox serves the messages of box to the browser tests, on
// loopback: GET answers a JSON array of the messages accepted so far,
// oldest first, each {"to", "subject", "body"} with its body decoded
// (quoted-printable, as Castellan sends them; a multipart body whole).
func serveMailbox(t *testing.T, box *notifytest.Mailbox) string {
	t.Helper()
	type message struct {
		To      string `json:"to"`
		Subject string `json:"subject"`
		Body    string `json:"body"`
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := []message{}
		for _, raw := range box.Messages() {
			m, err := mail.ReadMessage(strings.NewReader(raw))
			if err != nil {
				continue
			}
			// The body whole, each part of multipart/alternative
			// quoted-printable as Castellan writes them.
			raw, err := io.ReadAll(m.Body)
			if err != nil {
				continue
			}
			body, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
			if err != nil {
				body = raw
			}
			subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
			if err != nil {
				subject = m.Header.Get("Subject")
			}
			out = append(out, message{To: m.Header.Get("To"), Subject: subject, Body: string(body)})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// serveSMSGateway runs an SMS gateway on loopback as Castellan's SMS
// webhook expects one (notify.SMSWebhook): it accepts a POST of {"to",
// "text"} whose webhook-signature is the Standard Webhooks HMAC-SHA256
// under secret, and refuses others with 401. It returns the gateway's URL
// and the URL where the tests read the accepted messages (GET: a JSON
// array of {"to", "text"}, oldest first).
func serveSMSGateway(t *testing.T, secret string) (gateway, messages string) {
	t.Helper()
	type text struct {
		To   string `json:"to"`
		Text string `json:"text"`
	}
	var mu sync.Mutex
	got := []text{}
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil || r.Method != http.MethodPost {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(r.Header.Get("webhook-id") + "." + r.Header.Get("webhook-timestamp") + "." + string(body)))
		want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		if !hmac.Equal([]byte(r.Header.Get("webhook-signature")), []byte(want)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var m text
		if err := json.Unmarshal(body, &m); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}))
	t.Cleanup(gw.Close)
	list := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(got)
	}))
	t.Cleanup(list.Close)
	return gw.URL, list.URL
}

// browserPrerequisites returns Chromium's and node's paths, or skips the
// test (fails it under CI=true) when they or the locked node packages are
// missing.
func browserPrerequisites(t *testing.T) (chromium, node string) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...) + "; scripts/test installs what the browser tests need (apt-get install chromium as root, npm ci in e2e/browser)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("browser tests skip: " + msg)
	}
	chromium = os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if info, err := os.Stat(chromium); err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		missing("Chromium is not installed at %s (set CHROMIUM to use another)", chromium)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("Node.js (node) is not on PATH")
	}
	if err := lockedPackagesInstalled(browserDir); err != nil {
		missing("%v", err)
	}
	return chromium, node
}

// lockedPackagesInstalled checks that node_modules holds every package of
// package-lock.json at its locked version.
func lockedPackagesInstalled(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return err
	}
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		return fmt.Errorf("e2e/%s/package-lock.json: %w", dir, err)
	}
	for path, pkg := range lock.Packages {
		if path == "" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, path, "package.json"))
		if err != nil {
			return fmt.Errorf("e2e/%s/%s is not installed", dir, path)
		}
		var installed struct {
			Version string `json:"version"`
		}
		if err := json.Unmarshal(b, &installed); err != nil || installed.Version != pkg.Version {
			return fmt.Errorf("e2e/%s/%s is %q, package-lock.json locks %s", dir, path, installed.Version, pkg.Version)
		}
	}
	return nil
}

// lineLogger writes a process's output to the test log line by line, as
// it comes.
type lineLogger struct {
	t   *testing.T
	mu  sync.Mutex
	buf []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := strings.IndexByte(string(l.buf), '\n')
		if i < 0 {
			break
		}
		l.t.Log(strings.TrimRight(string(l.buf[:i]), "\r"))
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

func (l *lineLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.t.Log(string(l.buf))
		l.buf = nil
	}
}

// castellanStdin is castellan with input on standard input.
func castellanStdin(t testing.TB, env []string, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
