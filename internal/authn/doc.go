// Package authn turns a credential presented with a request into the
// authz.Caller it acts for: a personal access token
// ("Authorization: Bearer cst_…") of an active user of the request's
// instance, in an active organization, or (WithAccessTokens, access.go) an
// access token of the instance's own OpenID provider whose audience is
// the issuer, as its user; next, session tokens of the hosted login and
// sender-constrained tokens.
//
// It is shared by every transport: the management API, the hosted login
// and the OpenID provider all authenticate through it, so a credential
// means the same everywhere. Every failure is the same
// failure.Unauthenticated, so that a caller cannot probe which part of its
// credential was wrong. The caller's roles come from package member; what
// it may do is decided by package authz.
//
// WithCache keeps authenticated callers in memory, per process, and drops
// them when package member's count of caller changes moves: at once for a
// change made through this process, within MaxStale for one made through
// another replica (cache.go says how, and why a racing load is not kept).
package authn
