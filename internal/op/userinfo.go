package op

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/claims"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/oauth/dpop"
	"github.com/castellan-iam/castellan/internal/oauth/token"
	"github.com/castellan-iam/castellan/internal/server"
)

// userinfo serves the UserInfo endpoint (OIDC Core section 5.3): GET or
// POST, with the access token as a bearer in the Authorization header
// (RFC 6750 section 2.1) or, on POST, in the form (section 2.2) — or, for
// a DPoP-bound token, in "Authorization: DPoP" with a proof of its key
// (RFC 9449 section 7; dpop.go). The token must be an active access token
// of a user, with the openid scope; the answer is the claims its scopes
// release, with sub.
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	allowAnyOrigin(w)
	tok, err := accessTokenOf(w, r)
	if err != nil {
		p.resourceError(w, r, err, false)
		return
	}
	inst, iss := p.issuer(r)
	c, err := p.d.Tokens.VerifyAccess(r.Context(), inst.ID, iss, tok.raw)
	if errors.Is(err, token.ErrInactive) {
		p.resourceError(w, r, &oauth.Error{Code: oauth.InvalidToken, Description: "the access token is not active", Status: http.StatusUnauthorized, Cause: err}, tok.dpop)
		return
	}
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	app, err := p.d.Clients.Lookup(r.Context(), inst.ID, c.ClientID)
	if err != nil {
		p.resourceError(w, r, &oauth.Error{Code: oauth.InvalidToken, Description: "the access token is not active", Status: http.StatusUnauthorized, Cause: err}, tok.dpop)
		return
	}
	if err := p.checkBinding(w, r, inst.ID, iss+r.URL.Path, tok, c, app); err != nil {
		p.resourceError(w, r, err, tok.dpop || c.Cnf != nil && c.Cnf.JKT != "")
		return
	}
	scopes := strings.Fields(c.Scope)
	if !slices.Contains(scopes, claims.ScopeOpenID) || c.Subject == c.ClientID {
		p.resourceError(w, r, &oauth.Error{Code: "insufficient_scope", Description: "the access token was not granted openid for a user", Status: http.StatusForbidden}, tok.dpop)
		return
	}
	out, err := p.d.Claims(r.Context(), inst.ID, c.Subject, app, scopes)
	if err != nil {
		p.resourceError(w, r, &oauth.Error{Code: oauth.InvalidToken, Description: "the access token is not active", Status: http.StatusUnauthorized, Cause: err}, tok.dpop)
		return
	}
	if out == nil {
		out = map[string]any{}
	}
	out["sub"] = c.Subject
	writeJSON(w, http.StatusOK, out)
}

// checkBinding checks a presented token against its binding (RFC 9449
// section 7.1): a DPoP-bound token only with the DPoP scheme and a proof
// of its key for this request and this token; the DPoP scheme only for a
// DPoP-bound token. A bearer token (no cnf) presented as Bearer passes.
func (p *Provider) checkBinding(w http.ResponseWriter, r *http.Request, instanceID, url string, tok presentedToken, c token.AccessClaims, app client.Application) error {
	jkt := ""
	if c.Cnf != nil {
		jkt = c.Cnf.JKT
		// A token bound to a TLS client certificate (RFC 8705 section 3)
		// only with that certificate on the request.
		if x5t := c.Cnf.X5TS256; x5t != "" {
			cert := server.ClientCertificate(r.Context())
			if cert == nil || subtle.ConstantTimeCompare([]byte(client.Thumbprint(cert)), []byte(x5t)) != 1 {
				return &oauth.Error{Code: oauth.InvalidToken, Status: http.StatusUnauthorized,
					Description: "the access token is bound to a TLS client certificate the request did not present (RFC 8705)"}
			}
		}
	}
	switch {
	case jkt != "" && !tok.dpop:
		return &oauth.Error{Code: oauth.InvalidToken, Status: http.StatusUnauthorized,
			Description: "the access token is bound to a DPoP key: present it with Authorization: DPoP and a DPoP proof"}
	case jkt == "" && tok.dpop:
		return &oauth.Error{Code: oauth.InvalidToken, Status: http.StatusUnauthorized, Description: "the access token is not DPoP-bound; present it as Bearer"}
	case jkt == "":
		return nil
	}
	proof, err := p.checkProof(w, r, instanceID, dpop.Target{Method: r.Method, URL: url, AccessToken: tok.raw}, app.DPoP.NonceRequired, true)
	if err == nil {
		err = fapiProof(app, proof)
	}
	if err != nil {
		if e := oauth.AsError(err); e != nil {
			e.Status = http.StatusUnauthorized
		}
		return err
	}
	if subtle.ConstantTimeCompare([]byte(proof.JKT), []byte(jkt)) != 1 {
		return &oauth.Error{Code: dpop.InvalidProof, Status: http.StatusUnauthorized, Description: "the DPoP proof is signed by another key than the access token is bound to"}
	}
	return nil
}

// accessTokenOf reads the access token of a request: the Authorization
// header (Bearer or DPoP), or the access_token of a POSTed form — one of
// them, not both (RFC 6750 section 2).
func accessTokenOf(w http.ResponseWriter, r *http.Request) (presentedToken, error) {
	header := r.Header.Get("Authorization")
	var form string
	if r.Method == http.MethodPost && r.Header.Get("Content-Type") != "" {
		f, err := readForm(w, r)
		if err != nil {
			return presentedToken{}, err
		}
		form = f.Get("access_token")
	}
	switch {
	case header != "" && form != "":
		return presentedToken{}, oauth.Errorf(oauth.InvalidRequest, "the access token is given twice")
	case header != "":
		scheme, value := schemeOf(header)
		isDPoP := strings.EqualFold(scheme, dpop.Scheme)
		if !isDPoP && !strings.EqualFold(scheme, "Bearer") || value == "" {
			return presentedToken{}, &oauth.Error{Code: oauth.InvalidRequest, Description: "the Authorization header must use the Bearer or DPoP scheme", Status: http.StatusUnauthorized}
		}
		return presentedToken{raw: value, dpop: isDPoP}, nil
	case form != "":
		return presentedToken{raw: form}, nil
	}
	return presentedToken{}, &oauth.Error{Status: http.StatusUnauthorized}
}

// resourceError answers a protected resource's error with its
// WWW-Authenticate challenge: Bearer (RFC 6750 section 3), or DPoP (RFC
// 9449 section 7.1, with the algorithms it accepts) for a request that
// used DPoP or a token bound to a key.
func (p *Provider) resourceError(w http.ResponseWriter, r *http.Request, err error, dpopScheme bool) {
	e := oauth.AsError(err)
	if e == nil {
		p.writeError(w, r, err)
		return
	}
	_, iss := p.issuer(r)
	challenge := `Bearer realm="` + iss + `"`
	if dpopScheme {
		challenge = dpop.Scheme + ` realm="` + iss + `", algs="` + strings.Join(dpop.AlgorithmNames(), " ") + `"`
	}
	if e.Code != "" {
		challenge += `, error="` + e.Code + `"`
	}
	if e.Cause != nil {
		p.d.Log.Debug("userinfo refused", "error", e.Code, "err", e.Cause)
	}
	w.Header().Set("WWW-Authenticate", challenge)
	w.Header().Add("Access-Control-Expose-Headers", "WWW-Authenticate")
	if e.Code == "" {
		w.WriteHeader(e.HTTPStatus())
		return
	}
	writeJSON(w, e.HTTPStatus(), struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code, e.Description})
}
