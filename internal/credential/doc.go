// Package credential owns what proves a user: passwords (their hashes, the
// checks of them, the lock after too many wrong ones), the codes that
// prove an email address or phone number, and the second factors TOTP,
// sign-in codes by email or SMS, and recovery codes (WebAuthn is package
// passkey's). Its commands make every push of its events, on the user's
// aggregate; its policies come from a PolicySource per instance and
// organization (the settings, when they exist).
//
// It knows users only as an aggregate and as facts its callers pass in
// (the address a code goes to): it does not import package user, which
// imports it. So package user's state machine and read model follow the
// credential events that change an account — PasswordSet (an initial user
// becomes active; the read model holds the hash), PasswordLocked and
// OTPLocked (the user is locked) and ContactVerified (the address is
// proven) — and whoever
// signs a user in (the session, the API's self-service) first finds the
// user and checks it is active through package user, then asks this
// package whether the credential holds.
//
// Every command folds the user's events afresh (load), since each may
// append. A reader that needs several packages' view of the same user —
// a session's facts: this package's authenticators and package passkey's
// keys — reads the events once (ReadUser) and folds them for each
// (AuthenticatorsIn, passkey.HasIn).
//
// The security-relevant facts are events — a failed password check, a lock
// after too many, a code sent, a wrong code entered — so every replica
// counts attempts the same way and the audit trail shows them.
//
// # Second factors
//
// TOTP (totp.go) follows RFC 6238 with the parameters of Google
// Authenticator — SHA-1, six digits, 30-second steps — and a 160-bit seed.
// AddTOTP starts a registration (TOTPAdded, replacing one still pending)
// and returns the seed once, as base32, an otpauth:// URI and a PNG QR
// code; VerifyTOTP activates it with a code of the app. A user has one
// TOTP: a second must wait until the first is removed. The seed is sealed
// with the instance's key ring (AES-256-GCM, bound by its associated data
// to the instance and user) before it enters the event. A sign-in accepts
// the code of the current step and of one step either way; the step of
// every accepted code, the registration's too, is in its event, and a code
// whose step is not after the last accepted one is refused, so a code is
// good once and an observed code is no use.
//
// Sign-in codes (signincode.go) are six digits sent to an email address
// (AuthOTPEmail) or phone (AuthOTPSMS) the user opted in to per channel;
// package user requires the address to be verified when opting in and when
// sending. They are kept apart from contact codes: their own events, their
// own send limit (Policy.CodeSends per CodeWindow), their own lifetime
// (Policy.SignInCodeLifetime, 5 minutes by default); a code is good once,
// and void after Policy.CodeAttempts wrong ones.
//
// Recovery codes (recovery.go) stand in for a lost second factor: ten
// codes of 50 random bits, xxxxx-xxxxx in Crockford's base32 (no letters
// that read as others; typing O for 0 or I and L for 1 is forgiven), shown
// once and kept as salted SHA-256 hashes — fast hashing suffices for
// random secrets, as recoveryCodeHash explains. Each is good once (the
// event names the hash used); generating replaces the whole set.
//
// Checks at sign-in (CheckTOTP, CheckSignInCode, CheckRecoveryCode) give
// one answer to every failure, failure.Unauthenticated "the code is
// wrong". For a user who has the factor, every failure is an event, and
// wrong codes of all three kinds count together: Policy.MaxOTPAttempts in
// a row lock the user (OTPLocked, which package user treats exactly as
// PasswordLocked); a successful second factor ends the run, and so does an
// administrator's unlock (AttemptsResetter), which also lifts the lock. A
// user locked that way is refused without further events. Checks decide
// on the user's current events and append with optimistic concurrency,
// deciding again after a concurrent change, so that concurrent requests
// cannot use one code twice nor escape the count. Wrong passwords and
// wrong codes are counted apart.
//
// Sign-in links (emaillink.go) prove the mailbox at the user's verified
// email address as a first factor: 256 random bits kept as their SHA-256
// hash, good once within EmailLinkLifetime while no newer link was sent,
// their sends limited like codes. A wrong, used or expired link is one
// failure.Unauthenticated and records nothing: a guess of 256 bits needs
// no lock.
//
// Which authenticators a user may have is decided twice: by its user type
// (package user's facade, user.MayUse) and by the login policy
// (Policy.AllowedAuthenticators; empty allows all), both refusing with a
// failed precondition naming the authenticator. Recovery codes are no
// name of their own in either list: they are allowed wherever a second
// factor (passkey, TOTP, email or SMS codes) is. A policy that stops
// allowing an authenticator also stops it signing in; removing one is
// always allowed. Authenticators summarizes what a user has, for the
// sign-in and the API.
package credential
