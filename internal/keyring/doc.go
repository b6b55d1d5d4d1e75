// Package keyring encrypts data at rest with AES-256-GCM under a ring of keys
// that can be rotated without re-encrypting everything at once.
//
// A [Key] is a 32-byte secret with a short public ID. A [Ring] holds one
// current key, which seals everything new, and any number of retired keys,
// which only open what they sealed in the past. Keys are written as
// "ID:BASE64" (standard base64 of the 32 secret bytes), the form used in the
// configuration (keys.master, keys.retired) and in the file that
// [LoadOrCreateFile] manages when no key is configured.
//
// # Ciphertext format
//
// Version 1, the only one so far:
//
//	+---------+--------+-----------+-------------+------------------------+
//	| version | id len | key id    | nonce       | GCM output             |
//	| 1 byte  | 1 byte | 1..32     | 12 bytes    | len(plaintext) + 16    |
//	| = 1     |        | bytes     | random      | (ciphertext and tag)   |
//	+---------+--------+-----------+-------------+------------------------+
//
// The header (version, id length and id) is authenticated along with the
// caller's associated data: GCM's additional data is the header followed by
// the associated data, so a ciphertext cannot be relabelled to another key,
// nor moved to a row whose associated data differs. The header is
// self-delimiting, so the concatenation is unambiguous. Nonces are random;
// with 96-bit random nonces one key should seal fewer than 2^32 messages,
// which is one more reason to rotate.
//
// # Rotation
//
//  1. Generate a new key ([GenerateKey], or `openssl rand -base64 32` with an
//     ID of your choice) and configure it as the current key (keys.master).
//  2. Move the previous current key to the retired keys (keys.retired).
//     Everything sealed before still decrypts: [Ring.Decrypt] picks the key
//     the ciphertext names.
//  3. Optionally re-encrypt old data: [Ring.KeyID] tells which key sealed a
//     ciphertext; decrypt and encrypt again the ones not under
//     [Ring.CurrentID]. Once none remain, drop the retired key.
//
// A ring that lacks the key a ciphertext names fails with [ErrUnknownKey];
// any other damage (truncation, a flipped bit, the wrong associated data)
// fails with [ErrDecrypt], without telling which part was wrong.
//
// Secrets never appear in errors. [Key.String] returns the full "ID:BASE64"
// form for storing a key, but formatting a Key with fmt verbs or logging it
// with log/slog shows only its ID.
package keyring
