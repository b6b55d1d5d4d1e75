package grant

import (
	"context"
	"errors"

	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/oauth/grants"
)

// certificateBinding is the cnf of the tokens issued for r (RFC 8705
// section 3): the x5t#S256 of the request's TLS client certificate when
// the application binds its tokens to it, nil when it does not. A client
// that binds its tokens but came without a certificate is refused rather
// than given a bearer token it did not ask for.
func certificateBinding(r Request) (*oauth.Confirmation, error) {
	if r.NoClient || !r.Client.Application().CertificateBoundTokens {
		return nil, nil
	}
	if r.Certificate == nil {
		return nil, oauth.Errorf(oauth.InvalidRequest, "the client's tokens are bound to its TLS client certificate (RFC 8705), and the request came without one")
	}
	return &oauth.Confirmation{X5TS256: client.Thumbprint(r.Certificate)}, nil
}

// refreshBinding is the cnf of a new grant's refresh tokens: a public
// client's are bound like its access tokens (RFC 8705 section 3; a
// confidential client's are bound by its authentication).
func refreshBinding(r Request, access *oauth.Confirmation) *oauth.Confirmation {
	if r.NoClient || !r.Client.Application().Public {
		return nil
	}
	return access
}

// checkRefreshBinding refuses a public client's refresh with a token
// bound to another certificate than the request's, before the rotation
// would spend it.
func checkRefreshBinding(ctx context.Context, store Grants, r Request, raw string) error {
	if r.NoClient || !r.Client.Application().Public {
		return nil
	}
	g, _, err := store.ByRefreshToken(ctx, r.InstanceID, raw)
	if errors.Is(err, grants.ErrInvalid) {
		return nil // Refresh says why
	}
	if err != nil {
		return err
	}
	if g.Cnf == nil || g.Cnf.X5TS256 == "" || g.ClientID != r.Client.Application().ClientID {
		return nil
	}
	if r.Certificate == nil || client.Thumbprint(r.Certificate) != g.Cnf.X5TS256 {
		return invalidGrant("the refresh token is bound to a TLS client certificate the request did not present")
	}
	return nil
}
