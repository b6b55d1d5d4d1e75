// Package machinekey owns machine keys: public keys a user (typically a
// machine user) registers so that it can later prove itself with a JWT it
// signs — the JWT bearer grant of RFC 7523, section 2.1. Castellan stores
// public keys only.
//
// Adding a key. Register takes a public key the caller already holds: one PEM
// "PUBLIC KEY" block (PKIX, RFC 5280 SubjectPublicKeyInfo) or one JWK as JSON
// (RFC 7517). Generate makes a key pair for the caller and returns the
// private key once — as PKCS#8 PEM and as a JSON key file
// {"type":"serviceaccount","keyId","key","userId","expiresAt"} — and keeps
// only the public half. Private keys (PEM or JWK with private members),
// symmetric JWKs, JWK Sets, certificates and anything unparsable are
// rejected with failure.InvalidArgument on field "publicKey"; the message
// never repeats key material. A caller's JWK "kid" is not kept: Castellan
// assigns the key id, which the machine puts in its JWT's "kid" header.
//
// Algorithms. The key type fixes the JWS algorithm (RFC 7518):
//
//	RSA, 2048 to 4096 bits   RS256
//	ECDSA P-256              ES256
//	ECDSA P-384              ES384
//	Ed25519                  EdDSA (RFC 8037)
//
// Everything else is refused, among them RSA under 2048 bits, P-521 (no
// client we target needs ES512, and a short list is a smaller attack
// surface), X25519 (it cannot sign) and DSA. RSA stops at 4096 bits, the
// largest modulus go-jose parses from a JWK, which also bounds the cost of
// each verification. A JWK whose "alg" names another algorithm, or whose
// "use" is not "sig", is refused rather than silently reinterpreted.
//
// Expiry. Every key expires: expireTime is required, in the future and
// at most ten years ahead; it is kept to the second. Get and List return
// expired keys too (an administrator must see them, and Get has no clock);
// whoever accepts a signature calls Key.Usable(now), which fails with
// failure.FailedPrecondition once the key has expired.
//
// Uniqueness. A public key, identified by its RFC 7638 JWK thumbprint
// (SHA-256), is registered at most once per instance — for one user or
// across users — so that a signature always names one machine. Removing a
// key does not free its thumbprint: a removed key is usually a revoked one,
// and it must not come back by being registered again; the machine makes a
// new key pair instead. A clash is failure.AlreadyExists on "publicKey".
//
// Events (on the user aggregate, type "user"): user.machine_key.added
// {keyId, publicKey (the public JWK with kid, alg and use), algorithm,
// expiresAt, fingerprint (the thumbprint, base64url)} and
// user.machine_key.removed {keyId}; both at payload version 1.
//
// Read model: machine_keys (instance_id, key_id, user_id, algorithm,
// public_jwk, thumbprint, expires_at, created_at), kept inline by
// Projection, keyed by (instance_id, key_id) and indexed by user. Get reads
// one key by id for the JWT grant; List reads a user's keys.
//
// Assertions (assertion.go). Assertions.Verify checks the JWT a machine
// presents to the JWT bearer grant (RFC 7523 sections 2.1 and 3): kid the
// key id, alg the key's own (never none or HMAC), iss = sub = the key's
// user id, aud the issuer or the token endpoint, exp required and at
// most MaxAssertionLifetime (1 h) ahead, nbf and iat not ahead, 30 s of
// leeway, a usable key, and a jti used once: it is kept in the plain
// table machine_key_assertions (instance_id, user_id, jti, expires_at)
// until the assertion expires, and SweepAssertions deletes the expired
// rows. Every refusal wraps ErrInvalidAssertion; whether the user may
// still sign in is the caller's to check.
package machinekey
