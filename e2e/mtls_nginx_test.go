package e2e

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/oauth/trustset/certtest"
)

// nginxConf is a reverse proxy on loopback that terminates TLS, verifies
// client certificates against the bank's CA and forwards the verified
// certificate ($ssl_client_escaped_cert) to Castellan from 127.0.0.2, the
// only address Castellan trusts.
const nginxConf = `%s
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path %[2]s/body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	server {
		listen 127.0.0.1:%[3]d ssl;
		server_name localhost;
		ssl_certificate %[2]s/server.pem;
		ssl_certificate_key %[2]s/server.key;
		ssl_client_certificate %[2]s/clients-ca.pem;
		ssl_verify_client optional;
		location / {
			proxy_pass http://127.0.0.1:%[4]d;
			proxy_bind 127.0.0.2;
			proxy_set_header Host $http_host;
			proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
		}
	}
}
`

// Castellan behind Debian's nginx: nginx verifies the client certificate
// and forwards it; Castellan, trusting only nginx's address, issues a
// token bound to it. The same header sent directly from an address that
// is not a trusted proxy is ignored, logged and counted.
func TestMTLSBehindNginx(t *testing.T) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nginx is required under CI (scripts/test installs Debian's nginx)")
		}
		t.Skip("nginx is not installed (apt-get install nginx, or run scripts/test as root): skipping the reverse-proxy test")
	}
	eachBackend(t, func(t *testing.T, b backend) {
		e := newMTLSEnv(t)
		serverCA := certtest.NewCA(t, "Proxy Server Root")
		srvCert := serverCA.Issue(t, certtest.Options{Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"}, Server: true})
		nport := freePort(t)
		// Castellan serves plain HTTP behind the proxy; its issuer is the
		// proxy's URL.
		p := start(t, b.env, "--external-url", fmt.Sprintf("https://localhost:%d", nport), "--mtls-proxy-header-format", "nginx",
			"--mtls-trusted-proxies", "127.0.0.2/32")
		setupMTLS(t, p, b, e)
		_, cport, _ := net.SplitHostPort(strings.TrimPrefix(p.url, "http://"))

		dir := e.dir
		for _, d := range []string{"body", "proxy", "fastcgi", "uwsgi", "scgi"} {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		writeFile(t, dir, "server.pem", srvCert.PEM())
		writeFile(t, dir, "server.key", srvCert.KeyPEM(t))
		writeFile(t, dir, "clients-ca.pem", e.bank.PEM())
		user := ""
		if os.Geteuid() == 0 {
			user = "user root;" // its workers read the test's private directory
		}
		var port int
		fmt.Sscan(cport, &port)
		conf := writeFile(t, dir, "nginx.conf", fmt.Sprintf(nginxConf, user, dir, nport, port))
		// Its output goes to a file, not a pipe its workers would hold
		// open; it runs in a process group of its own, killed whole.
		out, err := os.Create(filepath.Join(dir, "nginx.out"))
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		cmd := exec.Command(nginx, "-c", conf, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
		cmd.Stdout, cmd.Stderr = out, out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			if t.Failed() {
				o, _ := os.ReadFile(filepath.Join(dir, "nginx.out"))
				log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
				t.Logf("nginx:\n%s\n%s", o, log)
			}
		})
		roots := x509.NewCertPool()
		roots.AddCert(serverCA.Cert.Cert)
		proxyURL := fmt.Sprintf("https://localhost:%d", nport)
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := tlsClient(roots, nil).Get(proxyURL + "/healthz")
			if err == nil {
				resp.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("nginx did not start: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}

		// Through nginx: a bound token for the verified certificate.
		good := tlsClient(roots, &e.good)
		code, body := tokenRequest(t, good, proxyURL+"/oauth/v2/token", e.pki.ClientID, nil)
		if code != http.StatusOK {
			t.Fatalf("through nginx: %d %v", code, body)
		}
		if got := cnfOf(t, good, proxyURL, body["access_token"].(string)); got != thumbprint(e.good.Cert) {
			t.Fatalf("cnf x5t#S256 = %q, want %q", got, thumbprint(e.good.Cert))
		}
		// nginx refuses a certificate of another CA itself.
		if code, _ := tokenRequest(t, tlsClient(roots, &e.foreign), proxyURL+"/oauth/v2/token", e.pki.ClientID, nil); code != http.StatusBadRequest {
			t.Fatalf("nginx passed a certificate of another CA: %d", code)
		}
		// Castellan refuses one nginx let through but the CRL revokes.
		if code, _ := tokenRequest(t, tlsClient(roots, &e.revoked), proxyURL+"/oauth/v2/token", e.pki.ClientID, nil); code != http.StatusUnauthorized {
			t.Fatalf("a revoked certificate through nginx: %d", code)
		}

		// Directly, from 127.0.0.1, which is not a trusted proxy: the same
		// header is ignored, so the client has no certificate.
		header := http.Header{"X-Ssl-Client-Cert": {url.PathEscape(e.good.PEM())}}
		if code, body := tokenRequest(t, http.DefaultClient, p.url+"/oauth/v2/token", e.pki.ClientID, header); code != http.StatusUnauthorized {
			t.Fatalf("a forged header from an untrusted peer: %d %v", code, body)
		}
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(p.stderr.String(), "not a trusted proxy was ignored") && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		if !strings.Contains(p.stderr.String(), "not a trusted proxy was ignored") {
			t.Fatal("the ignored header is not logged")
		}
		resp, err := http.Get(p.url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(metrics), `castellan_client_certificate_headers_total{result="untrusted_peer"} 1`) ||
			!strings.Contains(string(metrics), `castellan_client_certificate_headers_total{result="accepted"}`) {
			t.Fatalf("metrics do not count the headers:\n%s", grepLines(string(metrics), "client_certificate"))
		}
	})
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
