// Package org owns organizations: the part of an instance that owns users,
// projects, identity providers and policies.
//
// Lifecycle: an organization is created active, can be renamed, deactivated
// (its users cannot sign in; the data stays), reactivated, and removed
// (final: its name and domains are released).
//
// Domains: an organization adds domains it claims (unique within the
// organization), proves ownership by a DNS TXT record or an HTTP file, and
// picks a primary one. A verified domain is unique across the instance: two
// organizations cannot both prove example.com. Verification looks up
//
//	DNS:  TXT record at _castellan-challenge.DOMAIN whose value is the token
//	HTTP: GET http://DOMAIN/.well-known/castellan-challenge/TOKEN whose body is the token
//
// through a Verifier whose DNS resolver and HTTP client are injected, so
// tests run against local servers. The HTTP fetch connects only to public
// addresses (checked at connect time, redirects included) unless the
// operator allows more networks, is bounded in time and size, and fails
// with one message whatever went wrong; see verify.go.
//
// Metadata: free key/value pairs within the limits of package metadata
// (keys up to 200 bytes, values up to 64 KiB, 100 keys and 256 KiB per
// organization).
//
// Events are listed in events.go; commands (commands.go) load an
// organization's events into its write model (state.go), check the rules
// and append with optimistic concurrency. The read model (projection.go) is
// orgs, org_domains and org_metadata, updated inline.
package org
