package app_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/config"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/setup"
)

// BenchmarkClientCredentialsInProcess obtains client_credentials JWTs from
// the server's whole handler (middleware, routing, client
// authentication, signing, JSON) without a network, for CPU and
// allocation profiles of a grant: go test ./internal/app -run '^$'
// -bench ClientCredentialsInProcess -cpuprofile cpu.out -cpu 1. The
// end-to-end figure is e2e BenchmarkClientCredentials.
func BenchmarkClientCredentialsInProcess(b *testing.B) {
	app.TuneGC() // the collector at the binary's setting
	ctx := context.Background()
	cfg, err := config.Load([]string{"--data-dir", b.TempDir(), "--listen", "127.0.0.1:1", "--external-url", "http://localhost"},
		func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	a, err := app.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	first, err := setup.Run(ctx, a.Store, a.Hasher, setup.FirstInstance{Name: "Bench", Domain: "localhost", OrgName: "First", AdminLoginName: "admin", AdminPassword: "admin-password-1"})
	if err != nil {
		b.Fatal(err)
	}
	cmds := client.NewCommands(a.Store, a.Keys, nil)
	p, err := cmds.CreateProject(ctx, eventstore.SystemEditor, first.InstanceID, first.OrgID, "bench")
	if err != nil {
		b.Fatal(err)
	}
	c, secret, err := cmds.CreateApplication(ctx, eventstore.SystemEditor, first.InstanceID, p.ID, client.ApplicationSpec{
		Name: "machine", Kind: client.KindOIDC, GrantTypes: []string{oauth.GrantClientCredentials}, AuthMethod: oauth.AuthClientSecretBasic})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := a.Server("bench", false)
	if err != nil {
		b.Fatal(err)
	}
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	do := func() {
		r := httptest.NewRequest(http.MethodPost, "http://localhost/oauth/v2/token", strings.NewReader(body))
		r.RemoteAddr = "127.0.0.1:40000"
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(secret))
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	do()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		do()
	}
}
