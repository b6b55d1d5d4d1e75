// Package grants records what a user authorized a client to hold — a
// grant, made when a client redeems an authorization code — and keeps the
// refresh tokens of each grant with rotation and reuse detection.
//
// A grant (aggregate "oauth_grant", owner the user's organization) is
// issued once per redeemed code, as the event oauth.grant.issued: who,
// which client, which session, which scopes. Its refresh tokens are one
// family: every refresh returns a new token and marks the one presented
// used (RFC 9700 section 4.14.2). Presenting a used token again means two
// parties hold the family — the client and a thief — and nobody can tell
// which is which, so the whole grant is revoked: the events
// oauth.grant.reuse_detected and oauth.grant.revoked. There is no grace
// period for a client retrying a refresh whose answer it lost: a retry
// is a reuse, and the user signs in again.
//
// Refresh tokens ("crt_" + 256 random bits) are stored as SHA-256 hashes
// in the plain table refresh_tokens: the first with the grant's event (in
// its projection), the next ones by each rotation, which writes rows and
// no event — a refresh is the provider's most frequent write, and its
// facts (a grant's token was rotated at a time) need no audit record of
// their own beyond the grant's issue and end; the metrics count them. A
// token expires after the idle lifetime of the tokens settings, and never
// later than the grant's absolute lifetime.
//
// A grant also keeps the resource servers (RFC 8707 resource URIs) its
// authorization request named — Issued.Resources, absent from events
// written before — so that its refreshed tokens stay for them.
package grants
