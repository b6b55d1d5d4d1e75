package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/password"
)

// openDB connects to the database a backend's Castellan uses.
func openDB(t *testing.T, b backend) *database.DB {
	t.Helper()
	db := openEnvDB(t, b.env)
	t.Cleanup(func() { db.Close() })
	return db
}

// openEnvDB opens the database a server with the settings env uses.
func openEnvDB(tb testing.TB, env []string) *database.DB {
	tb.Helper()
	var url, dir string
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "CASTELLAN_DATABASE":
			url = v
		case "CASTELLAN_DATA_DIR":
			dir = v
		}
	}
	var db *database.DB
	var err error
	if url != "" {
		db, err = database.OpenPostgres(context.Background(), url)
	} else {
		db, err = database.OpenSQLite(filepath.Join(dir, "castellan.db"))
	}
	if err != nil {
		tb.Fatal(err)
	}
	return db
}

func count(t *testing.T, db *database.DB, table string) int {
	t.Helper()
	var n int
	if err := db.Reader().QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

type instanceRoot struct {
	Instance struct{ ID, Name, Domain string }
	Issuer   string
}

func rootOf(t *testing.T, p *proc) instanceRoot {
	t.Helper()
	status, body := get(t, http.DefaultClient, p.url+"/", "")
	if status != http.StatusOK {
		t.Fatalf("GET / = %d %s", status, body)
	}
	var r instanceRoot
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestFirstStartCreatesInstanceOnceAndRestartChangesNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		p := start(t, b.env)
		notice := firstStartLines(p.waitStdout(t, "shown only now"))
		if notice["Administrator"] != "admin" || len(notice["Password"]) != 20 || notice["API"] != p.url+"/" {
			t.Fatalf("first start notice incomplete: %q", p.stdout)
		}
		if notice["Sign in"] != p.url+"/ui/login/" {
			t.Fatalf("first start notice has no sign-in page: %q", p.stdout)
		}
		if status, body := get(t, http.DefaultClient, notice["Sign in"], "localhost"); status != http.StatusOK || !strings.Contains(body, `name="loginName"`) {
			t.Fatalf("the sign-in page printed at first start: %d %s", status, body)
		}
		root := rootOf(t, p)
		if root.Instance.Name != "Castellan" || root.Instance.Domain != "localhost" || root.Issuer != p.url {
			t.Fatalf("instance root: %+v", root)
		}
		if status, body := get(t, http.DefaultClient, p.url+"/", "tenant.example.com"); status != http.StatusNotFound || !strings.Contains(body, "tenant.example.com") {
			t.Fatalf("unknown host: %d %s", status, body)
		}

		db := openDB(t, b)
		var hash string
		var mustChange bool
		if err := db.Reader().QueryRow(`SELECT password_hash, password_change_required FROM users WHERE login_name = 'admin'`).Scan(&hash, &mustChange); err != nil {
			t.Fatal(err)
		}
		ok, err := password.NewHasher(password.OWASP, 1).Verify(context.Background(), notice["Password"], hash)
		if err != nil || !ok || !mustChange {
			t.Fatalf("printed password does not verify against the stored hash (ok=%v err=%v) or change not required (%v)", ok, err, mustChange)
		}
		if strings.Contains(p.stderr.String(), notice["Password"]) {
			t.Fatal("the generated password appeared in the log")
		}
		// The administrator's password was hashed in a hashing process
		// (passwords.isolated), which stays for the next sign-in.
		if runtime.GOOS == "linux" && len(childPIDs(p.cmd.Process.Pid)) == 0 {
			t.Fatal("no hashing process after the first start hashed a password")
		}
		events := count(t, db, "events")
		p.stop(t)

		again := start(t, b.env)
		if r := rootOf(t, again); r.Instance.ID != root.Instance.ID {
			t.Fatalf("restart changed the instance: %s -> %s", root.Instance.ID, r.Instance.ID)
		}
		if n := count(t, db, "events"); n != events {
			t.Fatalf("restart appended events: %d -> %d", events, n)
		}
		if n := count(t, db, "users"); n != 1 {
			t.Fatalf("%d users after restart, want 1", n)
		}
		again.stop(t) // Wait has copied all output once the process exited
		if strings.Contains(again.stdout.String(), "Password") {
			t.Fatalf("restart printed credentials again: %q", again.stdout)
		}
	})
}

func TestConfiguredAdministrator(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "castellan.yaml")
	if err := os.WriteFile(cfg, []byte("first_instance:\n  name: Acme\n  org_name: Acme Corp\n  admin:\n    login_name: root@acme.test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"CASTELLAN_DATA_DIR=" + dir, "CASTELLAN_CONFIG=" + cfg, "CASTELLAN_FIRST_INSTANCE_ADMIN_PASSWORD=Sup3r-Secret-Passw0rd"}
	p := start(t, env)
	out := p.waitStdout(t, "Password:")
	if !strings.Contains(out, "root@acme.test") || !strings.Contains(out, "as configured") || strings.Contains(out, "Sup3r") {
		t.Fatalf("notice: %q", out)
	}
	if r := rootOf(t, p); r.Instance.Name != "Acme" {
		t.Fatalf("instance name from the YAML file: %+v", r)
	}
	db := openDB(t, backend{env: env})
	var hash string
	var mustChange bool
	if err := db.Reader().QueryRow(`SELECT password_hash, password_change_required FROM users`).Scan(&hash, &mustChange); err != nil {
		t.Fatal(err)
	}
	if ok, _ := password.NewHasher(password.OWASP, 1).Verify(context.Background(), "Sup3r-Secret-Passw0rd", hash); !ok || mustChange {
		t.Fatalf("configured password: verifies=%v mustChange=%v", ok, mustChange)
	}
	if strings.Contains(p.stderr.String(), "Sup3r") {
		t.Fatal("configured password appeared in the log")
	}
}

func TestBadSettingsAreRejectedByName(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"fail/log format", []string{"CASTELLAN_LOG_FORMAT=xml"}, nil, "log.format (from CASTELLAN_LOG_FORMAT)"},
		{"fail/unknown variable", []string{"CASTELLAN_LISTN=:1"}, nil, "CASTELLAN_LISTN"},
		{"fail/bad flag value", nil, []string{"--shutdown-timeout", "soon"}, "shutdown_timeout (from --shutdown-timeout)"},
		{"fail/postgres without a master key", []string{"CASTELLAN_DATABASE=postgres://nobody:secretpw@127.0.0.1:1/none"}, nil, "keys.master is required with PostgreSQL"},
		{"fail/stray argument", nil, []string{"extra"}, "extra"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := castellan(t, append([]string{"CASTELLAN_DATA_DIR=" + dir}, tc.env...), append([]string{"start", "--listen", "127.0.0.1:0", "--external-url", "http://localhost:1"}, tc.args...)...)
			if err == nil {
				t.Fatal("castellan started with a bad setting")
			}
			if !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "secretpw") {
				t.Fatalf("error does not name %q (or leaks a secret):\n%s", tc.want, stderr)
			}
		})
	}
}

func TestServesHTTP2CleartextAndTLS(t *testing.T) {
	dir := t.TempDir()
	p := start(t, []string{"CASTELLAN_DATA_DIR=" + dir})
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	h2c := &http.Client{Transport: &http.Transport{Protocols: protocols}}
	resp, err := h2c.Get(p.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
		t.Fatalf("h2c: %s %d", resp.Proto, resp.StatusCode)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatal("security headers missing")
	}
	p.stop(t)

	certFile, keyFile, pool := selfSignedCert(t, dir)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	tp := startTLS(t, client, []string{"CASTELLAN_DATA_DIR=" + dir}, "--tls-cert-file", certFile, "--tls-key-file", keyFile)
	resp, err = client.Get(tp.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("TLS: %s %d HSTS=%q", resp.Proto, resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
}

// selfSignedCert writes a certificate for localhost and returns a pool
// that trusts it.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestMetrics(t *testing.T) {
	p := start(t, []string{"CASTELLAN_DATA_DIR=" + t.TempDir()})
	get(t, http.DefaultClient, p.url+"/", "")
	status, body := get(t, http.DefaultClient, p.url+"/metrics", "")
	for _, want := range []string{`castellan_http_requests_total{code="200",method="GET",route="GET /{$}"}`, "go_goroutines", "process_resident_memory_bytes", `castellan_eventstore_pushes_total{outcome="ok"}`} {
		if status != http.StatusOK || !strings.Contains(body, want) {
			t.Fatalf("/metrics lacks %s (status %d)", want, status)
		}
	}
}
