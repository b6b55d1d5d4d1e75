// Package portability records the exports of a user's data (GDPR Art. 15
// and 20): the right of access and of data portability.
//
// The export itself is assembled by the user API (userapi's
// DataExportService) from the read models that hold the user's data — the
// users table for profile and contact, the credential and passkey folds of
// the user's events for its authenticators, the members table for
// administrator roles, authorizations and groups, live sessions — and the
// events of the user's account, redacted as the event API redacts them.
// Secrets never leave: the folds expose whether a password or a TOTP is
// set, how many recovery codes are left, never a hash, a seed or a code.
//
// This package owns the event that says an export happened:
// user.data.exported, on the exported user's aggregate, its editor the
// one who exported, its payload only how many events the export held and
// whether it was cut short. It never carries the exported data; an
// export is an access to personal data, and the trail of who accessed
// whose data is what an audit of it needs.
//
// Bounds: an export holds at most MaxEvents events (and 3 MiB of them, so
// that the document stays under the API's message limit), oldest first;
// the rest are listed through the event API after the position the export
// gives.
package portability
