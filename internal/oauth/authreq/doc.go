// Package authreq keeps the authorization requests of the authorization
// endpoint (OAuth 2.0 RFC 6749 section 4.1, OpenID Connect Core section
// 3.1.2) from the moment a client sends the browser to the provider until
// the client redeems the code.
//
// A request is created by the endpoint once the client, its redirect URI,
// the scopes and PKCE were checked; the hosted login (or a custom login,
// through the Session API) signs the user in and finishes it with a
// session, which makes a one-time code; the token endpoint redeems the
// code once. The lifecycle:
//
//	Create ──► (login) ──► Finish(session) ──► code ──► Redeem ──► tokens
//	   │                       │
//	   └── expires after 30 min └── Deny (access_denied, login_required…)
//
// Requests are rows of a plain table with an expiry (DESIGN: high-volume,
// short-lived protocol state does not go to the event log); the tokens
// issued from a code are recorded as events by the grants. A code is 256
// random bits, stored as its SHA-256 hash, valid for CodeLifetime and
// redeemable once: a second redemption reports ErrCodeReused with what the
// first issued, so the grant revokes it (RFC 6749 section 4.1.2).
//
// The request's id appears in the login's URL; it is 128 random bits, so
// it cannot be guessed, but knowing it gives nothing: finishing it binds
// the finisher's own session, and the code goes only to the client's
// registered redirect URI.
package authreq
