// Package trustset owns the trust sets of an instance: named sets of CA
// certificates, with their certificate revocation lists, that client
// certificates of tls_client_auth clients (RFC 8705 section 2.1, PKI
// method) must chain to.
//
// A trust set belongs to its instance (aggregate "trust_set", owner the
// instance). At most one trust set of an instance is its default (unique
// constraint trust_set_default): an application registered for
// tls_client_auth names a trust set, or uses the default one.
//
// Certificates are PEM; each must parse as X.509 and be a CA (basic
// constraints CA:TRUE, or a self-signed v1 root). An intermediate in a
// trust set is an anchor like a root: trusting it trusts what it issued and
// nothing above. CRLs are PEM too ("X509 CRL"); each must be signed by a
// certificate of the set, which is then checked against it for every
// certificate of a verified chain it issued. A CRL whose next update has
// passed refuses the certificates it covers (the reason is logged): a
// stale CRL cannot say that a certificate was not revoked since. Without a
// CRL for an issuer, its certificates are not checked for revocation.
// OCSP is not consulted.
//
// Limits: at most 50 certificates and 20 CRLs per set, 1 MiB of PEM in
// all; a name of 1 to 200 characters.
//
// Verifier verifies a presented chain against a set, read at most
// CacheTTL ago — and remembers a chain that verified for as long as it
// uses that read of the set, so that a client on a kept-alive connection
// costs one hash, not a chain verification, per grant — and names the precise reason of a refusal (expired, not
// yet valid, unknown authority, revoked, stale CRL) for the log and the
// audit trail; the client only ever sees invalid_client.
//
// Events (aggregate "trust_set"): trust_set.added {name, certificates,
// crls, default}, trust_set.changed {same, as from now on},
// trust_set.removed {}; all at payload version 1. Read model: trust_sets,
// kept inline by Projection.
package trustset
