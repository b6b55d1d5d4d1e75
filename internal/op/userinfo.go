package op

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/claims"
	"github.com/castellan-iam/castellan/internal/oauth/token"
)

// userinfo serves the UserInfo endpoint (OIDC Core section 5.3): GET or
// POST, with the access token as a bearer in the Authorization header
// (RFC 6750 section 2.1) or, on POST, in the form (section 2.2). The token
// must be an active access token of a user, with the openid scope; the
// answer is the claims its scopes release, with sub.
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	allowAnyOrigin(w)
	raw, err := bearerOf(w, r)
	if err != nil {
		p.bearerError(w, r, err)
		return
	}
	inst, iss := p.issuer(r)
	c, err := p.d.Tokens.VerifyAccess(r.Context(), inst.ID, iss, raw)
	if errors.Is(err, token.ErrInactive) {
		p.bearerError(w, r, &oauth.Error{Code: oauth.InvalidToken, Description: "the access token is not active", Status: http.StatusUnauthorized, Cause: err})
		return
	}
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	scopes := strings.Fields(c.Scope)
	if !slices.Contains(scopes, claims.ScopeOpenID) || c.Subject == c.ClientID {
		p.bearerError(w, r, &oauth.Error{Code: "insufficient_scope", Description: "the access token was not granted openid for a user", Status: http.StatusForbidden})
		return
	}
	app, err := p.d.Clients.Lookup(r.Context(), inst.ID, c.ClientID)
	if err != nil {
		p.bearerError(w, r, &oauth.Error{Code: oauth.InvalidToken, Description: "the access token is not active", Status: http.StatusUnauthorized, Cause: err})
		return
	}
	out, err := p.d.Claims(r.Context(), inst.ID, c.Subject, app, scopes)
	if err != nil {
		p.bearerError(w, r, &oauth.Error{Code: oauth.InvalidToken, Description: "the access token is not active", Status: http.StatusUnauthorized, Cause: err})
		return
	}
	if out == nil {
		out = map[string]any{}
	}
	out["sub"] = c.Subject
	writeJSON(w, http.StatusOK, out)
}

// bearerOf reads the bearer token of a request: the Authorization header,
// or the access_token of a POSTed form — one of them, not both (RFC 6750
// section 2).
func bearerOf(w http.ResponseWriter, r *http.Request) (string, error) {
	header := r.Header.Get("Authorization")
	var form string
	if r.Method == http.MethodPost && r.Header.Get("Content-Type") != "" {
		f, err := readForm(w, r)
		if err != nil {
			return "", err
		}
		form = f.Get("access_token")
	}
	switch {
	case header != "" && form != "":
		return "", oauth.Errorf(oauth.InvalidRequest, "the access token is given twice")
	case header != "":
		scheme, value, _ := strings.Cut(header, " ")
		if !strings.EqualFold(scheme, "Bearer") || value == "" {
			return "", &oauth.Error{Code: oauth.InvalidRequest, Description: "the Authorization header must use the Bearer scheme", Status: http.StatusUnauthorized}
		}
		return strings.TrimSpace(value), nil
	case form != "":
		return form, nil
	}
	return "", &oauth.Error{Status: http.StatusUnauthorized}
}

// bearerError answers a protected resource's error with its
// WWW-Authenticate challenge (RFC 6750 section 3).
func (p *Provider) bearerError(w http.ResponseWriter, r *http.Request, err error) {
	e := oauth.AsError(err)
	if e == nil {
		p.writeError(w, r, err)
		return
	}
	_, iss := p.issuer(r)
	challenge := `Bearer realm="` + iss + `"`
	if e.Code != "" {
		challenge += `, error="` + e.Code + `"`
	}
	if e.Cause != nil {
		p.d.Log.Debug("userinfo refused", "error", e.Code, "err", e.Cause)
	}
	w.Header().Set("WWW-Authenticate", challenge)
	if e.Code == "" {
		w.WriteHeader(e.HTTPStatus())
		return
	}
	writeJSON(w, e.HTTPStatus(), struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code, e.Description})
}
