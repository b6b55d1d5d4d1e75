// Package grant holds the token endpoint's grants, one file each, each
// declaring the narrow interface of what it needs. package op
// authenticates the client and checks that its application registered the
// grant type before a grant runs; a grant receives the request as a
// Request, which holds the client.Authenticated.
//
// Served: client_credentials (RFC 6749 section 4.4). Next, each a file
// here with its own storage interface: authorization_code,
// refresh_token (rotation and reuse detection), the JWT bearer grant of
// RFC 7523 (machine keys), token exchange (RFC 8693) and device code
// (RFC 8628).
package grant
