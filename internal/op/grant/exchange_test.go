package grant

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/access/project"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/oauth/token"
)

// fakeTokens knows a few access tokens by their raw value.
type fakeTokens struct {
	active   map[string]token.AccessClaims
	recorded []token.Exchanged
	issued   []token.AccessClaims
	editors  []eventstore.Editor
}

func (f *fakeTokens) VerifyAccess(_ context.Context, instanceID, issuer, raw string) (token.AccessClaims, error) {
	c, ok := f.active[raw]
	if !ok || instanceID != "inst" || issuer != testIssuer {
		return token.AccessClaims{}, fmt.Errorf("%w: unknown", token.ErrInactive)
	}
	return c, nil
}

func (f *fakeTokens) IssueAccess(_ context.Context, _, _ string, a token.Access) (string, token.AccessClaims, error) {
	now := time.Now()
	c := token.AccessClaims{Issuer: a.Issuer, Subject: a.Subject, Audience: a.Audience, ClientID: a.ClientID, Scope: strings.Join(a.Scopes, " "),
		IssuedAt: now.Unix(), Expiry: now.Add(a.Lifetime).Unix(), ID: a.ID, Act: a.Act, Extra: a.Extra}
	f.issued = append(f.issued, c)
	if !a.NotAfter.IsZero() && a.NotAfter.Unix() < c.Expiry {
		c.Expiry = a.NotAfter.Unix()
	}
	return "new-" + a.ID, c, nil
}

func (f *fakeTokens) RecordExchange(_ context.Context, editor eventstore.Editor, _, _ string, e token.Exchanged) error {
	f.recorded = append(f.recorded, e)
	f.editors = append(f.editors, editor)
	return nil
}

func (f *fakeTokens) Revoked(context.Context, string, string) (bool, error) { return false, nil }

func (f *fakeTokens) Revoke(context.Context, eventstore.Editor, string, string, token.AccessClaims) error {
	return nil
}

type fakeResources map[string]client.Application

func (f fakeResources) Resource(_ context.Context, _, uri string) (client.Application, error) {
	if a, ok := f[uri]; ok {
		return a, nil
	}
	return client.Application{}, failure.NotFound("no %s", uri)
}

const testIssuer = "https://login.example"

// exchangeFixture: the client "svc" of project "p1" (impersonation as
// given), tokens of user u1 for p1, of u2 for p2, of the client itself,
// of another client, of the deactivated user u3, and a delegated one.
func exchangeFixture(impersonation bool) (*fakeTokens, TokenExchange, client.Application) {
	exp := time.Now().Add(time.Hour).Unix()
	tokens := &fakeTokens{active: map[string]token.AccessClaims{
		"user-p1":     {ID: "j1", Subject: "u1", ClientID: "web", Audience: []string{"p1"}, Scope: "read write", Expiry: exp},
		"user-p2":     {ID: "j2", Subject: "u2", ClientID: "other", Audience: []string{"p2"}, Scope: "read", Expiry: exp},
		"user-res":    {ID: "j3", Subject: "u1", ClientID: "web", Audience: []string{"https://api.p1.example/"}, Scope: "read", Expiry: exp},
		"svc-own":     {ID: "j4", Subject: "svc", ClientID: "svc", Audience: []string{"p1"}, Expiry: exp - 60},
		"other-own":   {ID: "j5", Subject: "other", ClientID: "other", Audience: []string{"p1"}, Expiry: exp},
		"gone-user":   {ID: "j6", Subject: "u3", ClientID: "web", Audience: []string{"p1"}, Scope: "read", Expiry: exp},
		"delegated":   {ID: "j7", Subject: "u1", ClientID: "svc", Audience: []string{"p1"}, Scope: "read", Expiry: exp, Act: &token.Actor{Subject: "a1"}},
		"deep-actors": {ID: "j8", Subject: "u1", ClientID: "svc", Audience: []string{"p1"}, Expiry: exp, Act: chain(5)},
		"not-let-in":  {ID: "j9", Subject: "u5", ClientID: "web", Audience: []string{"p1"}, Scope: "read", Expiry: exp},
		// A machine user's JWT bearer token without a client: its
		// client_id is the user's id.
		"machine-own": {ID: "j10", Subject: "m1", ClientID: "m1", Audience: []string{"https://api.p1.example/"}, Expiry: exp},
	}}
	g := TokenExchange{
		Tokens: tokens,
		Users: func(_ context.Context, _, userID string) (string, bool, error) {
			switch userID {
			case "u1", "u2", "u5", "m1":
				return "org", true, nil
			case "u3":
				return "org", false, nil
			}
			return "", false, failure.NotFound("no user %s", userID)
		},
		Lifetime: func(context.Context, string, string) (time.Duration, error) { return 10 * time.Minute, nil },
		Resources: fakeResources{"https://api.p1.example/": {ProjectID: "p1", Kind: client.KindAPI}, "https://api.p2.example/": {ProjectID: "p2", Kind: client.KindAPI},
			"https://locked.example/": {ProjectID: "locked", Kind: client.KindAPI}},
		// The client's project lets everyone in but u5; it releases a
		// role claim and a profile claim, of which only the role goes in
		// the token. Project "locked" lets nobody in.
		Claims: func(_ context.Context, _, userID string, app client.Application, _ []string) (map[string]any, error) {
			if userID == "u5" {
				return nil, failure.PermissionDenied("the project requires an authorization, and the user has none")
			}
			return map[string]any{project.ClaimFlatRoles: []any{"agent@" + app.ProjectID}, "email": "x@example.com"}, nil
		},
		Access: func(_ context.Context, _, _, projectID string) error {
			if projectID == "locked" {
				return failure.PermissionDenied("the project requires an authorization, and the user has none")
			}
			return nil
		},
	}
	app := client.Application{ClientID: "svc", ProjectID: "p1", OrgID: "org", GrantTypes: []string{oauth.GrantTokenExchange}, ImpersonationAllowed: impersonation}
	return tokens, g, app
}

func chain(n int) *token.Actor {
	var a *token.Actor
	for i := 0; i < n; i++ {
		a = &token.Actor{Subject: fmt.Sprint("a", i), Act: a}
	}
	return a
}

func exchangeForm(subject, actor string, extra ...string) url.Values {
	f := url.Values{"subject_token": {subject}, "subject_token_type": {oauth.TokenTypeAccessToken}}
	if actor != "" {
		f.Set("actor_token", actor)
		f.Set("actor_token_type", oauth.TokenTypeAccessToken)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		f.Add(extra[i], extra[i+1])
	}
	return f
}

func TestTokenExchangePolicy(t *testing.T) {
	for _, tc := range []struct {
		name          string
		impersonation bool
		form          url.Values
		code          string
		check         func(t *testing.T, resp *oauth.TokenResponse, e token.Exchanged, editor eventstore.Editor)
	}{
		{"ok/delegation", false, exchangeForm("user-p1", "svc-own"), "", func(t *testing.T, resp *oauth.TokenResponse, e token.Exchanged, editor eventstore.Editor) {
			if resp.IssuedTokenType != oauth.TokenTypeAccessToken || resp.Scope != "read write" || e.Actor != "svc" || e.Subject != "u1" || e.Impersonation ||
				e.SubjectTokenID != "j1" || e.ActorTokenID != "j4" || !slices.Equal(e.Audience, []string{"p1"}) || editor.ClientID != "svc" || editor.UserID != "" {
				t.Fatalf("%+v %+v %+v", resp, e, editor)
			}
			if resp.ExpiresIn > 3600-60 {
				t.Fatalf("expires_in %d: the actor token expires sooner", resp.ExpiresIn)
			}
		}},
		{"ok/impersonation when allowed", true, exchangeForm("user-p1", "", "scope", "read"), "", func(t *testing.T, resp *oauth.TokenResponse, e token.Exchanged, _ eventstore.Editor) {
			if resp.Scope != "read" || !e.Impersonation || e.Actor != "" {
				t.Fatalf("%+v %+v", resp, e)
			}
		}},
		{"ok/a token for the project's resource server", true, exchangeForm("user-res", ""), "", nil},
		{"ok/a resource of another project", false, exchangeForm("user-p1", "svc-own", "resource", "https://api.p2.example/"), "", func(t *testing.T, _ *oauth.TokenResponse, e token.Exchanged, _ eventstore.Editor) {
			if !slices.Equal(e.Audience, []string{"https://api.p2.example/"}) {
				t.Fatalf("aud %v", e.Audience)
			}
		}},
		{"ok/delegating a delegated token nests its actor", false, exchangeForm("delegated", "svc-own"), "", nil},
		{"fail/impersonation not allowed", false, exchangeForm("user-p1", ""), oauth.InvalidRequest, nil},
		{"fail/a user the client's project does not let in", true, exchangeForm("not-let-in", ""), oauth.InvalidRequest, nil},
		{"fail/a resource whose project does not let the user in", true, exchangeForm("user-p1", "", "resource", "https://locked.example/"), oauth.InvalidTarget, nil},
		{"fail/a machine's own token for a resource whose project does not let it in", true,
			exchangeForm("machine-own", "", "resource", "https://locked.example/"), oauth.InvalidTarget, nil},
		{"ok/a machine's own token for its project's resource server", true, exchangeForm("machine-own", ""), "", nil},
		{"ok/a client's own token for a locked resource", true, exchangeForm("svc-own", "", "resource", "https://locked.example/"), "", nil},
		{"fail/a token of another project", true, exchangeForm("user-p2", ""), oauth.InvalidRequest, nil},
		{"fail/an actor token of another client", false, exchangeForm("user-p1", "other-own"), oauth.InvalidRequest, nil},
		{"fail/an unknown subject token", true, exchangeForm("nope", ""), oauth.InvalidRequest, nil},
		{"fail/an unknown actor token", true, exchangeForm("user-p1", "nope"), oauth.InvalidRequest, nil},
		{"fail/a deactivated user", true, exchangeForm("gone-user", ""), oauth.InvalidRequest, nil},
		{"fail/too many actors", false, exchangeForm("deep-actors", "svc-own"), oauth.InvalidRequest, nil},
		{"fail/a wider scope", true, exchangeForm("user-p1", "", "scope", "read admin"), oauth.InvalidScope, nil},
		{"fail/an unknown resource", true, exchangeForm("user-p1", "", "resource", "https://nope.example/"), oauth.InvalidTarget, nil},
		{"fail/an unknown audience", true, exchangeForm("user-p1", "", "audience", "nope"), oauth.InvalidTarget, nil},
		{"fail/an id_token", true, url.Values{"subject_token": {"user-p1"}, "subject_token_type": {oauth.TokenTypeIDToken}}, oauth.InvalidRequest, nil},
		{"fail/no subject_token_type", true, url.Values{"subject_token": {"user-p1"}}, oauth.InvalidRequest, nil},
		{"fail/an actor_token_type alone", true, exchangeForm("user-p1", "", "actor_token_type", oauth.TokenTypeAccessToken), oauth.InvalidRequest, nil},
		{"fail/a refresh token requested", true, exchangeForm("user-p1", "", "requested_token_type", oauth.TokenTypeRefreshToken), oauth.InvalidRequest, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tokens, g, c := exchangeFixture(tc.impersonation)
			resp, err := g.exchange(context.Background(), Request{InstanceID: "inst", Issuer: testIssuer, Form: tc.form}, c)
			if tc.code != "" {
				if e := oauth.AsError(err); e == nil || e.Code != tc.code {
					t.Fatalf("Token = %v; want %s", err, tc.code)
				}
				if len(tokens.recorded) != 0 {
					t.Fatalf("a refused exchange was recorded: %+v", tokens.recorded)
				}
				return
			}
			if err != nil {
				t.Fatalf("Token = %v", err)
			}
			if len(tokens.recorded) != 1 || "new-"+tokens.recorded[0].TokenID != resp.AccessToken {
				t.Fatalf("recorded %+v for %s", tokens.recorded, resp.AccessToken)
			}
			if tc.check != nil {
				tc.check(t, resp, tokens.recorded[0], tokens.editors[0])
			}
		})
	}
	t.Run("ok/the role claims of the client's project, nothing else", func(t *testing.T) {
		tokens, g, c := exchangeFixture(true)
		if _, err := g.exchange(context.Background(), Request{InstanceID: "inst", Issuer: testIssuer, Form: exchangeForm("user-p1", "")}, c); err != nil {
			t.Fatal(err)
		}
		extra := tokens.issued[0].Extra
		if roles, _ := extra[project.ClaimFlatRoles].([]any); len(extra) != 1 || len(roles) != 1 || roles[0] != "agent@p1" {
			t.Fatalf("extra claims %v", extra)
		}
		// A client's own token has no user: no roles are asked for.
		tokens, g, c = exchangeFixture(true)
		if _, err := g.exchange(context.Background(), Request{InstanceID: "inst", Issuer: testIssuer, Form: exchangeForm("svc-own", "")}, c); err != nil {
			t.Fatal(err)
		}
		if tokens.issued[0].Extra != nil {
			t.Fatalf("extra claims %v for a client's token", tokens.issued[0].Extra)
		}
	})
	t.Run("fail/a public client", func(t *testing.T) {
		_, g, _ := exchangeFixture(true)
		c := client.Application{ClientID: "svc", ProjectID: "p1", Public: true, ImpersonationAllowed: true}
		_, err := g.exchange(context.Background(), Request{InstanceID: "inst", Issuer: testIssuer, Form: exchangeForm("user-p1", "")}, c)
		if e := oauth.AsError(err); e == nil || e.Code != oauth.UnauthorizedClient {
			t.Fatalf("Token = %v", err)
		}
	})
}

// FuzzTokenExchange: whatever the form, the grant does not panic, answers
// an *oauth.Error or a token, and issues only what the policy allows:
// an active subject token meant for the client, an actor token of the
// client or impersonation allowed, scopes the subject holds; and records
// each token it issues.
func FuzzTokenExchange(f *testing.F) {
	f.Add("user-p1", oauth.TokenTypeAccessToken, "svc-own", oauth.TokenTypeAccessToken, "read", "", false)
	f.Add("user-p1", oauth.TokenTypeAccessToken, "", "", "", "https://api.p2.example/", true)
	f.Add("user-p2", oauth.TokenTypeIDToken, "other-own", oauth.TokenTypeAccessToken, "admin", "x", true)
	f.Add("delegated", oauth.TokenTypeAccessToken, "svc-own", "", "read read", "", false)
	f.Add("user-p1", oauth.TokenTypeAccessToken, "", "", "", "https://locked.example/", true)
	f.Add("not-let-in", oauth.TokenTypeAccessToken, "", "", "", "", true)
	f.Add("machine-own", oauth.TokenTypeAccessToken, "", "", "", "https://locked.example/", true)
	f.Fuzz(func(t *testing.T, subject, subjectType, actor, actorType, scope, resource string, impersonation bool) {
		tokens, g, c := exchangeFixture(impersonation)
		form := url.Values{"subject_token": {subject}, "subject_token_type": {subjectType}, "scope": {scope}}
		if actor != "" || actorType != "" {
			form["actor_token"], form["actor_token_type"] = []string{actor}, []string{actorType}
		}
		if resource != "" {
			form["resource"] = []string{resource}
		}
		resp, err := g.exchange(context.Background(), Request{InstanceID: "inst", Issuer: testIssuer, Form: form}, c)
		if err != nil {
			if oauth.AsError(err) == nil && !errors.Is(err, token.ErrInactive) {
				t.Fatalf("Token = %v, not an OAuth error", err)
			}
			if len(tokens.recorded) != 0 {
				t.Fatal("a refused exchange was recorded")
			}
			return
		}
		sub, ok := tokens.active[subject]
		if !ok || subjectType != oauth.TokenTypeAccessToken || sub.Subject == "u3" || sub.Subject == "u5" {
			t.Fatalf("exchanged subject %q of type %q", subject, subjectType)
		}
		if resource == "https://locked.example/" && (strings.HasPrefix(sub.Subject, "u") || strings.HasPrefix(sub.Subject, "m")) {
			t.Fatalf("a token of %s for a resource whose project does not let the user in", sub.Subject)
		}
		if sub.ClientID != "svc" && !slices.Contains(sub.Audience, "p1") && !slices.Contains(sub.Audience, "https://api.p1.example/") {
			t.Fatalf("exchanged %q, not meant for the client", subject)
		}
		if a, ok := tokens.active[actor]; actor == "" && !impersonation || actor != "" && (!ok || a.ClientID != "svc") {
			t.Fatalf("issued with actor %q (impersonation %v)", actor, impersonation)
		}
		for _, s := range strings.Fields(resp.Scope) {
			if !slices.Contains(strings.Fields(sub.Scope), s) {
				t.Fatalf("scope %q beyond the subject's %q", s, sub.Scope)
			}
		}
		if len(tokens.recorded) != 1 || "new-"+tokens.recorded[0].TokenID != resp.AccessToken {
			t.Fatalf("recorded %+v", tokens.recorded)
		}
	})
}

func TestMayActPolicy(t *testing.T) {
	actor := func(sub, client string) *token.AccessClaims {
		return &token.AccessClaims{Subject: sub, ClientID: client}
	}
	for name, c := range map[string]struct {
		m     *oauth.MayAct
		actor *token.AccessClaims
		ok    bool
	}{
		"no may_act, impersonation":        {nil, nil, true},
		"no may_act, any actor":            {nil, actor("x", "y"), true},
		"impersonation refused":            {&oauth.MayAct{Subject: "svc"}, nil, false},
		"the named sub":                    {&oauth.MayAct{Subject: "svc"}, actor("svc", "svc"), true},
		"the named sub via any client":     {&oauth.MayAct{Subject: "u1"}, actor("u1", "c9"), true},
		"another sub":                      {&oauth.MayAct{Subject: "svc"}, actor("svc2", "svc"), false},
		"the named sub and client":         {&oauth.MayAct{Subject: "u1", ClientID: "c1"}, actor("u1", "c1"), true},
		"the named sub via another client": {&oauth.MayAct{Subject: "u1", ClientID: "c1"}, actor("u1", "c2"), false},
		"the named client as itself":       {&oauth.MayAct{Subject: "u1", ClientID: "c1"}, actor("c1", "c1"), false},
		"a case variant of the sub":        {&oauth.MayAct{Subject: "svc"}, actor("SVC", "svc"), false},
	} {
		err := mayAct(c.m, c.actor)
		if c.ok != (err == nil) {
			t.Errorf("%s: %v", name, err)
		}
		var oe *oauth.Error
		if err != nil && (!errors.As(err, &oe) || oe.Code != oauth.InvalidRequest) {
			t.Errorf("%s: %v is not invalid_request", name, err)
		}
	}
}
