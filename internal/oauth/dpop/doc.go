// Package dpop checks DPoP proofs (RFC 9449): the JWTs a client signs
// with a key of its own, per request, so that the tokens bound to that key
// are worthless to whoever steals them without it.
//
// What it owns, and the decisions taken:
//
//   - Parse (proof.go) checks one proof against the request it came with
//     (section 4.3): at most MaxProofBytes; compact JWS; typ dpop+jwt; an
//     asymmetric algorithm of Algorithms (ES256/384/512, PS256/384/512,
//     RS256, EdDSA — never none or HMAC); a public jwk in the header
//     (RSA of at least 2048 bits) that verifies the signature; jti (at
//     most 256 bytes); htm equal to the method; htu equal to the URL
//     without query and fragment once both are normalised (scheme and
//     host case, default ports, empty path, dot segments,
//     percent-encoding); iat no older than Lifetime (60 s) and no more
//     than Skew (10 s) ahead; ath the hash of the access token presented
//     with it. Its result, Proof, is the only way to get a key thumbprint
//     (jkt) from a request: code that binds a token takes a Proof.
//   - Nonces (nonce.go) are the server nonces of section 8, without
//     state: the key ring key's id, a 5-minute window number and an
//     HMAC-SHA-256 over the window and the instance under a key derived
//     from the ring (purpose castellan/oauth/dpop-nonce). Every replica
//     with the same ring accepts every other's nonces; one is valid in its
//     window and the next (5 to 10 minutes); a nonce of one instance is
//     refused by another. A nonce limits how long before its use a proof
//     can be made (pre-generated proofs); the jti store below refuses a
//     proof used twice.
//   - dpopstore.Replays (package dpopstore, apart so that this package
//     needs no database and the Go SDK's middleware can use Parse)
//     remembers the proofs seen, in the table
//     dpop_proofs of the database every replica shares: the SHA-256 of
//     the key's thumbprint and the jti, per instance, until the proof
//     could no longer pass the iat check (iat + Lifetime + Skew). The
//     insert does nothing on a conflict, so the primary key decides which
//     of two racing uses wins, whichever replica each reached. Concurrent
//     proofs share a transaction (database.GroupCommit), and Sweep
//     deletes expired rows (the server's maintenance loop).
//   - Checker (checker.go), given a Replayer, runs them in that order: parse, nonce, replay —
//     a proof refused for its claims or its nonce is not remembered.
//
// What a proof binds is decided by the provider (package op and its
// grants): access tokens get cnf.jkt (and token_type DPoP); refresh tokens
// of public clients are bound to the key (section 5); a pushed request's
// proof, like dpop_jkt at the authorization endpoint, binds its code
// (section 10). Package dpoptest makes proofs for tests.
package dpop
