package e2e

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// jsonCall calls the management API (or the AuthZEN API) with token and
// a JSON body, and returns the status and the decoded JSON answer.
func jsonCall(t *testing.T, base, token, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	r := mustCall(t, base, token, method, path, "application/json", b)
	var out map[string]any
	if r.body != "" {
		if err := json.Unmarshal([]byte(r.body), &out); err != nil {
			t.Fatalf("%s %s: %s is not JSON", method, path, r.body)
		}
	}
	return r.status, out
}

// mustJSON is jsonCall that fails the test unless the answer is 200.
func mustJSON(t *testing.T, base, token, method, path string, body any) map[string]any {
	t.Helper()
	code, out := jsonCall(t, base, token, method, path, body)
	if code != http.StatusOK {
		t.Fatalf("%s %s: %d %v", method, path, code, out)
	}
	return out
}

// jwtPayload decodes the claims of a JWT without verifying it (go-oidc
// verified the ID token; the access token's signature is checked by the
// provider tests).
func jwtPayload(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %.40s", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// The delegation scenario: Digitec (the first organization) owns the
// project "B2B portal" with the roles purchase_admin and viewer, and
// grants purchase_admin to the organization CAOS. A CAOS administrator
// authorizes a CAOS user, who signs in through the hosted login with
// golang.org/x/oauth2 and go-oidc: the tokens carry the role with CAOS as
// the granting organization. The CAOS administrator cannot grant what was
// not delegated nor touch Digitec's users. Digitec takes the role back
// from the grant: the next tokens lose it and AuthZEN says deny.
func TestDelegatedAccess(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := startOAuthServer(t, b)
		ctx := context.Background()
		owner := s.token
		digitec := s.orgID
		const password = "correct horse battery staple 1"

		caos := mustJSON(t, s.url, owner, http.MethodPost, "/v1/organizations", map[string]any{"name": "CAOS"})["organizationId"].(string)
		newUser := func(orgID, login string) string {
			return mustJSON(t, s.url, owner, http.MethodPost, "/v1/users", map[string]any{"organizationId": orgID, "type": "human",
				"loginName": login, "email": login + "@example.com", "password": password})["userId"].(string)
		}
		caosAdmin := newUser(caos, "caos-admin")
		buyer := newUser(caos, "buyer")
		buyer2 := newUser(caos, "buyer2")
		seller := newUser(digitec, "seller")
		newUser(digitec, "outsider")
		mustJSON(t, s.url, owner, http.MethodPost, "/v1/organizations/"+caos+"/members", map[string]any{"userId": caosAdmin, "roles": []string{"org.owner"}})
		out, stderr, err := castellan(t, b.env, "tokens", "create", "caos-admin", "1h")
		if err != nil {
			t.Fatalf("tokens create: %v\n%s", err, stderr)
		}
		caosToken := strings.TrimSpace(out)

		// Digitec's project, roles, application and grant.
		portal := mustJSON(t, s.url, owner, http.MethodPost, "/v1/projects", map[string]any{"organizationId": digitec, "name": "B2B portal"})["project"].(map[string]any)["id"].(string)
		for _, r := range []string{"purchase_admin", "viewer"} {
			mustJSON(t, s.url, owner, http.MethodPost, "/v1/projects/"+portal+"/roles", map[string]any{"key": r})
		}
		web, secret := s.createApplication(t, portal, map[string]any{"name": "portal web", "grantTypes": []string{"authorization_code", "refresh_token"},
			"redirectUris": []string{callbackURI}})
		grant := mustJSON(t, s.url, owner, http.MethodPost, "/v1/projects/"+portal+"/grants",
			map[string]any{"grantedOrganizationId": caos, "roles": []string{"purchase_admin"}})["grant"].(map[string]any)["id"].(string)
		mustJSON(t, s.url, owner, http.MethodPost, "/v1/authorizations", map[string]any{"userId": seller, "projectId": portal, "roles": []string{"viewer"}})

		// What CAOS sees of the project: the grant and its role, nothing else.
		granted := mustJSON(t, s.url, caosToken, http.MethodGet, "/v1/project_grants?grantedOrganizationId="+caos, nil)["grants"].([]any)
		if len(granted) != 1 || granted[0].(map[string]any)["projectName"] != "B2B portal" || len(granted[0].(map[string]any)["roles"].([]any)) != 1 {
			t.Fatalf("the granted organization's view: %v", granted)
		}
		if roles := mustJSON(t, s.url, caosToken, http.MethodGet, "/v1/projects/"+portal+"/roles", nil)["roles"].([]any); len(roles) != 1 {
			t.Fatalf("CAOS sees the roles %v", roles)
		}
		for _, refused := range []struct {
			name, method, path string
			body               any
			want               int
		}{
			{"the project itself", http.MethodGet, "/v1/projects/" + portal, nil, http.StatusNotFound},
			{"the project's applications", http.MethodGet, "/v1/projects/" + portal + "/applications", nil, http.StatusNotFound},
			{"a Digitec user", http.MethodGet, "/v1/users/" + seller, nil, http.StatusNotFound},
			{"viewer, which was not delegated", http.MethodPost, "/v1/authorizations", map[string]any{"userId": buyer, "projectId": portal, "grantId": grant, "roles": []string{"viewer"}}, http.StatusBadRequest},
			{"a Digitec user under the grant", http.MethodPost, "/v1/authorizations", map[string]any{"userId": seller, "projectId": portal, "grantId": grant, "roles": []string{"purchase_admin"}}, http.StatusNotFound},
			{"the project without the grant", http.MethodPost, "/v1/authorizations", map[string]any{"userId": buyer, "projectId": portal, "roles": []string{"purchase_admin"}}, http.StatusNotFound},
			{"the grant's roles", http.MethodPut, "/v1/project_grants/" + grant, map[string]any{"roles": []string{"purchase_admin", "viewer"}}, http.StatusNotFound},
			{"a new role", http.MethodPost, "/v1/projects/" + portal + "/roles", map[string]any{"key": "root"}, http.StatusNotFound},
		} {
			if code, body := jsonCall(t, s.url, caosToken, refused.method, refused.path, refused.body); code != refused.want {
				t.Fatalf("CAOS administrator, %s: %d %v (want %d)", refused.name, code, body, refused.want)
			}
		}
		authorization := mustJSON(t, s.url, caosToken, http.MethodPost, "/v1/authorizations",
			map[string]any{"userId": buyer, "projectId": portal, "grantId": grant, "roles": []string{"purchase_admin"}})["authorization"].(map[string]any)
		if authorization["organizationId"] != caos {
			t.Fatalf("authorization %v", authorization)
		}
		// CAOS authorizes a group too: its members hold the role.
		purchasing := mustJSON(t, s.url, caosToken, http.MethodPost, "/v1/groups", map[string]any{"organizationId": caos, "name": "Purchasing"})["group"].(map[string]any)["id"].(string)
		mustJSON(t, s.url, caosToken, http.MethodPost, "/v1/groups/"+purchasing+"/members", map[string]any{"userId": buyer2})
		if code, body := jsonCall(t, s.url, caosToken, http.MethodPost, "/v1/groups/"+purchasing+"/members", map[string]any{"userId": seller}); code != http.StatusNotFound {
			t.Fatalf("CAOS adds a Digitec user to its group: %d %v", code, body)
		}
		mustJSON(t, s.url, caosToken, http.MethodPost, "/v1/authorizations",
			map[string]any{"groupId": purchasing, "projectId": portal, "grantId": grant, "roles": []string{"purchase_admin"}})

		// CAOS makes a user administrator of the grant alone: it reads the
		// authorizations under the grant, not CAOS's users.
		grantAdmin := newUser(caos, "grant-admin")
		mustJSON(t, s.url, caosToken, http.MethodPost, "/v1/project_grants/"+grant+"/members", map[string]any{"userId": grantAdmin, "roles": []string{"project_grant.owner"}})
		out, stderr, err = castellan(t, b.env, "tokens", "create", "grant-admin", "1h")
		if err != nil {
			t.Fatalf("tokens create: %v\n%s", err, stderr)
		}
		grantToken := strings.TrimSpace(out)
		if list := mustJSON(t, s.url, grantToken, http.MethodGet, "/v1/authorizations?projectId="+portal+"&grantId="+grant, nil)["authorizations"].([]any); len(list) != 2 {
			t.Fatalf("the grant's administrator lists %v", list)
		}
		if code, _ := jsonCall(t, s.url, grantToken, http.MethodGet, "/v1/users/"+buyer, nil); code != http.StatusNotFound {
			t.Fatalf("the grant's administrator reads a CAOS user: %d", code)
		}

		// CAOS lists the project's authorizations it administers: its own
		// users', not Digitec's.
		if list := mustJSON(t, s.url, caosToken, http.MethodGet, "/v1/authorizations?projectId="+portal, nil)["authorizations"].([]any); len(list) != 2 {
			t.Fatalf("CAOS lists %v", list)
		} else {
			for _, a := range list {
				if a := a.(map[string]any); a["organizationId"] != caos || (a["userId"] != buyer && a["groupId"] != purchasing) {
					t.Fatalf("CAOS lists %v", a)
				}
			}
		}

		// The buyer signs in to the portal; its tokens carry the role, with
		// CAOS as the granting organization.
		provider, err := oidc.NewProvider(ctx, s.url)
		if err != nil {
			t.Fatal(err)
		}
		conf := oauth2.Config{ClientID: web.ClientID, ClientSecret: secret, Endpoint: provider.Endpoint(), RedirectURL: callbackURI,
			Scopes: []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess, "urn:castellan:project:roles"}}
		verifier := oauth2.GenerateVerifier()
		back := authorize(t, browserClient(t), conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), "buyer", password)
		tok, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		idToken, err := provider.Verifier(&oidc.Config{ClientID: web.ClientID}).Verify(ctx, tok.Extra("id_token").(string))
		if err != nil {
			t.Fatal(err)
		}
		var claims map[string]any
		if err := idToken.Claims(&claims); err != nil {
			t.Fatal(err)
		}
		wantRole := func(where string, c map[string]any, want bool) {
			t.Helper()
			roles, _ := c["urn:castellan:project:roles"].(map[string]any)
			orgs, _ := roles["purchase_admin"].(map[string]any)
			_, fromCAOS := orgs[caos]
			if fromCAOS != want || (want && len(roles) != 1) {
				t.Fatalf("%s: roles claim %v, want purchase_admin from CAOS: %v", where, c["urn:castellan:project:roles"], want)
			}
		}
		wantRole("ID token", claims, true)
		wantRole("access token", jwtPayload(t, tok.AccessToken), true)
		info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatal(err)
		}
		var infoClaims map[string]any
		if err := info.Claims(&infoClaims); err != nil {
			t.Fatal(err)
		}
		wantRole("userinfo", infoClaims, true)
		if code, _, body := s.form(t, "/oauth/v2/introspect", web.ClientID, secret, url.Values{"token": {tok.AccessToken}}); code != http.StatusOK {
			t.Fatalf("introspect: %d %v", code, body)
		} else {
			wantRole("introspection", body, true)
		}

		evaluateFor := func(token, user string) bool {
			t.Helper()
			out := mustJSON(t, s.url, token, http.MethodPost, "/access/v1/evaluation", map[string]any{
				"subject": map[string]any{"type": "user", "id": user}, "action": map[string]any{"name": "purchase_admin"},
				"resource": map[string]any{"type": "project", "id": portal}})
			return out["decision"] == true
		}
		evaluate := func(token string) bool { t.Helper(); return evaluateFor(token, buyer) }
		if !evaluate(owner) || !evaluateFor(owner, buyer2) {
			t.Fatal("AuthZEN denies the delegated role")
		}
		if evaluate(caosToken) {
			t.Fatal("AuthZEN answers the CAOS administrator about Digitec's project")
		}
		// Permissions on organizations are actions too; CAOS's
		// administrator may ask about CAOS, not Digitec.
		permits := func(token, org, permission string) bool {
			t.Helper()
			return mustJSON(t, s.url, token, http.MethodPost, "/access/v1/evaluation", map[string]any{
				"subject": map[string]any{"type": "user", "id": caosAdmin}, "action": map[string]any{"name": permission},
				"resource": map[string]any{"type": "organization", "id": org}})["decision"] == true
		}
		if !permits(caosToken, caos, "user.write") || permits(owner, digitec, "user.write") || permits(caosToken, digitec, "user.read") {
			t.Fatal("AuthZEN on organizations")
		}
		// The search for holders lists only what the caller may read of
		// the authorizations: Digitec's own administrator (not the
		// instance owner) does not learn CAOS's holders.
		digitecAdmin := newUser(digitec, "digitec-admin")
		mustJSON(t, s.url, owner, http.MethodPost, "/v1/organizations/"+digitec+"/members", map[string]any{"userId": digitecAdmin, "roles": []string{"org.owner"}})
		out, stderr, err = castellan(t, b.env, "tokens", "create", "digitec-admin", "1h")
		if err != nil {
			t.Fatalf("tokens create: %v\n%s", err, stderr)
		}
		digitecToken := strings.TrimSpace(out)
		holdersNow := func(token string) int {
			t.Helper()
			return len(mustJSON(t, s.url, token, http.MethodPost, "/access/v1/search/subject", map[string]any{"subject": map[string]any{"type": "user"},
				"action": map[string]any{"name": "purchase_admin"}, "resource": map[string]any{"type": "project", "id": portal}})["results"].([]any))
		}
		if all, digitecs := holdersNow(owner), holdersNow(digitecToken); all != 2 || digitecs != 0 {
			t.Fatalf("holders listed: %d to the instance owner, %d to Digitec's administrator", all, digitecs)
		}
		if !evaluate(digitecToken) {
			t.Fatal("Digitec's application cannot check a CAOS user's delegated role")
		}
		actions := mustJSON(t, s.url, owner, http.MethodPost, "/access/v1/search/action", map[string]any{
			"subject": map[string]any{"type": "user", "id": buyer}, "resource": map[string]any{"type": "project", "id": portal}})["results"].([]any)
		if len(actions) != 1 || actions[0].(map[string]any)["name"] != "purchase_admin" {
			t.Fatalf("AuthZEN actions of the buyer: %v", actions)
		}

		// The application switches to flat role claims: the next token
		// lists role keys (the clients' cache holds an application for up
		// to a second); then back.
		setFormat := func(format string) {
			t.Helper()
			app := mustJSON(t, s.url, owner, http.MethodPatch, "/v1/applications/"+web.ID, map[string]any{"roleClaims": format})["application"].(map[string]any)
			if app["roleClaims"] != format {
				t.Fatalf("application after the update: %v", app)
			}
			time.Sleep(1100 * time.Millisecond)
		}
		setFormat("ROLE_CLAIM_FORMAT_FLAT")
		flat, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatal(err)
		}
		if roles, _ := jwtPayload(t, flat.AccessToken)["roles"].([]any); len(roles) != 1 || roles[0] != "purchase_admin" {
			t.Fatalf("flat roles claim: %v", jwtPayload(t, flat.AccessToken))
		}
		tok = flat
		setFormat("ROLE_CLAIM_FORMAT_NESTED")

		// Digitec takes purchase_admin back from the grant.
		time.Sleep(5 * time.Millisecond)
		whileHeld := time.Now().UTC()
		time.Sleep(5 * time.Millisecond)
		mustJSON(t, s.url, owner, http.MethodPut, "/v1/project_grants/"+grant, map[string]any{"roles": []string{}})
		refreshed, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatal(err)
		}
		wantRole("refreshed access token", jwtPayload(t, refreshed.AccessToken), false)
		if evaluate(owner) || evaluateFor(owner, buyer2) {
			t.Fatal("AuthZEN permits a role taken back from the grant")
		}

		// Every step is in the audit trail: the project's own events for
		// Digitec, and CAOS's authorizations — with the cascade of the
		// grant's change as their own events — for CAOS, which does not see
		// Digitec's.
		types := func(token, query string) []string {
			t.Helper()
			var out []string
			for _, e := range mustJSON(t, s.url, token, http.MethodGet, "/v1/events?"+query, nil)["events"].([]any) {
				out = append(out, e.(map[string]any)["type"].(string))
			}
			return out
		}
		// Pages are settled: on PostgreSQL an event shows once no
		// transaction in flight anywhere in the cluster precedes it (a
		// subscription's round may be in flight), so the lists are read
		// until they are whole.
		settled := func(token, query, want string) string {
			t.Helper()
			for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				if got := strings.Join(types(token, query), " "); got == want || time.Now().After(deadline) {
					return got
				}
			}
		}
		wantProject := "project.added project.role.added project.role.added project.application.added project.application.secret.added project.grant.added " +
			"project.application.changed project.application.changed project.grant.changed"
		if got := settled(owner, "aggregateType=project&aggregateId="+portal, wantProject); got != wantProject {
			t.Fatalf("the project's events: %s", got)
		}
		wantCAOS := "authorization.added authorization.added authorization.changed authorization.changed"
		if caosEvents := settled(caosToken, "organizationId="+caos+"&eventTypePrefixes=authorization.&editorClientId=api", wantCAOS); caosEvents != wantCAOS {
			t.Fatalf("CAOS's authorization events: %s", caosEvents)
		}
		if code, _ := jsonCall(t, s.url, caosToken, http.MethodGet, "/v1/events?organizationId="+digitec, nil); code != http.StatusForbidden {
			t.Fatalf("CAOS reads Digitec's events: %d", code)
		}
		// And the past answers: who held purchase_admin while it was
		// delegated, and nobody since.
		holders := func(at time.Time) []any {
			t.Helper()
			out := mustJSON(t, s.url, owner, http.MethodGet, "/v1/history/projects/"+portal+"/roles/purchase_admin/holders?time="+at.Format(time.RFC3339Nano), nil)
			ids, _ := out["userIds"].([]any)
			return ids
		}
		if then, now := holders(whileHeld), holders(time.Now().UTC()); len(then) != 2 || len(now) != 0 {
			t.Fatalf("holders of purchase_admin then %v, now %v", then, now)
		}
		if code, _ := jsonCall(t, s.url, caosToken, http.MethodGet, "/v1/history/projects/"+portal+"/roles/purchase_admin/holders?time="+whileHeld.Format(time.RFC3339Nano), nil); code != http.StatusNotFound {
			t.Fatalf("CAOS asks Digitec's project's past: %d", code)
		}

		// Digitec lets only authorized users in: an outsider's sign-in
		// returns access_denied to the application; the buyer (still
		// authorized, without roles) gets a code.
		mustJSON(t, s.url, owner, http.MethodPut, "/v1/projects/"+portal+"/settings", map[string]any{"settings": map[string]any{"requireAuthorization": true}})
		denied := authorize(t, browserClient(t), conf.AuthCodeURL("st-2", oauth2.S256ChallengeOption(verifier)), "outsider", password)
		if q := denied.Query(); q.Get("error") != "access_denied" || q.Get("code") != "" || q.Get("state") != "st-2" {
			t.Fatalf("an outsider's sign-in returned %s", denied)
		}
		if again := authorize(t, browserClient(t), conf.AuthCodeURL("st-3", oauth2.S256ChallengeOption(verifier)), "buyer", password); again.Query().Get("code") == "" {
			t.Fatalf("the authorized buyer's sign-in returned %s", again)
		}
	})
}

// The audit trail streams to a SIEM as server-sent events: the history
// first, then a change as it happens; a reconnect after the last id seen
// resumes there.
func TestEventStream(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := startOAuthServer(t, b)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		open := func(lastID string) (*bufio.Reader, func()) {
			t.Helper()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/v1/events:stream?eventTypes=org.added&language=de", nil)
			req.Header.Set("Authorization", "Bearer "+s.token)
			if lastID != "" {
				req.Header.Set("Last-Event-ID", lastID)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("stream: %s %v", resp.Status, resp.Header)
			}
			return bufio.NewReader(resp.Body), func() { resp.Body.Close() }
		}
		// next returns the id and data of the next message.
		next := func(r *bufio.Reader) (string, string) {
			t.Helper()
			var id, data string
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					t.Fatalf("stream ended: %v", err)
				}
				line = strings.TrimRight(line, "\n")
				switch {
				case strings.HasPrefix(line, "id: "):
					id = strings.TrimPrefix(line, "id: ")
				case strings.HasPrefix(line, "data: "):
					data = strings.TrimPrefix(line, "data: ")
				case line == "" && id != "":
					return id, data
				}
			}
		}
		r, closeStream := open("")
		firstID, first := next(r) // the first organization, from the history
		if !strings.Contains(first, `"type":"org.added"`) {
			t.Fatalf("first message %s", first)
		}
		mustJSON(t, s.url, s.token, http.MethodPost, "/v1/organizations", map[string]any{"name": "Streamed"})
		liveID, live := next(r)
		if !strings.Contains(live, `"name":"Streamed"`) || !strings.Contains(live, `"description":"Die Organisation Streamed wurde angelegt."`) {
			t.Fatalf("live message %s", live)
		}
		closeStream()
		r, closeStream = open(firstID)
		defer closeStream()
		if id, _ := next(r); id != liveID {
			t.Fatalf("resumed at %s, want %s", id, liveID)
		}
		if code, _ := jsonCall(t, s.url, "not-a-token", http.MethodGet, "/v1/events:stream", nil); code != http.StatusUnauthorized {
			t.Fatalf("a stream without a credential: %d", code)
		}
		code, body := jsonCall(t, s.url, s.token, http.MethodGet, "/v1/events:stream?language=%C2%BF", nil)
		if msg, _ := body["error"].(string); code != http.StatusBadRequest || !strings.Contains(msg, "language") {
			t.Fatalf("a stream in a malformed language: %d %v", code, body)
		}
	})
}
