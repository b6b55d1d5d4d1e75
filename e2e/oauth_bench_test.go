package e2e

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/oauth/token"
)

// The client_credentials benchmark runs the real binary on one core
// (GOMAXPROCS=1) and obtains JWT access tokens from it with
// client_secret_basic, from 8 concurrent clients. Its reference is raw
// ES256 signing of the same JWT — header and claims encoded, SHA-256,
// ECDSA P-256, the signature encoded, exactly what the server's
// token.Signer does — in a child process on one core: this test binary
// started again with es256ChildEnv set. What the reference leaves out is
// Castellan's part of a grant: HTTP, the form, the client's look-up and
// secret check, the settings, the claims.

const es256ChildEnv = "CASTELLAN_E2E_ES256_REFERENCE"

func init() {
	if os.Getenv(es256ChildEnv) != "" {
		if err := es256Reference(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// es256Reference signs access tokens on command: a line "for D" signs for
// the duration D and answers "count wall-ns cpu-ns".
func es256Reference(in io.Reader, out io.Writer) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"ES256","kid":"01a231d4-e40a-7d79-8a77-f51c7d300a0f","typ":"at+jwt"}`))
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		d, err := time.ParseDuration(strings.TrimPrefix(sc.Text(), "for "))
		if err != nil {
			return err
		}
		began, cpu := time.Now(), processCPU()
		count := 0
		for time.Since(began) < d {
			now := time.Now()
			payload, err := json.Marshal(token.AccessClaims{Issuer: "http://localhost:8080", Subject: "01a231d4-e40a-7d79-8a77-f51c7d300a10",
				Audience: []string{"01a231d4-e40a-7d79-8a77-f51c7d300a11"}, ClientID: "01a231d4-e40a-7d79-8a77-f51c7d300a10",
				IssuedAt: now.Unix(), Expiry: now.Add(12 * time.Hour).Unix(), ID: "01a231d4-e40a-7d79-8a77-f51c7d300a12"})
			if err != nil {
				return err
			}
			input := header + "." + enc.EncodeToString(payload)
			digest := sha256.Sum256([]byte(input))
			r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
			if err != nil {
				return err
			}
			sig := make([]byte, 64)
			r.FillBytes(sig[:32])
			s.FillBytes(sig[32:])
			if jwt := input + "." + enc.EncodeToString(sig); len(jwt) < 100 {
				return fmt.Errorf("short JWT")
			}
			count++
		}
		fmt.Fprintf(out, "%d %d %d\n", count, time.Since(began), processCPU()-cpu)
	}
	return sc.Err()
}

type es256Child struct {
	in  io.WriteCloser
	out *bufio.Scanner
}

func startES256Child(b *testing.B) *es256Child {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), es256ChildEnv+"=1", "GOMAXPROCS=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { in.Close(); _ = cmd.Wait() })
	return &es256Child{in: in, out: bufio.NewScanner(out)}
}

func (c *es256Child) run(b *testing.B, d time.Duration) (int, time.Duration, time.Duration) {
	if _, err := fmt.Fprintf(c.in, "for %s\n", d); err != nil {
		b.Fatal(err)
	}
	if !c.out.Scan() {
		b.Fatalf("the ES256 reference stopped: %v", c.out.Err())
	}
	var n int
	var wall, cpu time.Duration
	if _, err := fmt.Sscanf(c.out.Text(), "%d %d %d", &n, &wall, &cpu); err != nil {
		b.Fatal(err)
	}
	return n, wall, cpu
}

// benchApplication creates, through the API, a project in the
// administrator's organization (named after the application) and an
// application of spec in it, and
// returns its client id and secret.
func (s *signInServer) benchApplication(b *testing.B, spec map[string]any) (clientID, secret string) {
	decode := func(r timedCall, v any) {
		if r.status != http.StatusOK {
			b.Fatalf("API: %d %s", r.status, r.body)
		}
		if err := json.Unmarshal(r.body, v); err != nil {
			b.Fatal(err)
		}
	}
	var me struct {
		User struct {
			OrganizationID string `json:"organizationId"`
		} `json:"user"`
	}
	req, _ := http.NewRequest(http.MethodGet, s.url+"/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := s.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	decode(timedCall{status: resp.StatusCode, body: raw}, &me)
	var project struct {
		Project struct{ ID string } `json:"project"`
	}
	decode(s.call(b, http.MethodPost, "/v1/projects", map[string]any{"organizationId": me.User.OrganizationID, "name": "bench " + fmt.Sprint(spec["name"])}), &project)
	var app struct {
		Application  struct{ ClientID string } `json:"application"`
		ClientSecret string                    `json:"clientSecret"`
	}
	decode(s.call(b, http.MethodPost, "/v1/projects/"+project.Project.ID+"/applications", spec), &app)
	return app.Application.ClientID, app.ClientSecret
}

// grantWindow is each side's turn in the provider benchmarks
// (loadAgainstES256).
const grantWindow = 3 * time.Second

// BenchmarkClientCredentials measures client_credentials grants per
// second of a server on one core against raw ES256 JWT signatures per
// second on one core, alternately (grantWindow each, the reference first
// on odd iterations), for JWT access tokens and for opaque ones (a row
// written per grant instead of a signature). It reports both rates, and —
// the figure the goal is about — both per CPU-second used: the server's
// CPU time (/proc) per grant against the reference's (getrusage) per
// signature; cpu-ratio is signatures' CPU cost over grants', i.e. grants
// per core-second as a fraction of signatures per core-second (goal, for
// JWTs: at least 0.40).
func BenchmarkClientCredentials(b *testing.B) {
	for _, format := range []string{"jwt", "opaque"} {
		b.Run(format, func(b *testing.B) {
			s := startSignInServer(b, "GOMAXPROCS=1")
			clientID, secret := s.benchApplication(b, map[string]any{"name": "worker", "grantTypes": []string{"client_credentials"},
				"accessTokenType": "ACCESS_TOKEN_TYPE_" + strings.ToUpper(format)})
			want := `"access_token":"ey`
			if format == "opaque" {
				want = `"access_token":"` + token.OpaquePrefix
			}
			body := url.Values{"grant_type": {"client_credentials"}}.Encode()
			grant := func(client *http.Client) error {
				req, _ := http.NewRequest(http.MethodPost, s.url+"/oauth/v2/token", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(clientID, secret)
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || !strings.Contains(string(raw), want) {
					return fmt.Errorf("token: %d %s", resp.StatusCode, raw)
				}
				return nil
			}
			for range 20 { // warm up: keys, caches, connections
				if err := grant(s.client); err != nil {
					b.Fatal(err)
				}
			}
			b.Run("go-clients", func(b *testing.B) {
				loadAgainstES256(b, s, "grants", 8, func(int) error { return grant(s.client) })
			})
			b.Run("wrk", func(b *testing.B) {
				loadWindowsAgainstES256(b, s, "grants", wrkLoad(b, s.url, "/oauth/v2/token", body, clientID, secret, want, 8))
			})
		})
	}
}
