// Package password hashes and verifies human passwords with argon2id
// (RFC 9106), stored in the PHC string format
// "$argon2id$v=19$m=MEMORY,t=ITERATIONS,p=PARALLELISM$SALT$HASH".
//
// Hashing is deliberately memory-hard and therefore expensive; a Hasher
// bounds how many hashes run at once, so a storm of logins queues instead of
// exhausting memory. Parameters stored in each hash are honoured on verify,
// so raising the cost applies to new hashes without breaking old ones, and
// NeedsRehash tells when a stored hash should be upgraded.
//
// Imported hashes. Users imported from another system keep the hash that
// system stored: argon2 (i, d, id), bcrypt, bcrypt-sha256, scrypt,
// yescrypt, PBKDF2 and SHA-crypt, read with github.com/go-crypt/crypt.
// Supported admits such a hash only when its cost parameters are within
// bounds, so that an imported hash cannot make a sign-in allocate gigabytes
// or compute for minutes. Hasher.VerifyAny verifies any of them under the
// same concurrency bound and says when the hash should be replaced by an
// argon2id hash of the password just verified.
package password
