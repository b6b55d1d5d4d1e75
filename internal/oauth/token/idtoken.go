package token

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"maps"
	"time"
)

// IDToken describes an ID token to issue (OIDC Core section 2).
type IDToken struct {
	Issuer, Subject, Audience string
	Nonce                     string
	AuthTime                  time.Time
	AMR                       []string
	SessionID                 string
	// AccessToken, when one is issued with it, gives at_hash.
	AccessToken string
	Lifetime    time.Duration
	// Claims are the user's claims the scopes ask for; they never
	// replace the protocol claims above.
	Claims map[string]any
}

// IssueIDToken signs an ID token with the instance's current RS256 key
// (DefaultIDTokenAlgorithm) and returns it.
func (t *Tokens) IssueIDToken(ctx context.Context, instanceID string, in IDToken) (string, error) {
	signer, err := t.keys.Signer(ctx, instanceID, DefaultIDTokenAlgorithm)
	if err != nil {
		return "", err
	}
	now := t.now()
	c := maps.Clone(in.Claims)
	if c == nil {
		c = map[string]any{}
	}
	c["iss"], c["sub"], c["aud"], c["azp"] = in.Issuer, in.Subject, in.Audience, in.Audience
	c["iat"], c["exp"] = now.Unix(), now.Add(in.Lifetime).Unix()
	if !in.AuthTime.IsZero() {
		c["auth_time"] = in.AuthTime.Unix()
	}
	if in.Nonce != "" {
		c["nonce"] = in.Nonce
	}
	if len(in.AMR) > 0 {
		c["amr"] = in.AMR
	}
	if in.SessionID != "" {
		c["sid"] = in.SessionID
	}
	if in.AccessToken != "" {
		c["at_hash"] = HalfHash(in.AccessToken)
	}
	return signer.Sign(TypeJWT, c)
}

// HalfHash is the base64url of the left half of the SHA-256 of s: the
// at_hash of a token signed with RS256 or ES256 (OIDC Core section
// 3.1.3.6).
func HalfHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}
