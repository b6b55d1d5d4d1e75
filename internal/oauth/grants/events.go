package grants

import (
	"time"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/oauth"
)

// AggregateType is the aggregate of a grant; its id is the grant's id (the
// refresh token family), its owner the user's organization.
const AggregateType = "oauth_grant"

// Issued is the first event of a grant: a code was redeemed.
type Issued struct {
	ClientID      string    `json:"clientId"`
	UserID        string    `json:"userId"`
	SessionID     string    `json:"sessionId"`
	AuthRequestID string    `json:"authRequestId"`
	Scopes        []string  `json:"scopes"`
	AuthTime      time.Time `json:"authTime"`
	AMR           []string  `json:"amr,omitempty"`
	// AccessTokenID is the jti of the access token issued with it.
	AccessTokenID string `json:"accessTokenId"`
	// RefreshTokenHash is the SHA-256 of its first refresh token, ""
	// when the grant has none; RefreshExpiresAt ends the first token,
	// ExpiresAt the grant.
	RefreshTokenHash string    `json:"refreshTokenHash,omitempty"`
	RefreshExpiresAt time.Time `json:"refreshExpiresAt,omitzero"`
	ExpiresAt        time.Time `json:"expiresAt"`
	// Resources are the resource servers its tokens are for (RFC 8707);
	// absent for the client's project (and in events written before).
	Resources []string `json:"resources,omitempty"`
	// DPoPJKT binds its refresh tokens to a DPoP key (RFC 9449 section
	// 5); absent for none.
	DPoPJKT string `json:"dpopJkt,omitempty"`
	// Cnf binds its refresh tokens (RFC 8705 section 3); absent for
	// none (and in events written before).
	Cnf *oauth.Confirmation `json:"cnf,omitempty"`
}

// ReuseDetected records that a refresh token used before was presented
// again.
type ReuseDetected struct {
	ClientID string `json:"clientId"`
}

// Revoked ends a grant and its refresh tokens.
type Revoked struct {
	// Reason: "reuse", "code_reuse", "revocation", "logout".
	Reason string `json:"reason"`
}

func (Issued) EventType() string        { return "oauth.grant.issued" }
func (ReuseDetected) EventType() string { return "oauth.grant.reuse_detected" }
func (Revoked) EventType() string       { return "oauth.grant.revoked" }

// RegisterEvents adds the grant events to r.
func RegisterEvents(r *eventstore.Registry) {
	eventstore.Register[Issued](r, 1)
	eventstore.Register[ReuseDetected](r, 1)
	eventstore.Register[Revoked](r, 1)
}
