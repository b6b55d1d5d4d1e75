// Package apitest runs the whole API for service tests: a fresh SQLite
// Castellan with its first instance, organization and administrator, the
// given services mounted on the real server (instance resolution,
// middleware, all four protocols), and a personal access token for the
// administrator.
package apitest

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/config"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/keyring"
	"github.com/castellan-iam/castellan/internal/pat"
	"github.com/castellan-iam/castellan/internal/server"
	"github.com/castellan-iam/castellan/internal/setup"
	"github.com/castellan-iam/castellan/internal/user"
)

// Env is a running API.
type Env struct {
	App  *app.App
	Auth *authn.Authenticator
	// URL reaches the first instance (host localhost).
	URL        string
	InstanceID string
	OrgID      string
	AdminID    string
	// AdminToken is a personal access token of the administrator, an
	// instance owner.
	AdminToken string
	// Client speaks HTTP/1.1 and cleartext HTTP/2 (for gRPC).
	Client *http.Client
}

// Start runs the API with the services services returns, on SQLite.
func Start(t testing.TB, services func(a *app.App, auth *authn.Authenticator) []api.Service) *Env {
	t.Helper()
	return start(t, "", services)
}

// StartOn is Start on the database src (see dbtest.Each, which runs a
// test on SQLite and PostgreSQL).
func StartOn(t testing.TB, src dbtest.Source, services func(a *app.App, auth *authn.Authenticator) []api.Service) *Env {
	t.Helper()
	return start(t, src.URL(), services)
}

func start(t testing.TB, database string, services func(a *app.App, auth *authn.Authenticator) []api.Service) *Env {
	t.Helper()
	ctx := context.Background()
	args := []string{"--data-dir", t.TempDir(), "--listen", "127.0.0.1:1", "--external-url", "http://localhost",
		"--passwords-argon2id-memory-kib", "8192", "--passwords-argon2id-iterations", "1"}
	if database != "" {
		// Replicas on one PostgreSQL database share a configured key.
		key, err := keyring.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "--database", database, "--keys-master", key.String())
	}
	cfg, err := config.Load(args, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	a, err := app.Open(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	first, err := setup.Run(ctx, a.Store, a.Hasher, setup.FirstInstance{Name: "Test", Domain: "localhost", OrgName: "First", AdminLoginName: "admin", AdminPassword: "admin-password-1"})
	if err != nil {
		t.Fatal(err)
	}
	auth := authn.New(a.DB, nil).WithCache(a.Store.Changed, authn.MaxStale)
	h, err := api.NewHandler(log, services(a, auth)...)
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Options{Logger: log, Resolver: instance.NewResolver(a.DB), Ready: a.Ready, Metrics: prometheus.NewRegistry()})
	a.MountAPI(srv, h)
	ts := httptest.NewUnstartedServer(srv)
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	ts.Config.Protocols = protocols
	ts.Start()
	t.Cleanup(ts.Close)
	u, _ := url.Parse(ts.URL)
	clientProtocols := new(http.Protocols)
	clientProtocols.SetHTTP1(true)
	clientProtocols.SetUnencryptedHTTP2(true)
	env := &Env{
		App: a, Auth: auth, URL: "http://localhost:" + u.Port(),
		InstanceID: first.InstanceID, OrgID: first.OrgID, AdminID: first.AdminID,
		Client: &http.Client{Transport: &http.Transport{Protocols: clientProtocols}},
	}
	env.AdminToken = env.Token(t, first.AdminID, first.OrgID)
	return env
}

// Token issues a personal access token for a user of the first instance.
func (e *Env) Token(t testing.TB, userID, orgID string) string {
	t.Helper()
	_, token, err := pat.NewCommands(e.App.Store, nil).Add(context.Background(), eventstore.SystemEditor,
		eventstore.Aggregate{InstanceID: e.InstanceID, Type: user.AggregateType, ID: userID, Owner: orgID}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// Bearer returns an Authorization header value for token.
func Bearer(token string) string { return "Bearer " + token }

// GrantOrg gives a user roles on an organization of the first instance.
func (e *Env) GrantOrg(t testing.TB, orgID, userID string, roles ...string) {
	t.Helper()
	if err := member.NewCommands(e.App.Store).AddOrgMember(context.Background(), eventstore.SystemEditor, e.InstanceID, orgID, userID, roles); err != nil {
		t.Fatal(err)
	}
}

// WaitSettled waits until every event of the first instance written so far
// is settled (eventstore.Filter.Settled): on a PostgreSQL shared with other
// work, a transaction in flight elsewhere holds back the settled view that
// ListEvents, the streams and exports read.
func (e *Env) WaitSettled(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	all, err := e.App.Store.Query(ctx, eventstore.Filter{InstanceID: e.InstanceID})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 {
		return
	}
	f := eventstore.Filter{InstanceID: e.InstanceID, Settled: true, Until: all[len(all)-1].Position}
	if len(all) > 1 {
		f.After = all[len(all)-2].Position
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		settled, err := e.App.Store.Query(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(settled) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the events written did not settle within 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
