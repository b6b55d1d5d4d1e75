// Package op is the OpenID Connect provider's HTTP face: one file per
// endpoint, each translating a request into calls of the OAuth domain
// (packages oauth/client and oauth/token) and the result into the wire
// format of package oauth. It decides nothing of the domain.
//
// Endpoints, per instance (the issuer is instance.Issuer of the server's
// external URL, so each instance is an issuer of its own):
//
//	GET  /.well-known/openid-configuration     discovery.go (OIDC Discovery 1.0)
//	GET  /.well-known/oauth-authorization-server  the same document (RFC 8414)
//	GET  /oauth/v2/keys                         keys.go: the JWKS (RFC 7517)
//	POST /oauth/v2/token                        token.go: the grants of op/grant
//	POST /oauth/v2/introspect                   introspect.go (RFC 7662)
//	POST /oauth/v2/revoke                       revoke.go (RFC 7009)
//
// Client authentication (clientauth.go) happens once, before any grant,
// introspection or revocation runs: they receive a client.Authenticated,
// which only client authentication can make, so none can forget it.
// client_secret_basic, client_secret_post, private_key_jwt and the RFC
// 8705 methods tls_client_auth and self_signed_tls_client_auth (the
// request's certificate chain, server.ClientCertificates, goes with the
// credentials; mtls.go) are accepted. Tokens of an application that binds
// them carry cnf x5t#S256 of the request's certificate (grant.Request.
// Certificate), introspection reports it, and discovery announces
// tls_client_certificate_bound_access_tokens and, with a dedicated mTLS
// listener (mtls.listen), mtls_endpoint_aliases. The one exception is a
// grant.ClientOptional grant (the JWT bearer grant, RFC 7523 section
// 3.1): a token request that presents no client credentials at all runs
// it without a client; one that presents wrong ones is invalid_client.
//
// machine.go: a client_credentials request with a TLS client
// certificate and a client_id (alone) that is no application's is a
// machine user's (package machinecert, Deps.Machines): the grant issues
// the user's own token bound to the certificate (grant.Request.Machine).
//
// FAPI 2.0 (client.Application.FAPI): the authorization endpoint refuses
// requests that were not pushed, PAR and the authorization endpoint
// require PKCE, and proofOf refuses a token request without a DPoP proof
// unless the application binds its tokens to its certificate.
//
// dpop.go takes DPoP proofs (RFC 9449, package oauth/dpop): at the token
// endpoint — after client authentication, for a grant the client may use
// — and at PAR into grant.Request.DPoP and authreq.Request.DPoPJKT, which
// the grants turn into cnf.jkt (grant/dpop.go says what is bound when);
// at userinfo against the token's cnf.jkt. Nonces and replays are the
// dpop.Checker's; docs/oauth.md has the decisions.
//
// resource.go checks the resource parameters (RFC 8707) of authorization
// and pushed requests against the API applications' resource URIs;
// resource and audience are the only parameters that may be repeated.
//
// The seams for what comes next: the authorization endpoint
// (/oauth/v2/authorize) hands a stored auth request to the hosted login
// and is finished by it; it adds "code" to response_types_supported and
// its grants (authorization_code, refresh_token) to the list given to New.
// Userinfo and end-session live under /oidc/v1/.
//
// Errors are *oauth.Error values, rendered once (writeError) as RFC 6749
// section 5.2 JSON; invalid_client is 401 with a WWW-Authenticate
// challenge. Domain errors that escape are server_error (500, detail only
// in the log) or temporarily_unavailable (503 with Retry-After) when the
// database is unavailable.
package op
