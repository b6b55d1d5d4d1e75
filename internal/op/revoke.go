package op

import (
	"errors"
	"net/http"
	"strings"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/grants"
	"github.com/castellan-iam/castellan/internal/oauth/token"
)

// revoke serves token revocation (RFC 7009). An invalid, expired or
// already revoked token is answered 200 like a revoked one (section 2.2);
// the hint (token_type_hint) is not needed, since a JWT access token is
// recognized by itself. A client — or a machine user with its
// certificate (machine.go) — revokes only its own tokens: another
// client's token is refused with unauthorized_client (section 2.1), which
// tells the caller nothing it could not learn from the token it holds.
func (p *Provider) revoke(w http.ResponseWriter, r *http.Request) {
	form, h, err := p.authenticateHolder(w, r)
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	raw := form.Get("token")
	if raw == "" {
		p.writeError(w, r, oauth.Errorf(oauth.InvalidRequest, "token is required"))
		return
	}
	inst, iss := p.issuer(r)
	if strings.HasPrefix(raw, grants.TokenPrefix) && p.d.UserGrants != nil {
		// A refresh token ends its whole grant (section 2.1).
		g, _, err := p.d.UserGrants.ByRefreshToken(r.Context(), inst.ID, raw)
		switch {
		case errors.Is(err, grants.ErrInvalid):
			w.WriteHeader(http.StatusOK)
		case err != nil:
			p.writeError(w, r, err)
		case g.ClientID != h.clientID:
			p.writeError(w, r, oauth.Errorf(oauth.UnauthorizedClient, "a client may revoke only its own tokens"))
		default:
			if err := p.d.UserGrants.Revoke(r.Context(), eventstore.Editor{ClientID: h.clientID}, inst.ID, g.ID, "revocation"); err != nil {
				p.writeError(w, r, err)
				return
			}
			w.WriteHeader(http.StatusOK)
		}
		return
	}
	claims, err := p.d.Tokens.VerifyAccess(r.Context(), inst.ID, iss, raw)
	if errors.Is(err, token.ErrInactive) {
		w.WriteHeader(http.StatusOK)
		return
	}
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	if claims.ClientID != h.clientID {
		p.writeError(w, r, oauth.Errorf(oauth.UnauthorizedClient, "a client may revoke only its own tokens"))
		return
	}
	if err := p.d.Tokens.Revoke(r.Context(), eventstore.Editor{UserID: h.clientID, ClientID: h.clientID}, inst.ID, h.orgID, claims); err != nil {
		p.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}
