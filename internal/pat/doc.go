// Package pat owns personal access tokens: random bearer secrets a user
// (typically a machine user) presents as `Authorization: Bearer` to the API.
//
// A token is "cst_" followed by 43 characters of base64url (32 random
// bytes). It is shown once, when created; Castellan stores only its SHA-256
// hash — a fast hash is right for a 256-bit random secret, where argon2id
// would only make every API call slow. Lookups go by the hash, so comparing
// never touches the secret itself.
//
// Events (on the user aggregate): user.pat.added, user.pat.removed.
// Read model: personal_access_tokens, kept inline.
package pat
