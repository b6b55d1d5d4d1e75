package grant

import (
	"context"
	"crypto/x509"
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
	if r.NoClient {
		return nil, nil
	}
	return bindTo(r.Client.Application(), r.Certificate)
}

// bindTo is certificateBinding for the application app and the request's
// certificate cert.
func bindTo(app client.Application, cert *x509.Certificate) (*oauth.Confirmation, error) {
	if !app.CertificateBoundTokens {
		return nil, nil
	}
	if cert == nil {
		return nil, oauth.Errorf(oauth.InvalidRequest, "the client's tokens are bound to its TLS client certificate (RFC 8705), and the request came without one")
	}
	return &oauth.Confirmation{X5TS256: client.Thumbprint(cert)}, nil
}

// withDPoP is the cnf of an access token bound to the request's
// certificate (cert, from certificateBinding), to the key of its DPoP
// proof, to both, or nil for a bearer token.
func withDPoP(cert *oauth.Confirmation, r Request) *oauth.Confirmation {
	key := r.confirmation()
	switch {
	case cert == nil:
		return key
	case key == nil:
		return cert
	}
	both := *cert
	both.JKT = key.JKT
	return &both
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
	if r.NoClient {
		return nil
	}
	return checkBoundRefresh(ctx, store, r.InstanceID, r.Client.Application(), r.Certificate, raw)
}

// checkBoundRefresh is checkRefreshBinding for app and cert.
func checkBoundRefresh(ctx context.Context, store Grants, instanceID string, app client.Application, cert *x509.Certificate, raw string) error {
	if !app.Public {
		return nil
	}
	g, _, err := store.ByRefreshToken(ctx, instanceID, raw)
	if errors.Is(err, grants.ErrInvalid) {
		return nil // Refresh says why
	}
	if err != nil {
		return err
	}
	if g.Cnf == nil || g.Cnf.X5TS256 == "" || g.ClientID != app.ClientID {
		return nil
	}
	if cert == nil || client.Thumbprint(cert) != g.Cnf.X5TS256 {
		return invalidGrant("the refresh token is bound to a TLS client certificate the request did not present")
	}
	return nil
}
