package op

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/authreq"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/oauth/device"
	"github.com/castellan-iam/castellan/internal/oauth/dpop"
	"github.com/castellan-iam/castellan/internal/oauth/grants"
	"github.com/castellan-iam/castellan/internal/oauth/logout"
	"github.com/castellan-iam/castellan/internal/oauth/token"
	"github.com/castellan-iam/castellan/internal/op/grant"
	"github.com/castellan-iam/castellan/internal/server"
)

// Paths of the endpoints, below the issuer.
const (
	PathDiscovery     = "/.well-known/openid-configuration"
	PathASMetadata    = "/.well-known/oauth-authorization-server"
	PathKeys          = "/oauth/v2/keys"
	PathToken         = "/oauth/v2/token"
	PathIntrospection = "/oauth/v2/introspect"
	PathRevocation    = "/oauth/v2/revoke"
	PathAuthorize     = "/oauth/v2/authorize"
	PathUserinfo      = "/oidc/v1/userinfo"
	PathEndSession    = "/oidc/v1/end_session"
	PathPAR           = "/oauth/v2/par"
	PathDevice        = "/oauth/v2/device_authorization"
)

// Clients authenticates clients at the endpoints (client.Clients).
type Clients interface {
	Authenticate(ctx context.Context, instanceID string, c client.Credentials) (client.Authenticated, error)
	// Lookup finds a client that does not authenticate (the
	// authorization endpoint).
	Lookup(ctx context.Context, instanceID, clientID string) (client.Application, error)
	// Resource finds the API application of a resource URI (RFC 8707);
	// failure.NotFound for none.
	Resource(ctx context.Context, instanceID, uri string) (client.Application, error)
}

// Grants are the grants of users to clients, with their refresh tokens
// (grants.Grants).
type Grants interface {
	ByRefreshToken(ctx context.Context, instanceID, token string) (grants.Grant, time.Time, error)
	Revoke(ctx context.Context, editor eventstore.Editor, instanceID, grantID, reason string) error
}

// AuthRequests stores authorization requests (authreq.Requests).
type AuthRequests interface {
	Create(ctx context.Context, r authreq.Request) (authreq.Request, error)
	CreatePushed(ctx context.Context, r authreq.Request) (authreq.Request, error)
	Claim(ctx context.Context, instanceID, clientID, requestURI string) (authreq.Request, error)
}

// Deps are what the provider needs.
type Deps struct {
	Tokens  *token.Tokens
	Clients Clients
	// Grants are the grant types of the token endpoint.
	Grants []grant.Grant
	// ExternalURL is the server's external URL (instance.Issuer).
	ExternalURL string
	Log         *slog.Logger
	// AuthRequests, LoginPath and Claims serve the authorization and
	// userinfo endpoints: a request is stored and the browser sent to
	// LoginPath?authRequest=<id>.
	AuthRequests AuthRequests
	LoginPath    string
	Claims       func(ctx context.Context, instanceID, userID string, app client.Application, scopes []string) (map[string]any, error)
	// UserGrants introspect and revoke refresh tokens.
	UserGrants Grants
	// Sealer seals logouts handed to the login (the key ring).
	Sealer logout.Sealer
	// Devices start device authorization requests (RFC 8628).
	Devices Devices
	// DPoP checks DPoP proofs (RFC 9449, dpop.go); nil: DPoP is not
	// offered, and a request with a proof is refused.
	DPoP *dpop.Checker
	// MTLSExternalURL is the external URL of the dedicated mTLS listener,
	// announced in mtls_endpoint_aliases (RFC 8705 section 5); "" for
	// none.
	MTLSExternalURL string
	// Machines authenticate machine users by their TLS client
	// certificates for client_credentials (machine.go); nil: only
	// applications use client_credentials.
	Machines Machines
}

// Machines authenticates a machine user by the certificate chain of the
// request (machinecert.Authenticator, adapted): a refusal is an
// *oauth.Error (invalid_client), anything else the server's.
type Machines func(ctx context.Context, instanceID, userID string, chain []*x509.Certificate) (*grant.Machine, error)

// Devices start device authorization requests (device.Requests).
type Devices interface {
	Start(ctx context.Context, instanceID, clientID string, scopes, resources []string) (device.Request, string, error)
}

// Provider serves the endpoints.
type Provider struct {
	d      Deps
	grants map[string]grant.Grant
}

// New returns the provider. Two grants of one type panic: the list is
// assembled by the program.
func New(d Deps) *Provider {
	p := &Provider{d: d, grants: map[string]grant.Grant{}}
	for _, g := range d.Grants {
		if _, dup := p.grants[g.Type()]; dup {
			panic("op: grant " + g.Type() + " registered twice")
		}
		p.grants[g.Type()] = g
	}
	return p
}

// Routes returns the provider's routes by ServeMux pattern; they all fall
// in the server's OAuth route group.
func (p *Provider) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET " + PathDiscovery:      http.HandlerFunc(p.discovery),
		"GET " + PathASMetadata:     http.HandlerFunc(p.discovery),
		"GET " + PathKeys:           http.HandlerFunc(p.keys),
		"POST " + PathToken:         http.HandlerFunc(p.token),
		"OPTIONS " + PathToken:      http.HandlerFunc(tokenPreflight),
		"POST " + PathIntrospection: http.HandlerFunc(p.introspect),
		"POST " + PathRevocation:    http.HandlerFunc(p.revoke),
		"GET " + PathAuthorize:      http.HandlerFunc(p.authorize),
		"POST " + PathAuthorize:     http.HandlerFunc(p.authorize),
		"GET " + PathUserinfo:       http.HandlerFunc(p.userinfo),
		"OPTIONS " + PathUserinfo:   http.HandlerFunc(p.preflight),
		"POST " + PathUserinfo:      http.HandlerFunc(p.userinfo),
		"POST " + PathPAR:           http.HandlerFunc(p.par),
		"POST " + PathDevice:        http.HandlerFunc(p.deviceAuthorization),
		"GET " + PathEndSession:     http.HandlerFunc(p.endSession),
		"POST " + PathEndSession:    http.HandlerFunc(p.endSession),
	}
}

// issuer returns the request's instance and its issuer.
func (p *Provider) issuer(r *http.Request) (instance.Instance, string) {
	inst, _ := instance.FromContext(r.Context())
	return inst, inst.Issuer(p.d.ExternalURL)
}

// Header values the provider's answers share rather than allocate, as
// the server's security headers do (server.securityHeaderValues): a later
// Header.Set replaces the slice and Header.Add appends past its capacity,
// so none is ever written into.
var (
	jsonContentType = []string{"application/json"}
	noCache         = []string{"no-cache"}
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	if hdr := w.Header(); len(hdr["Content-Type"]) == 0 {
		hdr["Content-Type"] = jsonContentType
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError renders err as an OAuth error response (RFC 6749 section
// 5.2). What is not an *oauth.Error is the server's fault: logged, and
// answered server_error, or temporarily_unavailable when the database is.
func (p *Provider) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := oauth.AsError(err)
	if e == nil {
		if _, ok := server.DatabaseUnavailable(err); ok || failure.Is(err, failure.KindUnavailable) {
			w.Header().Set("Retry-After", server.RetryAfter)
			e = oauth.Errorf(oauth.TemporarilyUnavail, "the service is unavailable; retry in a few seconds")
		} else {
			p.d.Log.Error("oauth endpoint failed", "path", r.URL.Path, "err", err)
			e = oauth.Errorf(oauth.ServerError, "internal error")
		}
	} else if e.Cause != nil {
		p.d.Log.Debug("oauth request refused", "path", r.URL.Path, "error", e.Code, "err", e.Cause)
	}
	status := e.HTTPStatus()
	if status == http.StatusUnauthorized {
		// RFC 6749 section 5.2 and RFC 9110 section 11.6.1: a 401 names
		// the scheme the client may authenticate with.
		_, iss := p.issuer(r)
		w.Header().Set("WWW-Authenticate", `Basic realm="`+iss+`"`)
	}
	writeJSON(w, status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code, e.Description})
}
