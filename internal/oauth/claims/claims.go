// Package claims builds the claims about a user that a client is given,
// in its ID token and at the userinfo endpoint (OpenID Connect Core
// section 5), from the scopes the user granted.
//
// What each scope releases:
//
//	openid   sub (set by the caller)
//	profile  preferred_username (the login name), updated_at, and every
//	         claim the user's type feeds from its traits with an
//	         "oidcClaim" annotation (name, given_name, a custom claim…):
//	         the schema's author chose to release them
//	email    email, email_verified
//	phone    phone_number, phone_number_verified
//
// Claims fed by traits never replace the ones Castellan issues itself
// (userschema refuses such annotations when the schema is written).
//
// A user who is not active, or whose organization is not, has no claims:
// Of fails, and the grant asking for them with it.
package claims

import (
	"context"
	"slices"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// Scopes of OpenID Connect Core section 5.4 (and 11, offline_access).
const (
	ScopeOpenID        = "openid"
	ScopeProfile       = "profile"
	ScopeEmail         = "email"
	ScopePhone         = "phone"
	ScopeOfflineAccess = "offline_access"
)

// Standard are the scopes every client may ask for without registering
// them.
var Standard = []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopePhone, ScopeOfflineAccess}

// Supported are the claims the provider can release.
var Supported = []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "azp", "sid", "at_hash",
	"preferred_username", "updated_at", "name", "given_name", "family_name", "email", "email_verified", "phone_number", "phone_number_verified"}

// Of returns the claims of an active user the scopes release (none when
// they release none); a user who is not active, or of an organization
// that is not, is failure.NotFound. Without profile it reads one row.
func Of(ctx context.Context, db *database.DB, instanceID, userID string, scopes []string) (map[string]any, error) {
	c, err := user.GetContact(ctx, db, instanceID, userID)
	if err != nil {
		return nil, err
	}
	if !c.Active {
		return nil, failure.NotFound("user %s not found", userID)
	}
	out := map[string]any{}
	if slices.Contains(scopes, ScopeProfile) {
		if c.SchemaID != "" {
			u, err := user.Get(ctx, db, instanceID, userID, userschema.Admin)
			if err != nil {
				return nil, err
			}
			s, err := usertype.Compiled(ctx, db, instanceID, u.SchemaID, u.SchemaRevision)
			if err != nil {
				return nil, err
			}
			values, err := s.ClaimValues(u.Traits)
			if err != nil {
				return nil, err
			}
			for k, v := range values {
				out[k] = v
			}
		}
		out["preferred_username"] = c.LoginName
		out["updated_at"] = c.ChangedAt.Unix()
	}
	if slices.Contains(scopes, ScopeEmail) && c.Email != "" {
		out["email"], out["email_verified"] = c.Email, c.EmailVerified
	}
	if slices.Contains(scopes, ScopePhone) && c.Phone != "" {
		out["phone_number"], out["phone_number_verified"] = c.Phone, c.PhoneVerified
	}
	return out, nil
}
