package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/pairbench"
)

// The hosted login's benchmarks (docs/benchmarks.md, "Hosted login") run
// the real binary with the default configuration, like the Session API's
// in session_bench_test.go, and go through the pages as a browser does:
// GET the page, read the form's CSRF token, POST the form with the CSRF
// cookie, follow the redirect.

// pageWeightGoal is the most the sign-in page may weigh, in bytes of HTML
// and the CSS and JavaScript it loads, without the branding's logo.
const pageWeightGoal = 50_000

// staticPageServer builds and starts the render benchmark's reference:
// the smallest Go HTTP server, answering every request with page as
// text/html from memory. It returns the server's URL.
func staticPageServer(b *testing.B, page []byte) string {
	b.Helper()
	dir := b.TempDir()
	src := `package main

import (
	"net/http"
	"os"
)

func main() {
	page, err := os.ReadFile(os.Args[2])
	if err != nil {
		panic(err)
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	})
	http.ListenAndServe("127.0.0.1:"+os.Args[1], nil)
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "page.html"), page, 0o600); err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(dir, "static")
	build := exec.Command("go", "build", "-o", bin, "main.go")
	build.Dir = dir
	build.Env = append(os.Environ(), "GO111MODULE=off")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build reference server: %v\n%s", err, out)
	}
	port := freePort(b)
	cmd := exec.Command(bin, fmt.Sprint(port), filepath.Join(dir, "page.html"))
	cmd.Env = benchEnv()
	u := fmt.Sprintf("http://127.0.0.1:%d/", port)
	startAndWait(b, cmd, u)
	b.Cleanup(func() { stopProcess(cmd) })
	return u
}

// getPage GETs a URL with client and returns its body; any status but 200
// is an error.
func getPage(client *http.Client, u string) ([]byte, error) {
	resp, err := client.Get(u)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %d %s", u, resp.StatusCode, body)
	}
	return body, err
}

// BenchmarkLoginPageRender measures GET /ui/login/, the sign-in page, as a
// browser's first visit (no cookie: each answer sets a new CSRF cookie and
// renders a new token and nonce) against the same bytes from a static Go
// HTTP server (staticPageServer), alternately (pairbench.Alternate): sides
// page and static. Both keep their connection alive; the server runs the
// default configuration on all cores.
func BenchmarkLoginPageRender(b *testing.B) {
	s := startSignInServer(b)
	client := &http.Client{Transport: &http.Transport{}}
	b.Cleanup(client.CloseIdleConnections)
	page, err := getPage(client, s.url+"/ui/login/")
	if err != nil {
		b.Fatal(err)
	}
	ref := staticPageServer(b, page)
	for range 200 { // warm up both: templates, connections
		if _, err := getPage(client, s.url+"/ui/login/"); err != nil {
			b.Fatal(err)
		}
		if _, err := getPage(client, ref); err != nil {
			b.Fatal(err)
		}
	}
	pairbench.Alternate(b, "page", func(int) error {
		_, err := getPage(client, s.url+"/ui/login/")
		return err
	}, "static", func(int) error {
		_, err := getPage(client, ref)
		return err
	})
	b.ReportMetric(float64(len(page)), "page-bytes")
}

var (
	csrfField  = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	stylesheet = regexp.MustCompile(`<link[^>]*\srel="stylesheet"[^>]*\shref="([^"]+)"`)
	scriptSrc  = regexp.MustCompile(`<script[^>]*\ssrc="([^"]+)"`)
)

// formsAddresses is how many loopback addresses formsClient dials from.
// The login allows 60 posts a minute per client address (internal/login,
// postsPerClient): a benchmark from one address would measure that limit.
// 256 addresses keep each under 60 up to about 7,000 sign-ins a minute
// (two posts each); with the 16 users of the benchmarks, taken in turn,
// each user signs in from 16 addresses (its devices, to the server).
const formsAddresses = 256

// formsClient is the nth browser: its own cookie jar and connection,
// dialled from loopback address 127.1.(n mod formsAddresses).1.
func formsClient(b *testing.B, server string, n int) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	u, err := url.Parse(server)
	if err != nil {
		b.Fatal(err)
	}
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 1, byte(n%formsAddresses), 1)}}
	transport := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		// The URL's host is localhost, the instance's domain; the server
		// listens on 127.0.0.1.
		return dialer.DialContext(ctx, "tcp4", "127.0.0.1:"+u.Port())
	}}
	return &http.Client{Jar: jar, Transport: transport}
}

// postForm posts a form with the CSRF token of page, follows the redirect
// and returns the page it ends on, and its path.
func postForm(client *http.Client, u string, page []byte, fields url.Values) ([]byte, string, error) {
	m := csrfField.FindSubmatch(page)
	if m == nil {
		return nil, "", fmt.Errorf("no CSRF token in the page before POST %s:\n%s", u, page)
	}
	fields.Set("csrf", string(m[1]))
	resp, err := client.PostForm(u, fields)
	if err != nil {
		return nil, "", err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("POST %s: %d %s", u, resp.StatusCode, body)
	}
	return body, resp.Request.URL.Path, err
}

// signInThroughForms signs loginName in through the hosted login's forms:
// GET the name page, POST the name (→ 303, GET the password page), POST
// the password (→ 303, GET the signed-in page). Five requests.
func signInThroughForms(client *http.Client, server, loginName, password string) error {
	page, err := getPage(client, server+"/ui/login/")
	if err != nil {
		return err
	}
	page, path, err := postForm(client, server+"/ui/login/", page, url.Values{"loginName": {loginName}})
	if err != nil {
		return err
	}
	if path != "/ui/login/password" {
		return fmt.Errorf("after the login name: %s, not the password page", path)
	}
	page, path, err = postForm(client, server+"/ui/login/password", page, url.Values{"username": {loginName}, "password": {password}})
	if err != nil {
		return err
	}
	if path != "/ui/login/done" || !bytes.Contains(page, []byte("<h1>Signed in</h1>")) {
		return fmt.Errorf("after the password: %s, not signed in:\n%s", path, page)
	}
	return nil
}

// loginUsers creates n users with a password in the administrator's
// organization, login names bench0 … bench(n-1), through the CLI.
func loginUsers(b *testing.B, s *signInServer, n int) []string {
	b.Helper()
	client := []string{"CASTELLAN_URL=" + s.url, "CASTELLAN_TOKEN=" + s.token}
	out, stderr, err := castellan(b, client, "me")
	if err != nil {
		b.Fatalf("me: %v\n%s", err, stderr)
	}
	var me struct {
		OrganizationID string `json:"organizationId"`
	}
	if err := json.Unmarshal([]byte(out), &me); err != nil || me.OrganizationID == "" {
		b.Fatalf("me: %q %v", out, err)
	}
	var names []string
	for i := range n {
		name := fmt.Sprintf("bench%d", i)
		out, stderr, err := castellanStdin(b, client, s.password+"\n", "users", "create", "--org", me.OrganizationID,
			"--login-name", name, "--email", name+"@example.com", "--password-stdin",
			"--traits", `{"profile": {"given_name": "Bench", "family_name": "Mark"}}`)
		if err != nil {
			b.Fatalf("users create: %v\n%s%s", err, out, stderr)
		}
		names = append(names, name)
	}
	return names
}

// loginWindow is the length of each side's turn in
// BenchmarkLoginPasswordSignIns.
const loginWindow = 3 * time.Second

// BenchmarkLoginPasswordSignIns measures full password sign-ins through
// the hosted login's forms (signInThroughForms: five requests, a fresh
// cookie jar and connection each) per second, from 4 clients per core,
// against raw argon2id verifications per second at the same parameters
// on as many cores, alternately: per iteration, loginWindow of sign-ins,
// then loginWindow of the reference — one argon2Child (GOMAXPROCS=1) per
// core, all verifying at once — the reference first on odd iterations.
// The server runs the default configuration on all cores (hashing slots:
// one per core). The users are 16 (bench0 …), signed in in turn: a user's
// sign-in reads all its events, which grow with its sign-ins.
//
// It reports both rates and their ratio (1 when the login adds nothing to
// the hash), and the same from CPU time: the server's CPU time per
// sign-in and the reference's per verification.
func BenchmarkLoginPasswordSignIns(b *testing.B) {
	params := defaultArgon2(b)
	cores := runtime.NumCPU()
	s := startSignInServer(b)
	users := loginUsers(b, s, 16)
	refs := make([]*argon2Child, cores)
	for i := range refs {
		refs[i] = startArgon2Child(b, params)
		refs[i].run(b, "3")
	}
	var next atomic.Int64
	signIn := func() error {
		n := int(next.Add(1))
		client := formsClient(b, s.url, n)
		defer client.CloseIdleConnections()
		return signInThroughForms(client, s.url, users[n%len(users)], s.password)
	}
	for range 2 * len(users) { // warm up: every user once, the timing hash
		if err := signIn(); err != nil {
			b.Fatal(err)
		}
	}
	clients := 4 * cores
	var signIns, verifications int
	var signInWall, signInCPU, refWall, refCPU time.Duration
	runSignIns := func() {
		var done atomic.Int64
		var wg sync.WaitGroup
		cpu, _ := pidCPU(b, s.cmd.Process.Pid)
		began := time.Now()
		for range clients {
			wg.Go(func() {
				for time.Since(began) < loginWindow {
					if err := signIn(); err != nil {
						b.Error(err)
						return
					}
					done.Add(1)
				}
			})
		}
		wg.Wait()
		signInWall += time.Since(began)
		after, _ := pidCPU(b, s.cmd.Process.Pid)
		signInCPU += after - cpu
		signIns += int(done.Load())
	}
	runReference := func() {
		var wg sync.WaitGroup
		var mu sync.Mutex
		began := time.Now()
		for _, ref := range refs {
			wg.Go(func() {
				n, _, cpu, _ := ref.run(b, "for "+loginWindow.String())
				mu.Lock()
				verifications += n
				refCPU += cpu
				mu.Unlock()
			})
		}
		wg.Wait()
		refWall += time.Since(began)
	}
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 1 {
			runReference()
		}
		runSignIns()
		if i%2 == 0 {
			runReference()
		}
		if b.Failed() {
			b.FailNow()
		}
	}
	b.StopTimer()
	signInRate := float64(signIns) / signInWall.Seconds()
	refRate := float64(verifications) / refWall.Seconds()
	perSignIn := float64(signInCPU) / float64(signIns) / 1e6
	perVerification := float64(refCPU) / float64(verifications) / 1e6
	b.ReportMetric(float64(cores), "cores")
	b.ReportMetric(signInRate, "sign-ins/s")
	b.ReportMetric(refRate, "argon2id/s")
	b.ReportMetric(signInRate/refRate, "ratio")
	b.ReportMetric((refRate/signInRate-1)*100, "overhead-%")
	b.ReportMetric(perSignIn, "cpu-ms/sign-in")
	b.ReportMetric(perVerification, "cpu-ms/argon2id")
	b.ReportMetric((perSignIn/perVerification-1)*100, "cpu-overhead-%")
}

// BenchmarkLoginPasswordSignInLatency measures one client signing in
// through the forms (signInThroughForms), one sign-in after another,
// against one raw argon2id verification at the same parameters in the
// reference process, alternately (pairbench.Alternate): sides sign-in and
// argon2id. The server runs the default configuration on all cores.
func BenchmarkLoginPasswordSignInLatency(b *testing.B) {
	s := startSignInServer(b)
	users := loginUsers(b, s, 16)
	ref := startArgon2Child(b, defaultArgon2(b))
	n := 0
	signIn := func(int) error {
		n++
		client := formsClient(b, s.url, n)
		defer client.CloseIdleConnections()
		return signInThroughForms(client, s.url, users[n%len(users)], s.password)
	}
	for range 2 * len(users) {
		if err := signIn(0); err != nil {
			b.Fatal(err)
		}
	}
	ref.run(b, "3")
	pairbench.Alternate(b, "sign-in", signIn, "argon2id", func(int) error {
		ref.run(b, "1")
		return nil
	})
}

// pageWeight is the bytes a browser loads for a page of the login: its
// HTML and the stylesheets and scripts it references (images, the
// branding's logo and icons, are left out), as sent (no compression
// asked), and the same compressed with gzip at the default level here.
type pageWeight struct {
	html, css, js, gzipped int
}

func (w pageWeight) total() int { return w.html + w.css + w.js }

// weighPage GETs a page of the server and what it references.
func weighPage(client *http.Client, server, path string) (pageWeight, error) {
	var w pageWeight
	html, err := getPage(client, server+path)
	if err != nil {
		return w, err
	}
	w.html = len(html)
	all := bytes.Clone(html)
	for _, ref := range []struct {
		re   *regexp.Regexp
		size *int
	}{{stylesheet, &w.css}, {scriptSrc, &w.js}} {
		for _, m := range ref.re.FindAllSubmatch(html, -1) {
			body, err := getPage(client, server+string(m[1]))
			if err != nil {
				return w, err
			}
			*ref.size += len(body)
			all = append(all, body...)
		}
	}
	if w.css == 0 {
		return w, errors.New("the page references no stylesheet")
	}
	// Each file is compressed alone over HTTP; together is close enough
	// for the order of magnitude and never larger.
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, _ = zw.Write(all)
	_ = zw.Close()
	w.gzipped = z.Len()
	return w, nil
}

// loginPages are the pages weighed: the sign-in page (login name) and the
// passkey page, the one that loads a script.
var loginPages = []struct{ name, path string }{
	{"sign-in", "/ui/login/"},
	{"passkey", "/ui/login/passkey"},
}

// BenchmarkLoginPageWeight reports the bytes of the sign-in page and of
// the passkey page (weighPage) against pageWeightGoal. It times nothing.
func BenchmarkLoginPageWeight(b *testing.B) {
	s := startSignInServer(b)
	client := &http.Client{}
	for range b.N {
		for _, p := range loginPages {
			w, err := weighPage(client, s.url, p.path)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(w.html), p.name+"-html-bytes")
			b.ReportMetric(float64(w.css), p.name+"-css-bytes")
			b.ReportMetric(float64(w.js), p.name+"-js-bytes")
			b.ReportMetric(float64(w.total()), p.name+"-bytes")
			b.ReportMetric(float64(w.gzipped), p.name+"-gzip-bytes")
		}
	}
	b.ReportMetric(pageWeightGoal, "goal-bytes")
}

// TestLoginPageWeight checks that the sign-in page and the passkey page
// weigh less than pageWeightGoal, HTML, CSS and JavaScript together,
// without the logo.
func TestLoginPageWeight(t *testing.T) {
	p := start(t, []string{"CASTELLAN_DATA_DIR=" + t.TempDir()})
	for _, page := range loginPages {
		w, err := weighPage(&http.Client{}, p.url, page.path)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s page: %d bytes (HTML %d, CSS %d, JavaScript %d; %d with gzip)", page.name, w.total(), w.html, w.css, w.js, w.gzipped)
		if w.total() >= pageWeightGoal {
			t.Errorf("the %s page weighs %d bytes, the goal is under %d", page.name, w.total(), pageWeightGoal)
		}
	}
	if strings.Contains(p.stderr.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", p.stderr)
	}
}
