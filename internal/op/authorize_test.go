package op

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/claims"
	"github.com/castellan-iam/castellan/internal/oauth/client"
)

// challenge is the S256 challenge of RFC 7636 appendix B.
const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

var (
	publicApp = client.Application{ClientID: "spa", Public: true, GrantTypes: []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken},
		Scopes: []string{"orders:read"}}
	confidentialApp = client.Application{ClientID: "web", GrantTypes: []string{oauth.GrantAuthorizationCode}, Scopes: []string{"orders:read"}}
	machineApp      = client.Application{ClientID: "worker", GrantTypes: []string{"client_credentials"}}
	fapiApp         = client.Application{ClientID: "bank", GrantTypes: []string{oauth.GrantAuthorizationCode}, FAPI: true}
)

func TestCheckAuthorize(t *testing.T) {
	base := "response_type=code&code_challenge=" + challenge + "&code_challenge_method=S256&scope=openid+profile"
	for _, tc := range []struct {
		name  string
		query string
		app   client.Application
		code  string // the error code, "" for none
	}{
		{"ok/public client with S256", base, publicApp, ""},
		{"ok/confidential client without PKCE", "response_type=code&scope=openid", confidentialApp, ""},
		{"ok/confidential client with PKCE", base, confidentialApp, ""},
		{"ok/no scope at all", "response_type=code", confidentialApp, ""},
		{"ok/a registered scope", base + "+orders:read", publicApp, ""},
		{"ok/offline_access for a client of the refresh_token grant", base + "+offline_access", publicApp, ""},
		{"ok/every prompt but none together", base + "&prompt=login+consent+select_account", publicApp, ""},
		{"ok/prompt none alone", base + "&prompt=none", publicApp, ""},
		{"ok/max_age 0", base + "&max_age=0", publicApp, ""},
		{"ok/response_mode query", base + "&response_mode=query", publicApp, ""},
		{"ok/unknown parameters are ignored", base + "&foo=bar&claims_locales=fr", publicApp, ""},

		{"fail/request object", base + "&request=eyJ.eyJ.sig", publicApp, oauth.RequestNotSupported},
		{"fail/empty request object", base + "&request=", publicApp, oauth.RequestNotSupported},
		{"fail/request_uri", base + "&request_uri=urn:ietf:params:oauth:request_uri:x", publicApp, oauth.RequestURINotSupported},
		{"fail/no response_type", "scope=openid", confidentialApp, oauth.InvalidRequest},
		{"fail/response_type token (implicit)", "response_type=token", confidentialApp, oauth.UnsupportedResponseType},
		{"fail/response_type id_token", "response_type=id_token", confidentialApp, oauth.UnsupportedResponseType},
		{"fail/response_type code id_token (hybrid)", "response_type=code+id_token", confidentialApp, oauth.UnsupportedResponseType},
		{"fail/response_type CODE", "response_type=CODE", confidentialApp, oauth.UnsupportedResponseType},
		{"fail/response_type with a trailing space", "response_type=code+", confidentialApp, oauth.UnsupportedResponseType},
		{"fail/a client without the authorization_code grant", "response_type=code", machineApp, oauth.UnauthorizedClient},
		{"fail/response_mode fragment", base + "&response_mode=fragment", publicApp, oauth.InvalidRequest},
		{"fail/response_mode form_post", base + "&response_mode=form_post", publicApp, oauth.InvalidRequest},
		{"fail/public client without PKCE", "response_type=code&scope=openid", publicApp, oauth.InvalidRequest},
		{"ok/FAPI client with S256", base, fapiApp, ""},
		{"fail/FAPI client without PKCE", "response_type=code&scope=openid", fapiApp, oauth.InvalidRequest},
		{"fail/FAPI client with plain PKCE", "response_type=code&code_challenge=" + challenge + "&code_challenge_method=plain", fapiApp, oauth.InvalidRequest},
		{"fail/public client with an empty challenge", "response_type=code&code_challenge=&code_challenge_method=S256", publicApp, oauth.InvalidRequest},
		{"fail/method without challenge", "response_type=code&code_challenge_method=S256", confidentialApp, oauth.InvalidRequest},
		{"fail/PKCE plain", "response_type=code&code_challenge=" + challenge + "&code_challenge_method=plain", publicApp, oauth.InvalidRequest},
		{"fail/PKCE without method (plain by default)", "response_type=code&code_challenge=" + challenge, publicApp, oauth.InvalidRequest},
		{"fail/PKCE plain for a confidential client", "response_type=code&code_challenge=" + challenge + "&code_challenge_method=plain", confidentialApp,
			oauth.InvalidRequest},
		{"fail/PKCE method s256", "response_type=code&code_challenge=" + challenge + "&code_challenge_method=s256", publicApp, oauth.InvalidRequest},
		{"fail/challenge of 42 characters", "response_type=code&code_challenge=" + challenge[:42] + "&code_challenge_method=S256", publicApp, oauth.InvalidRequest},
		{"fail/challenge of 44 characters", "response_type=code&code_challenge=" + challenge + "A&code_challenge_method=S256", publicApp, oauth.InvalidRequest},
		{"fail/challenge with padding", "response_type=code&code_challenge=" + challenge[:42] + "%3D&code_challenge_method=S256", publicApp, oauth.InvalidRequest},
		{"fail/challenge in standard base64", "response_type=code&code_challenge=" + strings.ReplaceAll(challenge, "-", "%2B") + "&code_challenge_method=S256",
			publicApp, oauth.InvalidRequest},
		{"fail/challenge with a newline", "response_type=code&code_challenge=" + challenge[:42] + "%0A&code_challenge_method=S256", publicApp, oauth.InvalidRequest},
		{"fail/prompt none with login", base + "&prompt=none+login", publicApp, oauth.InvalidRequest},
		{"fail/prompt none twice", base + "&prompt=none+none", publicApp, oauth.InvalidRequest},
		{"fail/unknown prompt", base + "&prompt=create", publicApp, oauth.InvalidRequest},
		{"fail/prompt NONE", base + "&prompt=NONE", publicApp, oauth.InvalidRequest},
		{"fail/max_age negative", base + "&max_age=-1", publicApp, oauth.InvalidRequest},
		{"fail/max_age not a number", base + "&max_age=1h", publicApp, oauth.InvalidRequest},
		{"fail/max_age fractional", base + "&max_age=1.5", publicApp, oauth.InvalidRequest},
		{"fail/max_age beyond 2^31", base + "&max_age=2147483649", publicApp, oauth.InvalidRequest},
		{"fail/max_age overflowing int64", base + "&max_age=99999999999999999999", publicApp, oauth.InvalidRequest},
		{"fail/nonce too long", base + "&nonce=" + strings.Repeat("n", maxNonce+1), publicApp, oauth.InvalidRequest},
		{"fail/login_hint too long", base + "&login_hint=" + strings.Repeat("h", maxHint+1), publicApp, oauth.InvalidRequest},
		{"fail/ui_locales too long", base + "&ui_locales=" + strings.Repeat("l", maxHint+1), publicApp, oauth.InvalidRequest},
		{"fail/offline_access without the refresh_token grant", "response_type=code&scope=openid+offline_access", confidentialApp, oauth.InvalidScope},
		{"fail/offline_access registered as a scope without the refresh_token grant", "response_type=code&scope=offline_access",
			client.Application{ClientID: "web", GrantTypes: []string{oauth.GrantAuthorizationCode}, Scopes: []string{"offline_access"}}, oauth.InvalidScope},
		{"fail/an unregistered scope", base + "+admin", publicApp, oauth.InvalidScope},
		{"fail/another client's scope differing in case", base + "+Orders:Read", publicApp, oauth.InvalidScope},
		{"fail/a scope with a quote", base + "+%22openid%22", publicApp, oauth.InvalidScope},
		{"fail/a scope with a backslash", base + "+open%5Cid", publicApp, oauth.InvalidScope},
		{"fail/a scope with a control character", base + "+open%7Fid", publicApp, oauth.InvalidScope},
		{"fail/a scope with a non-ASCII letter", base + "+%C3%A9", publicApp, oauth.InvalidScope},
		{"fail/scope too long", "response_type=code&scope=" + strings.Repeat("openid+", maxScopeLen/7+1), confidentialApp, oauth.InvalidScope},
	} {
		t.Run(tc.name, func(t *testing.T) {
			params, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			req, err := checkAuthorize(params, tc.app)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("checkAuthorize = %v", err)
				}
				checkAccepted(t, params, tc.app, req.Scopes, req.CodeChallenge, req.Prompt, req.MaxAge, len(req.Nonce), len(req.LoginHint), len(req.UILocales))
				return
			}
			if e := oauth.AsError(err); e == nil || e.Code != tc.code {
				t.Fatalf("checkAuthorize = %v; want %s", err, tc.code)
			}
		})
	}
}

func TestCheckAuthorizeKeepsTheRequest(t *testing.T) {
	params, err := url.ParseQuery("response_type=code&scope=openid+orders:read+openid+offline_access&code_challenge=" + challenge +
		"&code_challenge_method=S256&nonce=n-1&prompt=login+consent&max_age=300&login_hint=ada%40example.com&ui_locales=fr-CA+fr")
	if err != nil {
		t.Fatal(err)
	}
	req, err := checkAuthorize(params, publicApp)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(req.Scopes, []string{"openid", "orders:read", "offline_access"}) || req.CodeChallenge != challenge || req.Nonce != "n-1" ||
		!slices.Equal(req.Prompt, []string{"login", "consent"}) || req.MaxAge != 300 || req.LoginHint != "ada@example.com" || req.UILocales != "fr-CA fr" {
		t.Fatalf("request %+v", req)
	}
	params.Del("max_age")
	if req, err = checkAuthorize(params, publicApp); err != nil || req.MaxAge != -1 {
		t.Fatalf("MaxAge without max_age = %d, %v; want -1", req.MaxAge, err)
	}
}

func TestAuthorizeParams(t *testing.T) {
	get := func(query string) *http.Request {
		return &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/oauth/v2/authorize", RawQuery: query}, Header: http.Header{}}
	}
	post := func(contentType, body string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/oauth/v2/authorize?client_id=ignored", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		return r
	}
	const form = "application/x-www-form-urlencoded"
	long := "client_id=c&state=" + strings.Repeat("s", maxAuthQuery)
	for _, tc := range []struct {
		name string
		req  *http.Request
		want url.Values // nil for an invalid_request
	}{
		{"ok/GET query", get("client_id=c1&scope=openid+profile&state=a%26b"), url.Values{"client_id": {"c1"}, "scope": {"openid profile"}, "state": {"a&b"}}},
		{"ok/GET without parameters", get(""), url.Values{}},
		{"ok/POST form, the query ignored", post(form, "client_id=c1&response_type=code"), url.Values{"client_id": {"c1"}, "response_type": {"code"}}},
		{"ok/POST form with a charset", post(form+"; charset=UTF-8", "client_id=c1"), url.Values{"client_id": {"c1"}}},
		{"ok/GET of exactly the bound", get(long[:maxAuthQuery]), url.Values{"client_id": {"c"}, "state": {long[len("client_id=c&state="):maxAuthQuery]}}},
		{"fail/GET with a repeated parameter", get("client_id=c1&client_id=c2"), nil},
		{"fail/GET with a repeated empty parameter", get("scope=openid&scope="), nil},
		{"fail/GET with a repeated redirect_uri", get("redirect_uri=https%3A%2F%2Fa.example&redirect_uri=https%3A%2F%2Fevil.example"), nil},
		{"fail/GET with a parameter named twice without value", get("prompt&prompt"), nil},
		{"fail/GET with a bad escape", get("client_id=%zz"), nil},
		{"fail/GET with a semicolon", get("client_id=c1;scope=openid"), nil},
		{"fail/GET over the bound", get(long), nil},
		{"fail/POST with a repeated parameter", post(form, "client_id=c1&client_id=c2"), nil},
		{"fail/POST JSON", post("application/json", `{"client_id":"c1"}`), nil},
		{"fail/POST without a content type", post("", "client_id=c1"), nil},
		{"fail/POST multipart", post("multipart/form-data; boundary=x", "--x--"), nil},
		{"fail/POST over the bound", post(form, long), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := authorizeParams(httptest.NewRecorder(), tc.req)
			if tc.want == nil {
				if e := oauth.AsError(err); e == nil || e.Code != oauth.InvalidRequest {
					t.Fatalf("authorizeParams = %v, %v; want invalid_request", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("authorizeParams = %v; want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if !slices.Equal(got[k], v) {
					t.Fatalf("authorizeParams = %v; want %v", got, tc.want)
				}
			}
		})
	}
}

// FuzzAuthorizeParams sends arbitrary queries and bodies through
// authorizeParams and checkAuthorize: they never panic, every refusal is
// an OAuth error, and every request they accept keeps the rules.
func FuzzAuthorizeParams(f *testing.F) {
	f.Add("response_type=code&client_id=spa&scope=openid+offline_access&code_challenge="+challenge+"&code_challenge_method=S256&prompt=none&max_age=0", false)
	f.Add("response_type=code&scope=openid&nonce=n&login_hint=a%40b&ui_locales=fr", true)
	f.Add("response_type=code&code_challenge="+challenge+"&code_challenge_method=plain", false)
	f.Add("request_uri=x&request=y", false)
	f.Add("response_type=code&prompt=none+login&max_age=-1", false)
	f.Add("response_type=code&scope=%ZZ&scope=a", true)
	f.Add("response_type=code&max_age=+7&scope=orders:read+offline_access", false)
	f.Add("a=1;b=2", false)
	f.Add("", true)
	apps := []client.Application{publicApp, confidentialApp, machineApp, fapiApp}
	f.Fuzz(func(t *testing.T, raw string, usePost bool) {
		var r *http.Request
		if usePost {
			r = &http.Request{Method: http.MethodPost, URL: &url.URL{Path: "/"}, Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
				Body: io.NopCloser(strings.NewReader(raw))}
		} else {
			r = &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/", RawQuery: raw}, Header: http.Header{}}
		}
		params, err := authorizeParams(httptest.NewRecorder(), r)
		if err != nil {
			if oauth.AsError(err) == nil {
				t.Fatalf("authorizeParams = %v; want an OAuth error", err)
			}
			return
		}
		for name, v := range params {
			if len(v) != 1 {
				t.Fatalf("parameter %q given %d times was accepted", name, len(v))
			}
		}
		for _, app := range apps {
			req, err := checkAuthorize(params, app)
			if err != nil {
				if oauth.AsError(err) == nil {
					t.Fatalf("checkAuthorize = %v; want an OAuth error", err)
				}
				continue
			}
			checkAccepted(t, params, app, req.Scopes, req.CodeChallenge, req.Prompt, req.MaxAge, len(req.Nonce), len(req.LoginHint), len(req.UILocales))
		}
	})
}

// checkAccepted holds for every request checkAuthorize accepts.
func checkAccepted(t *testing.T, params url.Values, app client.Application, scopes []string, codeChallenge string, prompt []string, maxAge int64,
	nonce, hint, locales int) {
	t.Helper()
	if params.Has("request") || params.Has("request_uri") || params.Get("response_type") != "code" || !app.Allows(oauth.GrantAuthorizationCode) {
		t.Fatalf("accepted %v for %s", params, app.ClientID)
	}
	if (app.Public || app.FAPI) && codeChallenge == "" || codeChallenge != "" && (!pkceChallenge.MatchString(codeChallenge) || params.Get("code_challenge_method") != "S256") {
		t.Fatalf("accepted PKCE %q for %s", codeChallenge, app.ClientID)
	}
	for i, s := range scopes {
		if !oauth.ValidScopeToken(s) || slices.Contains(scopes[:i], s) || !slices.Contains(claims.Standard, s) && !slices.Contains(app.Scopes, s) ||
			s == claims.ScopeOfflineAccess && !app.Allows(oauth.GrantRefreshToken) {
			t.Fatalf("accepted scopes %q for %s", scopes, app.ClientID)
		}
	}
	for _, p := range prompt {
		if !slices.Contains(prompts, p) || p == "none" && len(prompt) > 1 {
			t.Fatalf("accepted prompt %q", prompt)
		}
	}
	if maxAge < -1 || maxAge > 1<<31 || maxAge == -1 && params.Get("max_age") != "" {
		t.Fatalf("accepted max_age %d from %q", maxAge, params.Get("max_age"))
	}
	if nonce > maxNonce || hint > maxHint || locales > maxHint {
		t.Fatalf("accepted lengths %d %d %d", nonce, hint, locales)
	}
}
