// Package passkey owns WebAuthn credentials (WebAuthn Level 2): security
// keys as a second factor, and passkeys — discoverable credentials that
// verify the user — to sign in without a password. The ceremonies are
// verified by github.com/go-webauthn/webauthn; this package decides what
// is asked, keeps the one-time challenges and records the outcomes as
// events. It has no transport: the session API and the authenticator API
// call it with the JSON a browser's navigator.credentials produces.
//
// Relying party. Each instance is its own relying party: a RelyingParty
// function, given by the composition root, answers its id (the instance's
// primary domain), name and allowed origins (the instance's base URL from
// the server's external URL; see FromInstance). A credential registered at
// one instance cannot be asserted at another. Attestation conveyance is
// "none" unless Config.Attestation asks for more.
//
// Ceremonies. Begin* returns a ceremony id and the options for the
// browser; the challenge and what must be checked on return
// (webauthn.SessionData) are stored in webauthn_ceremonies (instance_id,
// id, user_id, purpose, data, expires_at) — a plain table, not events, like
// the other short-lived data. Finish* deletes the row before verifying, in
// its own transaction, so a ceremony is finished at most once (a replayed
// response fails, and so does a second try after a failed one). A
// ceremony expires CeremonyLifetime (5 minutes) after it began; expired
// rows are deleted by the next Begin in the instance and by
// DeleteExpiredCeremonies. The ceremony id is 128 random bits and is
// bound to the user (registration, second factor) and to its purpose.
//
//	BeginRegistration ──► webauthn_ceremonies ──► FinishRegistration ──► Added
//	BeginLogin(user | nil) ──► webauthn_ceremonies ──► FinishLogin ──► Used
//	                                                               └──► CloneWarning (refused)
//
// Registration excludes the credentials the user has. A passwordless
// registration requires a resident key and user verification and records
// the credential as Passwordless; otherwise the credential is a second
// factor. A credential id is a unique value per instance (the event
// store's unique constraints), released when it is removed.
//
// Login with a user allows that user's credentials (a second factor, or a
// passkey after the login name); login without one is discoverable: the
// authenticator picks a credential and its user handle — the user id —
// names the user (Result.Passwordless). A signature counter that did not
// increase while either counter is non-zero means a possible clone
// (§6.1.1): the assertion is refused and a CloneWarning recorded. Every
// refused assertion is the same failure.Unauthenticated; the library's
// reason is only the error's cause. Whether the user may sign in at all
// (active, not locked) is package user's answer, which the caller asks.
//
// Events, on the user's aggregate (type "user", registered by package
// user's RegisterEvents): user.passkey.added (id, COSE public key, sign
// count, AAGUID, transports, attestation type and format, the flags UP,
// UV, BE, BS at registration, discoverable, passwordless, and the name the
// user gave, which is personal data sealed per user), user.passkey.used
// (new sign count, UV and BS flags; its time is when), user.passkey.removed
// and user.passkey.clone_warning. A user's credentials are folded from
// them on each command (model.go), as package credential folds passwords.
//
// Untrusted input: responses over MaxResponseSize (64 KiB) are refused
// before parsing; fuzz_test.go fuzzes the parsing of both responses.
package passkey
