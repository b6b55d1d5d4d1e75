// Package token owns what the provider signs and what it remembers of
// tokens: the signing keys of each instance ("web keys"), JWT access
// tokens (RFC 9068) and their revocation (RFC 7009).
//
// Web keys. Each instance has, per algorithm (ES256, the default, which
// signs access tokens; RS256, which OpenID Connect requires for ID tokens;
// EdDSA), one current key that signs, one next key that is published but
// does not sign yet, and retired keys that are published but sign no more.
// The keys of an algorithm are created at its first use (Keys.Signer, or
// Keys.PublicKeys for the default algorithm). Keys.Rotate makes the next
// key current, retires the current one, publishes a new next key and drops
// keys retired longer ago than the caller keeps them; it refuses to make a
// key sign that was published less than KeySetMaxAge ago, the max-age of
// the JWKS response, so a client that caches the key set always knows a
// key before the key signs. Private keys are PKCS#8 DER sealed with the
// key ring, bound to instance and key id, in the events themselves.
//
// Access tokens. Tokens.IssueJWT signs claims with the instance's current
// ES256 key and writes nothing: a client_credentials grant costs a read of
// the client and a signature, no database write (DESIGN: "no per-token
// database write where none is needed"). That is why issuing is not an
// event; a revocation is (see below). Tokens.VerifyJWT accepts only
// typ at+jwt, a published key of the instance with that key's own
// algorithm (never "none", never HMAC), the instance's issuer, an
// unexpired token whose jti is not revoked.
//
// Revocation. Tokens.Revoke appends oauth.token.revoked {tokenId,
// clientId, expiresAt} on an aggregate of its own (type access_token, id
// the jti), so revoking twice appends once. RevocationProjection keeps the
// jti in revoked_tokens until the token would have expired; each
// revocation deletes its instance's rows that expired before it.
//
// Delegation. An access token issued by token exchange (RFC 8693) may
// carry act (Actor: the actor's sub and client_id, earlier actors nested),
// and Access.NotAfter caps its expiry at the tokens it was exchanged for.
// Tokens.RecordExchange appends oauth.token.exchanged (Exchanged) on an
// aggregate of its own (type token_exchange, id the new token's jti): the
// audit trail of who acted as whom, through which client.
//
// Events: web_key.added {keyId, algorithm, publicKey (JWK), privateKey
// (sealed)}, web_key.activated {keyId}, web_key.removed {keyId} on the
// aggregate web_keys/<instance id>; oauth.token.revoked;
// oauth.token.exchanged {tokenId, clientId, subject, subjectTokenId,
// subjectClientId, actor, actorTokenId, actorClientId, impersonation,
// scope, audience, expiresAt}. All at payload version 1. Read models:
// web_keys, revoked_tokens.
//
// Caching. A replica keeps an instance's current signing key and key set
// for cacheTTL (10 s) before reading them again; a rotation made on
// another replica takes effect here at most that much later, which is
// safe since the key it replaces stays published.
package token
