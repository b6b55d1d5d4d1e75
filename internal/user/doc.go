// Package user owns user accounts. A human and a machine are the same kind
// of account, typed by a user schema ("human", "machine"); they differ only
// in their authenticators.
//
// Events: user.added, user.password.set. Read model: users, kept inline.
// Login names are unique per instance and compared case-insensitively.
package user
