package op

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/castellan-iam/castellan/internal/access/project"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/authreq"
	"github.com/castellan-iam/castellan/internal/oauth/claims"
	"github.com/castellan-iam/castellan/internal/oauth/client"
)

// Bounds of the authorization request's parameters.
const (
	maxState     = 2000
	maxNonce     = 500
	maxHint      = 500
	maxScopeLen  = 2000
	maxAuthQuery = 16 << 10
)

// prompts are the prompt values of OIDC Core section 3.1.2.1 the login
// honours.
var prompts = []string{"none", "login", "consent", "select_account"}

// pkceChallenge is a S256 challenge: the base64url of 32 bytes.
var pkceChallenge = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// authorize serves the authorization endpoint (RFC 6749 section 4.1.1,
// OIDC Core section 3.1.2): GET with the query, or POST with a form. The
// client and its redirect URI are checked first, and an error about them
// is shown to the user, never sent to the URI (section 4.1.2.1); every
// later error returns to the client. A valid request is stored and the
// browser sent to the login, which finishes it.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	params, err := authorizeParams(w, r)
	if err != nil {
		p.authorizeError(w, r, err)
		return
	}
	inst, iss := p.issuer(r)
	app, err := p.d.Clients.Lookup(r.Context(), inst.ID, params.Get("client_id"))
	if failure.Is(err, failure.KindNotFound) {
		p.authorizeError(w, r, oauth.Errorf(oauth.InvalidRequest, "unknown client_id %.80q", params.Get("client_id")))
		return
	}
	if err != nil {
		p.authorizeError(w, r, err)
		return
	}
	if uri := params.Get("request_uri"); uri != "" {
		// A pushed request: its parameters were checked when pushed, and
		// any others sent here are ignored (RFC 9126 section 4).
		stored, err := p.d.AuthRequests.Claim(r.Context(), inst.ID, app.ClientID, uri)
		if failure.Is(err, failure.KindNotFound) {
			p.authorizeError(w, r, oauth.Errorf(oauth.InvalidRequest, "request_uri is unknown, expired, used, or another client's"))
			return
		}
		if err != nil {
			p.authorizeError(w, r, err)
			return
		}
		http.Redirect(w, r, p.d.LoginPath+"?authRequest="+url.QueryEscape(stored.ID), http.StatusFound)
		return
	}
	redirectURI := params.Get("redirect_uri")
	if redirectURI == "" {
		p.authorizeError(w, r, oauth.Errorf(oauth.InvalidRequest, "redirect_uri is required"))
		return
	}
	if !app.MatchRedirectURI(redirectURI) {
		p.authorizeError(w, r, oauth.Errorf(oauth.InvalidRequest, "redirect_uri is not registered for this client"))
		return
	}
	state := params.Get("state")
	if len(state) > maxState {
		// Too long to send back: the request is refused before the URI.
		p.authorizeError(w, r, oauth.Errorf(oauth.InvalidRequest, "state is longer than %d bytes", maxState))
		return
	}
	req, err := checkAuthorize(params, app)
	switch {
	case err != nil:
	case app.FAPI:
		err = oauth.Errorf(oauth.InvalidRequest, "this client follows FAPI 2.0 and must push its authorization requests (PAR, RFC 9126)")
	case app.RequirePushed:
		err = oauth.Errorf(oauth.InvalidRequest, "this client must push its authorization requests (PAR, RFC 9126)")
	}
	if err == nil {
		req.Resources, err = p.checkResources(r.Context(), inst.ID, params)
	}
	if err != nil {
		e := oauth.AsError(err)
		if e == nil {
			p.authorizeError(w, r, err)
			return
		}
		http.Redirect(w, r, authreq.ErrorCallback(redirectURI, iss, state, e.Code, e.Description), http.StatusFound)
		return
	}
	req.InstanceID, req.ClientID, req.RedirectURI, req.Issuer, req.State = inst.ID, app.ClientID, redirectURI, iss, state
	stored, err := p.d.AuthRequests.Create(r.Context(), req)
	if err != nil {
		p.d.Log.Error("authorization request", "err", err)
		http.Redirect(w, r, authreq.ErrorCallback(redirectURI, iss, state, oauth.ServerError, ""), http.StatusFound)
		return
	}
	http.Redirect(w, r, p.d.LoginPath+"?authRequest="+url.QueryEscape(stored.ID), http.StatusFound)
}

// authorizeParams reads the parameters of a GET query or a POSTed form;
// one given twice is invalid_request (RFC 6749 section 3.1).
func authorizeParams(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	raw := r.URL.RawQuery
	if r.Method == http.MethodPost {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, oauth.Errorf(oauth.InvalidRequest, "the body must be application/x-www-form-urlencoded")
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAuthQuery))
		if err != nil {
			return nil, oauth.Errorf(oauth.InvalidRequest, "the body could not be read or exceeds %d bytes", maxAuthQuery)
		}
		raw = string(body)
	}
	if len(raw) > maxAuthQuery {
		return nil, oauth.Errorf(oauth.InvalidRequest, "the request exceeds %d bytes", maxAuthQuery)
	}
	return parseForm(raw)
}

// checkAuthorize checks the parameters after the client and redirect
// URI: every error is an *oauth.Error for the client.
func checkAuthorize(params url.Values, app client.Application) (authreq.Request, error) {
	var req authreq.Request
	switch {
	case params.Has("request"):
		return req, oauth.Errorf(oauth.RequestNotSupported, "request objects are not supported")
	case params.Has("request_uri"):
		return req, oauth.Errorf(oauth.RequestURINotSupported, "request_uri is only accepted as the result of a pushed request")
	}
	if rt := params.Get("response_type"); rt != "code" {
		if rt == "" {
			return req, oauth.Errorf(oauth.InvalidRequest, "response_type is required")
		}
		return req, oauth.Errorf(oauth.UnsupportedResponseType, "response_type %.40q is not supported; use code", rt)
	}
	if !app.Allows(oauth.GrantAuthorizationCode) {
		return req, oauth.Errorf(oauth.UnauthorizedClient, "the client is not registered for the authorization_code grant")
	}
	if m := params.Get("response_mode"); m != "" && m != "query" {
		return req, oauth.Errorf(oauth.InvalidRequest, "response_mode %.40q is not supported; use query", m)
	}
	scopes, err := authorizeScopes(params.Get("scope"), app)
	if err != nil {
		return req, err
	}
	req.Scopes = scopes
	challenge, method := params.Get("code_challenge"), params.Get("code_challenge_method")
	switch {
	case challenge == "" && method != "":
		return req, oauth.Errorf(oauth.InvalidRequest, "code_challenge_method without code_challenge")
	case challenge == "" && app.Public:
		return req, oauth.Errorf(oauth.InvalidRequest, "a public client must use PKCE (code_challenge with S256)")
	case challenge == "" && app.FAPI:
		return req, oauth.Errorf(oauth.InvalidRequest, "a client of FAPI 2.0 must use PKCE (code_challenge with S256)")
	case challenge != "" && method != oauth.PKCES256:
		return req, oauth.Errorf(oauth.InvalidRequest, "code_challenge_method must be S256 (plain is not accepted)")
	case challenge != "" && !pkceChallenge.MatchString(challenge):
		return req, oauth.Errorf(oauth.InvalidRequest, "code_challenge is not a S256 challenge (43 base64url characters)")
	}
	req.CodeChallenge = challenge
	if req.DPoPJKT = params.Get("dpop_jkt"); req.DPoPJKT != "" && !pkceChallenge.MatchString(req.DPoPJKT) {
		// A JWK SHA-256 thumbprint is 43 base64url characters, like a
		// S256 challenge.
		return req, oauth.Errorf(oauth.InvalidRequest, "dpop_jkt is not a JWK SHA-256 thumbprint (RFC 9449 section 10)")
	}
	if req.Nonce = params.Get("nonce"); len(req.Nonce) > maxNonce {
		return req, oauth.Errorf(oauth.InvalidRequest, "nonce is longer than %d bytes", maxNonce)
	}
	req.Prompt = strings.Fields(params.Get("prompt"))
	for _, v := range req.Prompt {
		if !slices.Contains(prompts, v) {
			return req, oauth.Errorf(oauth.InvalidRequest, "prompt %.40q is not one of %v", v, prompts)
		}
	}
	if slices.Contains(req.Prompt, "none") && len(req.Prompt) > 1 {
		return req, oauth.Errorf(oauth.InvalidRequest, "prompt none cannot be combined with other values")
	}
	req.MaxAge = -1
	if v := params.Get("max_age"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > 1<<31 {
			return req, oauth.Errorf(oauth.InvalidRequest, "max_age must be a number of seconds")
		}
		req.MaxAge = n
	}
	if req.LoginHint = params.Get("login_hint"); len(req.LoginHint) > maxHint {
		return req, oauth.Errorf(oauth.InvalidRequest, "login_hint is longer than %d bytes", maxHint)
	}
	if req.UILocales = params.Get("ui_locales"); len(req.UILocales) > maxHint {
		return req, oauth.Errorf(oauth.InvalidRequest, "ui_locales is longer than %d bytes", maxHint)
	}
	return req, nil
}

// authorizeScopes checks the requested scopes: the standard OpenID
// Connect scopes (offline_access only for a client of the refresh_token
// grant) and the scopes the application registered.
func authorizeScopes(requested string, app client.Application) ([]string, error) {
	if len(requested) > maxScopeLen {
		return nil, oauth.Errorf(oauth.InvalidScope, "scope is longer than %d bytes", maxScopeLen)
	}
	var out []string
	for _, s := range strings.Fields(requested) {
		switch {
		case !oauth.ValidScopeToken(s):
			return nil, oauth.Errorf(oauth.InvalidScope, "%.80q is not a scope token", s)
		case s == claims.ScopeOfflineAccess && !app.Allows(oauth.GrantRefreshToken):
			return nil, oauth.Errorf(oauth.InvalidScope, "offline_access needs a client registered for the refresh_token grant")
		case !slices.Contains(claims.Standard, s) && !project.IsRoleScope(s) && !slices.Contains(app.Scopes, s):
			return nil, oauth.Errorf(oauth.InvalidScope, "the client may not request scope %.80q", s)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// authorizeError answers an authorization request that cannot return to
// the client: a plain page for the user, since the redirect URI is not
// trusted (RFC 6749 section 4.1.2.1).
func (p *Provider) authorizeError(w http.ResponseWriter, r *http.Request, err error) {
	e := oauth.AsError(err)
	if e == nil {
		p.d.Log.Error("authorization endpoint failed", "err", err)
		e = oauth.Errorf(oauth.ServerError, "internal error")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(e.HTTPStatus())
	fmt.Fprintf(w, "The application sent an invalid sign-in request, so it cannot continue.\n\nerror: %s\n%s\n", e.Code, e.Description)
}
