// Package machinecert owns the TLS client certificates of machine users:
// a certificate is one more authenticator of a machine account
// ("client_certificate" in a user type's authenticators), beside its
// machine keys (package machinekey) and personal access tokens.
//
// Registering. A user registers either
//
//   - a certificate (self-signed or not; PEM, one certificate): the
//     certificate presented must be this one, byte for byte, and within
//     its validity — no chain is built, as for an application's
//     self_signed_tls_client_auth (RFC 8705 section 2.2). Its SHA-256
//     thumbprint (x5t#S256) is registered at most once per instance
//     (unique constraint machine_certificate_thumbprint, kept after a
//     removal: a removed certificate is usually a revoked one), so that a
//     certificate names one machine; an expired certificate is refused;
//   - or a subject: a trust set of the instance ("" for the default) and
//     exactly one of subject DN, SAN DNS name, URI, IP or email — the
//     certificate presented must chain to the set (valid now, for client
//     authentication, not revoked by its CRLs) and carry the value,
//     compared as for an application's tls_client_auth (RFC 8705 section
//     2.1; client.TLSClientAuth).
//
// At most MaxPerUser (10) per user. Whether the user's type allows the
// authenticator is the caller's to check (user.MayUse), at registration;
// Authenticator checks it again at every use, since a type may change.
//
// Authenticating (authenticate.go). Authenticator.Authenticate takes a
// user id and the chain of the request's TLS client certificate and
// succeeds when one of the user's registered certificates or subjects
// accepts it, the user's type still lists client_certificate, and the
// user and its organization are active. A refusal is a *Refused with the
// precise reason, which the provider logs and records as a
// user.client_certificate.refused event (at most one per user and
// second); the client sees invalid_client only. The user's registrations
// are read from the database at each authentication (no cache: a removal
// counts at once).
//
// Events (on the user aggregate): user.client_certificate.added
// {certificateId, certificate (PEM) | subject {trustSetId, subjectDn,
// sanDns, sanUri, sanIp, sanEmail}, thumbprint, notAfter},
// user.client_certificate.removed {certificateId},
// user.client_certificate.refused {reason, subject, issuer, serial,
// thumbprint}; all at payload version 1. Read model:
// machine_certificates, kept inline by Projection.
package machinecert
