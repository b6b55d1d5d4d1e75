// Package password hashes and verifies human passwords with argon2id
// (RFC 9106), stored in the PHC string format
// "$argon2id$v=19$m=MEMORY,t=ITERATIONS,p=PARALLELISM$SALT$HASH".
//
// Hashing is deliberately memory-hard and therefore expensive; a Hasher
// bounds how many hashes run at once, so a storm of logins queues instead of
// exhausting memory. Parameters stored in each hash are honoured on verify,
// so raising the cost applies to new hashes without breaking old ones, and
// NeedsRehash tells when a stored hash should be upgraded.
package password
