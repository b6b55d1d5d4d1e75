// Package userapi serves castellan.user.v1.UserService: it authenticates the
// caller, checks the permission each RPC names on the user's organization,
// and translates between the wire messages and package user.
//
// A caller without read permission on a user's organization gets NotFound
// for that user, not PermissionDenied, so that user ids of other
// organizations cannot be probed.
//
// The package also serves the user's authenticators (AuthenticatorService),
// passkeys (PasskeyService) and the export of a user's data
// (DataExportService, export.go; see package portability).
package userapi
