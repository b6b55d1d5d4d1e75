// Package id generates identifiers for aggregates: UUIDv7 strings, which
// sort by creation time and so keep database indexes compact.
package id

import "github.com/google/uuid"

// New returns a fresh identifier.
func New() string {
	return uuid.Must(uuid.NewV7()).String()
}
