// Package report keeps the figures behind the console's charts — active
// users per day and month, sign-ins per day and application, new users
// per day, MFA adoption per organization — as an asynchronous read model
// of the event log, and answers queries on them (the API is
// internal/api/reportapi).
//
// Asynchronous. The rows are written by an event store Subscription
// (Report.Run; package app starts it), never inline: a sign-in pays
// nothing for its report, and the figures lag the log by the time the
// subscription takes to read it. Each batch is applied in the transaction
// that advances the checkpoint, so every event counts exactly once, and
// the subscription reads only settled events, so none is skipped
// (eventstore doc). Of several replicas one at a time advances it.
//
// Rebuildable. The rows are a function of the log alone: replayed from
// position 0 they come out the same (the tests check it). Reducing an
// event reads only the report's own rows, plus one immutable fact — which
// revisions of user types are machines' — cached per revision. When the
// way rows are derived changes, Version grows: the checkpoint is named
// after it, so the new version reads the log from its start, and its
// first batch deletes the old rows.
//
// Days are calendar days in UTC, of each event's creation time; months
// are calendar months in UTC. An event counts on the day it was created.
//
// Definitions.
//
//   - A successful sign-in is a session proving its user by a first
//     factor — a password, an external identity provider, or a
//     passwordless passkey with user verification
//     (session.ProvesUser) — counted once per session and user: more
//     checks in the same session (a second factor, a re-authentication)
//     are not new sign-ins; a session that switches to another user
//     counts that user's sign-in again. It is counted in the organization
//     of the user.
//   - A failed sign-in is each failed check of a session
//     (session.check.failed: a wrong password, TOTP, email or SMS code,
//     recovery code or key), counted in the organization of the session's
//     user, or of the organization the login named for a login name that
//     matched no user, or in none ("") — the last only in instance-wide
//     figures. A second factor failing after a correct password counts as
//     one success and one failure.
//   - The application of a sign-in is the OAuth client of the first
//     grant made from its session (oauth.grant.issued names the session:
//     the code of the authorization request the session finished was
//     redeemed). Until then, and for sessions that never make one (the
//     Session API alone, the account pages, an abandoned login), the
//     sign-in and the session's failed checks count under no application
//     (client id ""); when the grant comes, they move to the client, on
//     the days they happened. A session used for several applications
//     (single sign-on) counts for the first. The event log links failed
//     checks to an application only through that grant: failed checks of
//     a login abandoned before its code was redeemed stay under no
//     application.
//   - An active user of a day (month) is a user with at least one
//     successful sign-in that day (month). The report keeps the set of
//     user ids per day and per month, so the counts are exact distinct
//     counts; a month's count covers the whole month, and the month of a
//     range is counted whole. Instance-wide figures add the
//     organizations' (a user is in one organization).
//   - A new user is a user.added event, of any type (machines
//     included).
//   - MFA adoption counts the people — users whose type (in the revision
//     they were added with) lists an authenticator people sign in with;
//     machines are left out — and those of them with at least one second
//     factor: a verified TOTP, a passkey, or email or SMS sign-in codes.
//     Recovery codes are no factor of their own. A deleted user counts no
//     more. The figure is kept for the organization and for the whole
//     instance as it stands at the end of each day on which it changed;
//     a day between carries the last one. A change read after a change of
//     a later day (two appends committing in the other order around
//     midnight) counts from that later day.
//
// Sizes. A row per organization, day and application with sign-ins, per
// active user per day and per month, per user, per organization and day
// with a change of the MFA figure — each also for the instance's totals
// (organization "*"), so that every query reads one key range. A row per
// session until it ends, or until SessionMemory days after its last check
// (a session that expired): a code redeemed from a session forgotten that
// way moves nothing. Forgetting happens on the first event of each day
// and depends on the events alone, so a replay forgets the same sessions.
// Queries read at most MaxDays days; the sets of active users are read
// only to insert into them.
package report
