// Package user owns user accounts. A human and a machine are the same kind
// of account, typed by a user type (package usertype) whose schema
// (package userschema) defines the account's traits; they differ only in
// their authenticators.
//
// A user has a login name (unique per instance, case-insensitive), traits
// validated against the latest revision of its type when written, contact
// data (email, phone), a state, metadata and a password.
//
// States: initial (created without a password and without a proven email
// address, for a type that signs in with passwords: it becomes active when
// it sets a password or proves its email), active, inactive (deactivated by an administrator),
// locked (by an administrator, or by too many failed sign-ins), deleted
// (final; the login name and unique trait values are released).
//
// Field permissions: reading a user as itself returns only the traits the
// schema lets "self" read, and a user updating itself may change only
// fields "self" may write; administrators follow the "admin" permission.
//
// Unique traits: a field annotated unique claims its value per organization
// or per instance in the event store, atomically with the change.
//
// Search: the users table holds the columns users are filtered and sorted
// by, and user_traits one row per scalar trait (its JSON pointer and value),
// indexed so that equality and prefix searches on any trait stay index
// lookups as the directory grows.
//
// Events are in events.go; commands (commands.go) fold a user's events into
// its write model and append with optimistic concurrency.
package user
