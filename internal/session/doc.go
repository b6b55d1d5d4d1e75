// Package session owns sign-in sessions: the aggregate that records who a
// person claims to be and which factors proved it, and when. The hosted
// login and any customer's own login stand on it through the Session API
// (internal/api/sessionapi); tokens of the provider will be minted from it.
//
// A session is created with checks (a user by login name or id, a
// password, a TOTP code, an email or SMS code, a WebAuthn assertion, a
// recovery code, the token of a sign-in link sent by email) and updated
// with more. A sign-in link is a first factor where the settings allow
// links (settings.Login.MagicLinkAllowed), with the AMR "otp" and "email";
// an email code does not count as a second factor after one. Each check is an event with its
// time, the client's address and user agent; a failed check is an event
// too, and counts towards the user's lockout in package credential, which
// does every credential check. Status says, from the effective login
// settings of the user's organization (package settings), whether the
// session is authenticated and which factors would advance it; AMR lists
// the methods in RFC 8176 terms.
//
// The session token is 256 random bits, returned once at creation; only
// its SHA-256 hash is stored (a high-entropy secret needs no slow hash).
// Every update presents it. A session ends at its lifetime, after its
// idle timeout without a check, or when its user, an administrator or the
// login ends it; the lifetimes are those of the settings when it was
// created.
//
// No enumeration. Until a first factor (password, passwordless passkey)
// has been proven, a session reveals nothing of its user: a login name
// that matches no user, a machine, a locked or inactive user, or a user of
// a deactivated organization all make a session like any other, whose
// status lists the first factors the settings allow; a password checked
// against any of them costs one argon2id verification and gets the one
// answer a wrong password gets. Only Lockout.ShowLocked, an operator's
// choice, tells a locked user so. A WebAuthn challenge before a first
// factor is for a discoverable credential (no allowCredentials list), so
// it does not reveal which keys a user has; after one, it lists the user's
// keys. Email and SMS codes are sent only to a user who opted in, yet the
// answer to a challenge is the same either way.
//
// Machines have no interactive session: their credentials stay personal
// access tokens and machine keys. A machine's login name is treated as an
// unknown one.
//
// Sign-ins from a device new to the user are told to the user by email,
// asynchronously, from a subscription with its own read model of known
// devices (device.go, DeviceWatch; package app runs it).
//
// The client's address and user agent in the events are personal data of
// the session, not of its user: erasing a user does not erase them (the
// audit trail of sign-ins keeps them until its retention ends).
package session
