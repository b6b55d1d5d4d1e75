// Package client owns projects and their applications — the OAuth
// clients and resource servers of the provider — and client
// authentication.
//
// Projects are minimal here: a name and the organization that owns it.
// The access-management issue gives them roles and grants (and may move
// the project aggregate to internal/access/project; the events keep their
// names).
//
// Applications. An "oidc" application obtains tokens: it has a client id
// (generated, unique in the instance), is confidential or public
// (RFC 6749 section 2.1), registers its grant types (a public client may
// not register client_credentials, section 4.4), its access token type
// (JWT per RFC 9068; opaque comes later and is refused until then), its
// access token lifetime (unset: the tokens settings of the instance and
// organization) and the scopes it may be granted. An "api" application is
// a resource server: confidential, no grants, it authenticates to
// introspect tokens.
//
// Client secrets. 256 random bits, "ccs_" + base64url, shown once. Stored
// as HMAC-SHA-256 under a key derived from the key ring (keyring.DeriveKey,
// purpose castellan/oauth/client-secret/v1) over instance, client id and
// secret, with the id of the ring key it was derived from, so a master key
// rotation keeps old secrets valid while the retired key is configured.
// A keyed fast hash and not argon2id: see hasher. A check costs one HMAC
// per stored secret, about a microsecond. AddSecret rotates: the new secret
// is valid at once and the previous ones for an overlap (at most two valid
// at a time), after which they fail; RemoveSecret ends one at once.
//
// Authentication. Clients.Authenticate turns presented credentials into an
// Authenticated, the only way to get one; every failure is the same
// invalid_client. A client of an organization that is not active fails.
//
// No escalation: an application has no permissions of its own yet (no
// service user, no roles), so adding its secret gives nothing the caller
// lacks. When applications act as a user with roles, AddSecret must check
// authz.Caller.Covers of that user, like a machine key.
//
// Certificates (certificate.go, RFC 8705 section 2). A confidential
// client may authenticate with its TLS client certificate instead of a
// secret or a key: tls_client_auth registers a trust set (package
// trustset; "" for the instance's default) and exactly one subject value
// — a DN compared as parsed RDNs in order (types by OID, values without
// case or extra spaces), or a SAN DNS name, URI, IP or email compared
// exactly — and the chain must verify to the set for client
// authentication, now, unrevoked by its CRLs; self_signed_tls_client_auth
// registers its certificates (PEM, or a JWK Set whose keys carry x5c) and
// the presented certificate must be one of them byte for byte, within its
// validity (no chain). Such a client presents its client_id and no
// secret. Every refusal is the plain invalid_client; the precise reason
// goes to the log and to a CertificateRefused event (refusal.go, at most
// one per client and second). Machine users authenticate with their own
// certificates through package machinecert (client_credentials with the
// user id as client_id), which reuses TLSClientAuth (Validate, Match).
// CertificateBoundTokens binds the
// client's tokens to the certificate of the request (package grant).
//
// Resources (resource.go). An API application may register a resource
// URI (RFC 8707): an absolute URI without fragment, unique in the
// instance (unique constraint oauth_resource_uri). Clients.Resource finds
// the active API application of a URI; the provider makes tokens for it
// when a client names it with resource, and lets it introspect them.
//
// Impersonation. A client of the token exchange grant may be created with
// ImpersonationAllowed: only then may it exchange a token without an
// actor token (RFC 8693), acting as the subject with no trace in the
// token (the exchange is still recorded).
//
// FAPI 2.0 (fapi.go). SetFAPI holds an application to the FAPI 2.0
// Security Profile: it must be a confidential client authenticating with
// private_key_jwt, tls_client_auth or self_signed_tls_client_auth and
// signing its ID tokens with ES256 or EdDSA — checked when FAPI is turned
// on and at every UpdateApplication while it is on (a change that leaves
// the profile is failure.FailedPrecondition, naming the rule). Its
// private_key_jwt assertions must be signed with PS256, ES256 or EdDSA and
// name the issuer alone as aud (invalid_client otherwise). What the
// provider enforces at its endpoints (PAR, PKCE, sender-constrained
// tokens) is in package op.
//
// Changing how a client authenticates (authentication.go).
// ChangeAuthentication moves a client between public and confidential and
// between methods: a client that starts using a secret gets a new one
// (shown once), one that stops loses all of them, private_key_jwt needs
// its keys, and the result obeys the rules of a new application; the
// caller ends the client's grants when its type changed.
// checkAuthenticationTransition is the one place for rules about
// transitions (a profile that admits only some methods refuses there).
// Event project.application.authentication.changed {appId, public,
// authMethod, jwks, tlsClientAuth, certificates}, with the secret events
// in the same append.
//
// may_act (mayact.go, RFC 8693 section 4.4). SetMayAct names the one
// party that may act for the subjects of the access tokens issued to a
// client: the tokens carry may_act {sub, client_id}, and the token
// exchange grant accepts such a subject token only with that party's
// actor token. Event project.application.may_act.set {appId, mayAct}.
//
// Events of refusals (aggregate "oauth_client", id the application's,
// owner its organization): oauth_client.certificate.refused {appId,
// clientId, method, reason, subject, issuer, serial, thumbprint}.
//
// Events (aggregate "project", id the project's, owner its organization):
// project.added {name}, project.application.added {appId, name, clientId,
// kind, public, grantTypes, accessTokenType, accessTokenLifetime (ns),
// scopes, …, resourceUri, impersonationAllowed}, project.application.secret.added {appId, secretId, keyId,
// hash}, project.application.secret.expiry_set {appId, secretId,
// expiresAt}, project.application.secret.removed {appId, secretId},
// project.application.dpop.set {appId, required, nonceRequired},
// project.application.fapi.set {appId, enabled}; all at
// payload version 1. Read models: projects, applications, client_secrets,
// kept inline by Projection.
package client
