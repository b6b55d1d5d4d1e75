// Package client is Castellan's Go SDK: typed clients of the management
// API for programs that integrate with Castellan. The castellan command's
// API client commands (castellan users, orgs, user-types, me) use it too.
//
// [New] returns a [Client] with one field per API service — System,
// Instance, Organizations, Users and UserTypes. Each is the generated
// Connect client of that service (the packages under gen/castellan), so
// every RPC takes a *connect.Request of its request message and returns a
// *connect.Response:
//
//	c, err := client.New("https://login.example.com", client.WithToken(token))
//	...
//	resp, err := c.Organizations.ListOrganizations(ctx, connect.NewRequest(&orgv1.ListOrganizationsRequest{}))
//
// Options choose the caller's credential ([WithToken], [WithTokenFunc]: a
// bearer token, a personal access token today, set on every request by an
// interceptor), the host to ask for ([WithHost], for an instance whose
// domain is not the host of the base URL, such as a server reached through
// an internal address or a tunnel), the protocol ([WithProtocol]: Connect by
// default, gRPC or gRPC-Web; all three are served on the server's one port),
// the *http.Client ([WithHTTPClient]) and any further connect.ClientOption
// ([WithClientOptions]).
//
// # Protecting an API
//
// [RequireAccessToken] is http.Handler middleware for a resource server:
// it accepts a request only with a valid Castellan access token — a JWT
// verified with the issuer's published keys, or an opaque token
// introspected with the API application's credentials — and, for a token
// bound to a certificate (cnf x5t#S256, RFC 8705 section 3), only with
// that certificate on the request ([AccessTokenOptions].Certificate; the
// TLS connection's by default). [AccessTokenFrom] gives the handler what
// was verified.
//
// # Errors
//
// An RPC's error is a *connect.Error (possibly wrapped). [AsError] turns it
// into an [*Error] with the code, the message and the field violations of a
// google.rpc.BadRequest detail, so that callers need not decode Connect error
// details. A request for a host that no instance of the server serves is
// answered by the server before any RPC runs (404 with an RFC 9457 problem
// body); the client reports it as code not_found wrapping a
// [*NoInstanceError], which names the host. Other answers the server gives
// before an RPC runs (such as 503 while its database is unavailable) keep
// the server's message instead of Connect's generic "HTTP status" text.
//
// # Protecting an API with DPoP-bound tokens
//
// [DPoPResource] is the other side: middleware for a resource server
// that accepts Castellan's JWT access tokens bound to a DPoP key (RFC
// 9449) only with a proof of that key for the request — its signature,
// htm, htu, iat, ath and cnf.jkt checked, its jti refused when replayed
// within the process. The protected handler reads the token with
// [DPoPTokenFrom]:
//
//	rs, err := client.NewDPoPResource(client.DPoPResourceConfig{Issuer: "https://login.example.com", Audience: projectID})
//	...
//	http.Handle("/orders", rs.Handler(orders))
//
// The SDK does not obtain tokens itself (its credential is a token given to
// it), so it has no DPoP client side; the proof checks are the server's own
// (package internal/oauth/dpop).
//
// The client sends the host through the request's Host (HTTP/1.1) or
// :authority (HTTP/2), which is what the server resolves instances by.
package client
