package op

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/grants"
	"github.com/castellan-iam/castellan/internal/oauth/token"
)

// introspect serves token introspection (RFC 7662). The caller is an
// authenticated confidential client: an API application introspecting the
// tokens meant for its project or for its resource URI (RFC 8707), or a
// client — or a machine user with its certificate (machine.go) —
// introspecting its own. A token
// it may not see is reported inactive, like an unknown, expired or revoked
// one, so that nothing can be probed.
func (p *Provider) introspect(w http.ResponseWriter, r *http.Request) {
	form, h, err := p.authenticateHolder(w, r)
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	if h.app != nil && h.app.Public {
		p.writeError(w, r, oauth.Errorf(oauth.UnauthorizedClient, "a public client may not introspect tokens"))
		return
	}
	raw := form.Get("token")
	if raw == "" {
		p.writeError(w, r, oauth.Errorf(oauth.InvalidRequest, "token is required"))
		return
	}
	inst, iss := p.issuer(r)
	if strings.HasPrefix(raw, grants.TokenPrefix) && p.d.UserGrants != nil {
		p.introspectRefresh(w, r, h.clientID, iss, raw)
		return
	}
	claims, err := p.d.Tokens.VerifyAccess(r.Context(), inst.ID, iss, raw)
	if errors.Is(err, token.ErrInactive) {
		writeJSON(w, http.StatusOK, oauth.Introspection{Active: false})
		return
	}
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	if claims.ClientID != h.clientID && (h.app == nil || !slices.Contains(claims.Audience, h.app.ProjectID) &&
		(h.app.ResourceURI == "" || !slices.Contains(claims.Audience, h.app.ResourceURI))) {
		writeJSON(w, http.StatusOK, oauth.Introspection{Active: false})
		return
	}
	resp := oauth.Introspection{
		Active: true, Scope: claims.Scope, ClientID: claims.ClientID, TokenType: "Bearer", Exp: claims.Expiry, Iat: claims.IssuedAt,
		Sub: claims.Subject, Aud: claims.Audience, Iss: claims.Issuer, Jti: claims.ID, Extra: claims.Extra,
		Cnf: certificateConfirmation(claims.Cnf),
	}
	if claims.Act != nil {
		resp.Act = claims.Act
	}
	resp.MayAct = claims.MayAct
	if claims.Cnf != nil {
		// RFC 9449 section 6.2, RFC 8705 section 3.2.
		resp.Cnf = claims.Cnf
		if claims.Cnf.JKT != "" {
			resp.TokenType = oauth.TokenTypeDPoP
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// introspectRefresh introspects a refresh token: only its own client sees
// it active.
func (p *Provider) introspectRefresh(w http.ResponseWriter, r *http.Request, clientID, iss, raw string) {
	inst, _ := p.issuer(r)
	g, exp, err := p.d.UserGrants.ByRefreshToken(r.Context(), inst.ID, raw)
	if errors.Is(err, grants.ErrInvalid) || err == nil && g.ClientID != clientID {
		writeJSON(w, http.StatusOK, oauth.Introspection{Active: false})
		return
	}
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	resp := oauth.Introspection{
		Active: true, Scope: strings.Join(g.Scopes, " "), ClientID: g.ClientID, TokenType: "refresh_token", Exp: exp.Unix(), Sub: g.UserID, Iss: iss,
		Cnf: certificateConfirmation(g.Cnf),
	}
	if g.DPoPJKT != "" {
		cnf := oauth.Confirmation{JKT: g.DPoPJKT}
		if resp.Cnf != nil {
			cnf.X5TS256 = resp.Cnf.X5TS256
		}
		resp.Cnf = &cnf
	}
	writeJSON(w, http.StatusOK, resp)
}
