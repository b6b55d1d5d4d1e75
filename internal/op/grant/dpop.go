package grant

import (
	"github.com/castellan-iam/castellan/internal/oauth"
)

// What a DPoP proof binds (RFC 9449 section 5): every access token a
// request with a proof gets carries cnf.jkt, the thumbprint of the
// proof's key, and is answered with token_type DPoP. A refresh token is
// bound to the key only for a public client (section 5: a confidential
// client's refresh tokens are bound to its authentication already): the
// grant keeps the key, and a refresh must prove it.

// confirmation is the cnf of the access tokens a request gets: its proof's
// key, or nil without a proof.
func (r Request) confirmation() *oauth.Confirmation {
	if r.DPoP == nil {
		return nil
	}
	return &oauth.Confirmation{JKT: r.DPoP.JKT}
}

// tokenType is the token_type of the access tokens a request gets.
func (r Request) tokenType() string {
	if r.DPoP != nil {
		return oauth.TokenTypeDPoP
	}
	return "Bearer"
}

// refreshBinding is the key a new grant's refresh tokens are bound to:
// the proof's key for a public client, "" otherwise.
func (r Request) refreshBinding() string {
	if r.DPoP == nil || r.NoClient || !r.Client.Application().Public {
		return ""
	}
	return r.DPoP.JKT
}

// presentedKey is the thumbprint of the key the request proved, "" for
// none.
func (r Request) presentedKey() string {
	if r.DPoP == nil {
		return ""
	}
	return r.DPoP.JKT
}
