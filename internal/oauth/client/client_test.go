package client

import (
	"context"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/eventstore/eventstoretest"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/keyring"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/org"
)

var ctx = context.Background()

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

type fixture struct {
	store    *eventstoretest.Store
	commands *Commands
	clients  *Clients
	clock    *clock
	project  Project
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	c := &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	register := func(r *eventstore.Registry) { RegisterEvents(r); org.RegisterEvents(r) }
	s := eventstoretest.NewWithOptions(t, "inst-a", register, append(append([]database.Migration{}, org.Migrations...), Migrations...),
		eventstore.Options{Now: c.now}, Projection{}, org.Projection{})
	key, err := keyring.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keyring.New(key)
	if err != nil {
		t.Fatal(err)
	}
	orgAppend, err := org.Creation("inst-a", "org-1", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	s.Given(t, orgAppend)
	f := &fixture{store: s, commands: NewCommands(s.Store, ring, c.now), clients: NewClients(s.DB(), ring, c.now), clock: c}
	if f.project, err = f.commands.CreateProject(ctx, eventstore.SystemEditor, "inst-a", "org-1", "Billing"); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) authenticate(id, secret string) error {
	method := oauth.AuthClientSecretBasic
	if secret == "" {
		method = oauth.AuthNone
	}
	_, err := f.clients.Authenticate(ctx, "inst-a", Credentials{ClientID: id, Secret: secret, Method: method})
	return err
}

func isInvalidClient(err error) bool {
	e := oauth.AsError(err)
	return e != nil && e.Code == oauth.InvalidClient
}

func TestSecretRotation(t *testing.T) {
	f := newFixture(t)
	app, first, err := f.commands.CreateApplication(ctx, eventstore.SystemEditor, "inst-a", f.project.ID,
		ApplicationSpec{Name: "worker", GrantTypes: []string{oauth.GrantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	if !plausibleSecret(first) {
		t.Fatalf("secret %q", first)
	}
	if err := f.authenticate(app.ClientID, first); err != nil {
		t.Fatalf("the first secret: %v", err)
	}
	f.store.Given(t)
	second, secondValue, err := f.commands.AddSecret(ctx, eventstore.SystemEditor, "inst-a", app.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := GetApplication(ctx, f.store.DB(), "inst-a", app.ID)
	f.store.Then(t, &SecretExpirySet{AppID: app.ID, SecretID: app.Secrets[0].ID, ExpiresAt: f.clock.t.Add(time.Hour)},
		&SecretAdded{AppID: app.ID, SecretID: second.ID, KeyID: got.Secrets[1].keyID, Hash: got.Secrets[1].hash})

	t.Run("ok/both secrets during the overlap", func(t *testing.T) {
		for _, s := range []string{first, secondValue} {
			if err := f.authenticate(app.ClientID, s); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("fail/a third secret while two are valid", func(t *testing.T) {
		if _, _, err := f.commands.AddSecret(ctx, eventstore.SystemEditor, "inst-a", app.ID, time.Hour); !failure.Is(err, failure.KindFailedPrecondition) {
			t.Fatalf("AddSecret = %v", err)
		}
	})
	t.Run("fail/the old secret after the overlap", func(t *testing.T) {
		f.clock.t = f.clock.t.Add(time.Hour)
		if err := f.authenticate(app.ClientID, first); !isInvalidClient(err) {
			t.Fatalf("old secret: %v", err)
		}
		if err := f.authenticate(app.ClientID, secondValue); err != nil {
			t.Fatalf("new secret: %v", err)
		}
	})
	t.Run("ok/a rotation without overlap removes the expired and the current secret", func(t *testing.T) {
		f.store.Given(t)
		third, thirdValue, err := f.commands.AddSecret(ctx, eventstore.SystemEditor, "inst-a", app.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := GetApplication(ctx, f.store.DB(), "inst-a", app.ID)
		f.store.Then(t, &SecretRemoved{AppID: app.ID, SecretID: app.Secrets[0].ID}, &SecretRemoved{AppID: app.ID, SecretID: second.ID},
			&SecretAdded{AppID: app.ID, SecretID: third.ID, KeyID: got.Secrets[0].keyID, Hash: got.Secrets[0].hash})
		if err := f.authenticate(app.ClientID, thirdValue); err != nil {
			t.Fatalf("a new secret is valid at once: %v", err)
		}
		f.clock.t = f.clock.t.Add(CacheTTL) // a removed secret fails once the cached client is read again
		if err := f.authenticate(app.ClientID, secondValue); !isInvalidClient(err) {
			t.Fatalf("removed secret: %v", err)
		}
		if err := f.authenticate(app.ClientID, thirdValue); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAuthenticate(t *testing.T) {
	f := newFixture(t)
	conf, secret, err := f.commands.CreateApplication(ctx, eventstore.SystemEditor, "inst-a", f.project.ID,
		ApplicationSpec{Name: "worker", GrantTypes: []string{oauth.GrantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	public, none, err := f.commands.CreateApplication(ctx, eventstore.SystemEditor, "inst-a", f.project.ID,
		ApplicationSpec{Name: "spa", Public: true, GrantTypes: []string{oauth.GrantAuthorizationCode},
			Redirects: Redirects{RedirectURIs: []string{"http://127.0.0.1/callback"}}})
	if err != nil || none != "" {
		t.Fatalf("public client: %q %v", none, err)
	}
	_, otherSecret, err := f.commands.CreateApplication(ctx, eventstore.SystemEditor, "inst-a", f.project.ID, ApplicationSpec{Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		id, sec string
		method  string
		ok      bool
	}{
		{"ok/confidential with its secret", conf.ClientID, secret, oauth.AuthClientSecretPost, true},
		{"ok/public with none", public.ClientID, "", oauth.AuthNone, true},
		{"fail/confidential without a secret", conf.ClientID, "", oauth.AuthNone, false},
		{"fail/another client's secret", conf.ClientID, otherSecret, oauth.AuthClientSecretBasic, false},
		{"fail/a public client with a secret", public.ClientID, secret, oauth.AuthClientSecretBasic, false},
		{"fail/unknown client", "nobody", secret, oauth.AuthClientSecretBasic, false},
		{"fail/not a secret's form", conf.ClientID, "password", oauth.AuthClientSecretBasic, false},
		{"fail/a client of another instance", conf.ClientID, secret, oauth.AuthClientSecretBasic, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			instance := "inst-a"
			if tc.name == "fail/a client of another instance" {
				instance = "inst-b"
			}
			a, err := f.clients.Authenticate(ctx, instance, Credentials{ClientID: tc.id, Secret: tc.sec, Method: tc.method})
			if tc.ok {
				if err != nil || a.Application().ClientID != tc.id || a.Method() != tc.method {
					t.Fatalf("Authenticate = %+v, %v", a, err)
				}
				return
			}
			if !isInvalidClient(err) {
				t.Fatalf("Authenticate = %v; want invalid_client", err)
			}
		})
	}
}

func TestApplicationSpec(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name  string
		spec  ApplicationSpec
		field string
	}{
		{"fail/a public client with client_credentials", ApplicationSpec{Name: "x", Public: true, GrantTypes: []string{oauth.GrantClientCredentials}}, "grantTypes"},
		{"fail/an unknown grant type", ApplicationSpec{Name: "x", GrantTypes: []string{"password"}}, "grantTypes"},
		{"fail/an unknown access token type", ApplicationSpec{Name: "x", AccessTokenType: "paseto"}, "accessTokenType"},
		{"fail/a lifetime under a minute", ApplicationSpec{Name: "x", AccessTokenLifetime: time.Second}, "accessTokenLifetime"},
		{"fail/a scope with a space", ApplicationSpec{Name: "x", Scopes: []string{"a b"}}, "scopes"},
		{"fail/a public API", ApplicationSpec{Name: "x", Kind: KindAPI, Public: true}, "public"},
		{"fail/no name", ApplicationSpec{}, "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := f.commands.CreateApplication(ctx, eventstore.SystemEditor, "inst-a", f.project.ID, tc.spec)
			var fe *failure.Error
			if !failure.Is(err, failure.KindInvalidArgument) || !asFailure(err, &fe) || fe.Field != tc.field {
				t.Fatalf("CreateApplication = %v; want invalid argument on %s", err, tc.field)
			}
		})
	}
	t.Run("fail/a project name twice in one organization", func(t *testing.T) {
		if _, err := f.commands.CreateProject(ctx, eventstore.SystemEditor, "inst-a", "org-1", "billing"); !failure.Is(err, failure.KindAlreadyExists) {
			t.Fatalf("CreateProject = %v", err)
		}
	})
}

func TestUpdateApplication(t *testing.T) {
	f := newFixture(t)
	app, _, err := f.commands.CreateApplication(ctx, eventstore.SystemEditor, "inst-a", f.project.ID, ApplicationSpec{Name: "worker",
		GrantTypes: []string{oauth.GrantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	api, _, err := f.commands.CreateApplication(ctx, eventstore.SystemEditor, "inst-a", f.project.ID, ApplicationSpec{Name: "api", Kind: KindAPI,
		ResourceURI: "https://api.example.com/"})
	if err != nil {
		t.Fatal(err)
	}
	opaque, name, flat := TokenOpaque, "batch worker", RoleClaimsFlat
	lifetime := 5 * time.Minute
	got, err := f.commands.UpdateApplication(ctx, eventstore.SystemEditor, "inst-a", app.ID, ApplicationUpdate{Name: &name, AccessTokenType: &opaque,
		AccessTokenLifetime: &lifetime, RoleClaims: &flat, Scopes: []string{"reports:read"}, SetScopes: true})
	if err != nil {
		t.Fatal(err)
	}
	read, err := GetApplication(ctx, f.store.DB(), "inst-a", app.ID)
	if err != nil || read.Name != name || read.AccessTokenType != TokenOpaque || read.AccessTokenLifetime != lifetime || read.RoleClaims != RoleClaimsFlat ||
		len(read.Scopes) != 1 || got.AccessTokenType != TokenOpaque || !read.Allows(oauth.GrantClientCredentials) {
		t.Fatalf("after the update: %+v %v", read, err)
	}
	bad := "EdDSA256"
	for _, tc := range []struct {
		name  string
		appID string
		u     ApplicationUpdate
		field string
	}{
		{"an unknown grant type", app.ID, ApplicationUpdate{GrantTypes: []string{"password"}, SetGrantTypes: true}, "grantTypes"},
		{"the code grant without redirect URIs", app.ID, ApplicationUpdate{GrantTypes: []string{oauth.GrantAuthorizationCode}, SetGrantTypes: true}, "redirectUris"},
		{"an unknown ID token algorithm", app.ID, ApplicationUpdate{IDTokenAlg: &bad}, "idTokenAlg"},
		{"a resource URI on a client", app.ID, ApplicationUpdate{ResourceURI: &bad}, "resourceUri"},
	} {
		if _, err := f.commands.UpdateApplication(ctx, eventstore.SystemEditor, "inst-a", tc.appID, tc.u); !failure.Is(err, failure.KindInvalidArgument) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	// A resource URI moves: the old one is free for another application.
	moved := "https://api2.example.com/"
	if _, err := f.commands.UpdateApplication(ctx, eventstore.SystemEditor, "inst-a", api.ID, ApplicationUpdate{ResourceURI: &moved}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.commands.CreateApplication(ctx, eventstore.SystemEditor, "inst-a", f.project.ID, ApplicationSpec{Name: "api 2", Kind: KindAPI,
		ResourceURI: "https://api.example.com/"}); err != nil {
		t.Fatalf("the released resource URI: %v", err)
	}
	if _, _, err := f.commands.CreateApplication(ctx, eventstore.SystemEditor, "inst-a", f.project.ID, ApplicationSpec{Name: "api 3", Kind: KindAPI,
		ResourceURI: moved}); !failure.Is(err, failure.KindAlreadyExists) {
		t.Fatalf("the claimed resource URI: %v", err)
	}
}
