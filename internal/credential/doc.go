// Package credential owns what proves a user: passwords (their hashes, the
// checks of them, the lock after too many wrong ones) and the codes that
// prove an email address or phone number — and, next, TOTP, WebAuthn,
// recovery codes. Its commands make every push of its events, on the
// user's aggregate; its policies come from a PolicySource per instance and
// organization (the settings, when they exist).
//
// It knows users only as an aggregate and as facts its callers pass in
// (the address a code goes to): it does not import package user, which
// imports it. So package user's state machine and read model follow the
// credential events that change an account — PasswordSet (an initial user
// becomes active; the read model holds the hash), PasswordLocked (the user
// is locked) and ContactVerified (the address is proven) — and whoever
// signs a user in (the session, the API's self-service) first finds the
// user and checks it is active through package user, then asks this
// package whether the credential holds.
//
// The security-relevant facts are events — a failed password check, a lock
// after too many, a code sent, a wrong code entered — so every replica
// counts attempts the same way and the audit trail shows them.
package credential
