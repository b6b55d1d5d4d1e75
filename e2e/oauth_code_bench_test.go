package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/oauth/token"
)

// The benchmarks of the provider's user-facing grants run the real binary
// on one core (GOMAXPROCS=1), like BenchmarkClientCredentials, with 8
// concurrent clients on keep-alive connections, against the same
// reference in the same loop: raw ES256 JWT signatures per second on one
// core (es256Reference). Each runs on SQLite, and on PostgreSQL when
// CASTELLAN_TEST_POSTGRES is set.

// providerBench is a started server with an application of the
// authorization code and refresh grants, and a browser signed in.
type providerBench struct {
	*signInServer
	conf    oauth2.Config
	browser *http.Client
	secret  string
}

func eachBenchBackend(b *testing.B, fn func(b *testing.B, env []string)) {
	b.Run("sqlite", func(b *testing.B) { fn(b, nil) })
	b.Run("postgres", func(b *testing.B) {
		src := dbtest.Backends()[1].New(b)
		fn(b, []string{"CASTELLAN_DATABASE=" + src.URL(), "CASTELLAN_KEYS_MASTER=e2e:" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="})
	})
}

func startProviderBench(b *testing.B, env []string) *providerBench {
	// CASTELLAN_BENCH_GOMAXPROCS runs the server on more cores (default 1).
	procs := "1"
	if v := os.Getenv("CASTELLAN_BENCH_GOMAXPROCS"); v != "" {
		procs = v
	}
	s := startSignInServer(b, append([]string{"GOMAXPROCS=" + procs}, env...)...)
	users := loginUsers(b, s, 1)
	clientID, secret := s.benchApplication(b, map[string]any{"name": "web",
		"grantTypes": []string{"authorization_code", "refresh_token"}, "redirectUris": []string{callbackURI}})
	p := &providerBench{signInServer: s, browser: browserClient(b), secret: secret, conf: oauth2.Config{
		ClientID: clientID, ClientSecret: secret, RedirectURL: callbackURI,
		Endpoint: oauth2.Endpoint{AuthURL: s.url + "/oauth/v2/authorize", TokenURL: s.url + "/oauth/v2/token", AuthStyle: oauth2.AuthStyleInHeader},
	}}
	// Sign the browser in once; the authorizations after it are single
	// sign-on.
	p.tokens(b, "openid", users[0], s.password)
	return p
}

// tokens runs one authorization code flow and returns its tokens.
func (p *providerBench) tokens(b *testing.B, scope, loginName, password string) *oauth2.Token {
	verifier := oauth2.GenerateVerifier()
	conf := p.conf
	conf.Scopes = strings.Fields(scope)
	back := authorize(b, p.browser, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), loginName, password)
	tok, err := conf.Exchange(context.Background(), back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

// post posts a form to the server with the client's Basic credentials
// and decodes a 200 answer.
func (p *providerBench) post(path string, form url.Values, out any) error {
	req, _ := http.NewRequest(http.MethodPost, p.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(p.conf.ClientID, p.secret)
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %d %s", path, resp.StatusCode, raw)
	}
	return json.Unmarshal(raw, out)
}

// loadAgainstES256 alternates windows of op from clients concurrent
// workers (worker i calls op(i)) with windows of the ES256 reference, b.N
// times each, and reports the rates, CPU per operation, their ratios, the
// server's cores used and its resident memory idle and under load.
func loadAgainstES256(b *testing.B, s *signInServer, unit string, clients int, op func(worker int) error) {
	loadWindowsAgainstES256(b, s, unit, func(window time.Duration) (int, error) {
		var done atomic.Int64
		var wg sync.WaitGroup
		var failed atomic.Pointer[error]
		began := time.Now()
		for w := range clients {
			wg.Go(func() {
				for time.Since(began) < window {
					if err := op(w); err != nil {
						failed.CompareAndSwap(nil, &err)
						return
					}
					done.Add(1)
				}
			})
		}
		wg.Wait()
		if err := failed.Load(); err != nil {
			return 0, *err
		}
		return int(done.Load()), nil
	})
}

// loadWindowsAgainstES256 is loadAgainstES256 with any load generator:
// load runs for a window and returns the operations done.
func loadWindowsAgainstES256(b *testing.B, s *signInServer, unit string, load func(window time.Duration) (int, error)) {
	ref := startES256Child(b)
	ref.run(b, 200*time.Millisecond)
	idleRSS := treeRSSKiB(b, s.cmd.Process.Pid)
	var ops, signatures int
	var opWall, opCPU, refWall, refCPU time.Duration
	var peakRSS atomic.Int64
	runOps := func() {
		cpu, _ := pidCPU(b, s.cmd.Process.Pid)
		began := time.Now()
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
					if v := int64(treeRSSKiB(b, s.cmd.Process.Pid)); v > peakRSS.Load() {
						peakRSS.Store(v)
					}
				}
			}
		}()
		done, err := load(grantWindow)
		close(stop)
		if err != nil {
			b.Error(err)
		}
		opWall += time.Since(began)
		after, _ := pidCPU(b, s.cmd.Process.Pid)
		opCPU += after - cpu
		ops += done
	}
	runReference := func() {
		n, wall, cpu := ref.run(b, grantWindow)
		signatures += n
		refWall += wall
		refCPU += cpu
	}
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 1 {
			runReference()
		}
		runOps()
		if i%2 == 0 {
			runReference()
		}
		if b.Failed() {
			b.FailNow()
		}
	}
	b.StopTimer()
	rate := float64(ops) / opWall.Seconds()
	signRate := float64(signatures) / refWall.Seconds()
	perOp := float64(opCPU) / float64(ops) / 1e3
	perSign := float64(refCPU) / float64(signatures) / 1e3
	b.ReportMetric(rate, unit+"/s")
	b.ReportMetric(signRate, "es256/s")
	b.ReportMetric(rate/signRate, "ratio")
	b.ReportMetric(perOp, "cpu-µs/op")
	b.ReportMetric(perSign, "cpu-µs/es256")
	b.ReportMetric(perSign/perOp, "cpu-ratio")
	b.ReportMetric(float64(opCPU)/float64(opWall), "server-cores")
	b.ReportMetric(idleRSS/1024, "rss-idle-MiB")
	b.ReportMetric(float64(peakRSS.Load())/1024, "rss-load-MiB")
}

// BenchmarkRefreshGrants measures refresh grants per second: 8 clients,
// each rotating the refresh token of its own grant (the grant's
// refresh_token row is spent and a new one written, in one transaction,
// then a JWT access token signed; with openid also an RS256 ID token with
// the user's claims, read from the database). Scopes: "offline_access"
// (OAuth only) and "openid offline_access".
func BenchmarkRefreshGrants(b *testing.B) {
	eachBenchBackend(b, func(b *testing.B, env []string) {
		p := startProviderBench(b, env)
		for _, scope := range []string{"offline_access", "openid offline_access"} {
			b.Run(strings.ReplaceAll(scope, " ", "+"), func(b *testing.B) {
				const clients = 8
				refresh := make([]string, clients)
				for i := range refresh {
					refresh[i] = p.tokens(b, scope, "", "").RefreshToken
				}
				b.Run("go-clients", func(b *testing.B) {
					loadAgainstES256(b, p.signInServer, "refreshes", clients, func(w int) error {
						var out struct {
							RefreshToken string `json:"refresh_token"`
						}
						if err := p.post("/oauth/v2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh[w]}}, &out); err != nil {
							return err
						}
						refresh[w] = out.RefreshToken
						return nil
					})
				})
				// Each connection waits for its commit to reach the disk,
				// and the more there are, the more share one commit: the
				// rate is measured at two and eight times the Go clients'.
				for _, conns := range []int{2 * clients, 8 * clients} {
					b.Run(fmt.Sprintf("wrk/conns=%d", conns), func(b *testing.B) {
						grants := func() []string {
							tokens := make([]string, conns)
							for i := range tokens {
								tokens[i] = p.tokens(b, scope, "", "").RefreshToken
							}
							return tokens
						}
						loadWindowsAgainstES256(b, p.signInServer, "refreshes", wrkRefreshLoad(b, p.url, p.conf.ClientID, p.secret, grants))
					})
				}
			})
		}
	})
}

// BenchmarkIntrospection measures introspections per second of a JWT
// access token by its client (signature verification, the revocation
// look-up, the client's secret check).
func BenchmarkIntrospection(b *testing.B) {
	eachBenchBackend(b, func(b *testing.B, env []string) {
		p := startProviderBench(b, env)
		tok := p.tokens(b, "openid", "", "")
		b.Run("go-clients", func(b *testing.B) {
			loadAgainstES256(b, p.signInServer, "introspections", 8, func(int) error {
				var out struct {
					Active bool `json:"active"`
				}
				if err := p.post("/oauth/v2/introspect", url.Values{"token": {tok.AccessToken}}, &out); err != nil {
					return err
				}
				if !out.Active {
					return fmt.Errorf("the token is inactive")
				}
				return nil
			})
		})
		b.Run("wrk", func(b *testing.B) {
			form := url.Values{"token": {tok.AccessToken}}.Encode()
			loadWindowsAgainstES256(b, p.signInServer, "introspections",
				wrkLoad(b, p.url, "/oauth/v2/introspect", form, p.conf.ClientID, p.secret, `"active":true`, 8))
		})
		// An opaque access token (a client_credentials token of an
		// application that issues them), introspected by its client: the
		// token's row is read at every call.
		id, secret := p.benchApplication(b, map[string]any{"name": "worker", "grantTypes": []string{"client_credentials"},
			"accessTokenType": "ACCESS_TOKEN_TYPE_OPAQUE"})
		b.Run("opaque/wrk", func(b *testing.B) {
			req, _ := http.NewRequest(http.MethodPost, p.url+"/oauth/v2/token", strings.NewReader("grant_type=client_credentials"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(id, secret)
			resp, err := p.client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			var out struct {
				AccessToken string `json:"access_token"`
			}
			err = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if err != nil || !strings.HasPrefix(out.AccessToken, token.OpaquePrefix) {
				b.Fatalf("opaque token: %v %q", err, out.AccessToken)
			}
			form := url.Values{"token": {out.AccessToken}}.Encode()
			loadWindowsAgainstES256(b, p.signInServer, "introspections",
				wrkLoad(b, p.url, "/oauth/v2/introspect", form, id, secret, `"active":true`, 8))
		})
	})
}
