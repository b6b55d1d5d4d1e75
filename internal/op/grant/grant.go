package grant

import (
	"context"
	"crypto/x509"
	"net/url"
	"strings"

	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/oauth/dpop"
)

// Request is a token request of an authenticated client whose
// application registered the grant type — or, for a grant that is a
// ClientOptional, of no client at all (NoClient).
type Request struct {
	InstanceID string
	Issuer     string
	// Endpoint is the token endpoint's URL, which an assertion's aud may
	// name besides the issuer.
	Endpoint string
	Client   client.Authenticated
	// NoClient: the request presented no client credentials, and Client
	// is the zero value. Only a ClientOptional grant receives such a
	// request.
	NoClient bool
	// Certificate is the TLS client certificate the request came with
	// (directly or through a trusted proxy), verified or not; nil for
	// none. Tokens of an application that binds them are bound to it.
	Certificate *x509.Certificate
	// Form is the request's body, each parameter at most once but the
	// multi-valued resource and audience.
	Form url.Values
	// DPoP is the request's checked DPoP proof (RFC 9449); nil for none.
	DPoP *dpop.Proof
	// Machine is the machine user its TLS client certificate
	// authenticated, for client_credentials without an application
	// (NoClient is then true); nil otherwise.
	Machine *Machine
}

// Machine is a machine user authenticated by its certificate (package
// machinecert): the client of a client_credentials request.
type Machine struct {
	UserID, OrgID string
	Certificate   *x509.Certificate
}

// ClientOptional is a Grant that also answers requests without client
// authentication (RFC 7523 section 3.1: "client authentication is
// optional" for the JWT bearer grant).
type ClientOptional interface {
	Grant
	ClientOptional()
}

// Grant is one grant type of the token endpoint.
type Grant interface {
	// Type is the grant_type value it answers.
	Type() string
	// Token answers a request with a token response, or an *oauth.Error
	// for the client; any other error is the server's.
	Token(ctx context.Context, r Request) (*oauth.TokenResponse, error)
}

// grantedScopes returns the scopes to grant: the requested ones, each
// registered by the application, or all it registered when none are
// requested (RFC 6749 section 3.3 lets the server define the default).
func grantedScopes(requested string, registered []string) ([]string, error) {
	fields := strings.Fields(requested)
	if len(fields) == 0 {
		return registered, nil
	}
	var out []string
	for _, s := range fields {
		if !oauth.ValidScopeToken(s) {
			return nil, oauth.Errorf(oauth.InvalidScope, "%.80q is not a scope token", s)
		}
		found := false
		for _, r := range registered {
			found = found || r == s
		}
		if !found {
			return nil, oauth.Errorf(oauth.InvalidScope, "the client may not request scope %.80q", s)
		}
		dup := false
		for _, o := range out {
			dup = dup || o == s
		}
		if !dup {
			out = append(out, s)
		}
	}
	return out, nil
}
