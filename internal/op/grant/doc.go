// Package grant holds the token endpoint's grants, one file each, each
// declaring the narrow interface of what it needs. package op
// authenticates the client and checks that its application registered the
// grant type before a grant runs; a grant receives the request as a
// Request, which holds the client.Authenticated.
//
// Served, each a file with its own narrow interfaces:
// client_credentials (RFC 6749 section 4.4), authorization_code,
// refresh_token (rotation and reuse detection), device code (RFC 8628),
// the JWT bearer grant of RFC 7523 for machine keys (jwt_bearer.go), and
// token exchange of RFC 8693 (exchange.go).
//
// The JWT bearer grant is a ClientOptional grant: op runs it for a
// request without client credentials too (Request.NoClient); every other
// grant only ever sees an authenticated client that registered it.
//
// DPoP (RFC 9449, dpop.go): a Request with a checked proof (Request.DPoP)
// gets access tokens with cnf.jkt and token_type DPoP from every grant; a
// public client's new grant keeps the key for its refresh tokens, which
// refresh only with a proof of it (grants.ErrKeyMismatch, nothing spent);
// a code whose request named dpop_jkt is redeemed only with a proof of
// that key; token exchange takes a bound token only from its key's
// holder.
//
// Resource indicators (RFC 8707, resource.go): client_credentials, JWT
// bearer and token exchange take any resource URI an API application of
// the instance registered (audienceOf, else invalid_target); the grants
// of a signed-in user take a subset of what the authorization request
// named (checkNarrowing), and their tokens are for the named resources,
// else the grant's, else the client's project (userAudience).
//
// Token exchange policy, in short (exchange.go has it whole): the subject
// token is an active access token of the instance meant for the client
// (issued to it, or for its project); an actor token makes a delegation
// (act claim, earlier actors nested) and must be the client's own;
// without one, the exchange is an impersonation, which the client's
// application must allow; every exchange is recorded
// (token.Exchanged). Errors per RFC 8693 section 2.2.2.
package grant
