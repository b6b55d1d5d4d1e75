// Package userapi serves castellan.user.v1.UserService: it authenticates the
// caller, checks the permission each RPC names on the user's organization,
// and translates between the wire messages and package user.
//
// A caller without read permission on a user's organization gets NotFound
// for that user, not PermissionDenied, so that user ids of other
// organizations cannot be probed.
//
// Avatars (avatar.go): SetUserAvatar and SetMyAvatar admit an image into
// the asset store and set the field of the user's type that feeds the OIDC
// "picture" claim to its URL through user.Commands.Update, so the schema
// validates it, the field's permission decides for the user itself, and
// the change is a user.traits.updated event. Whether the role may write
// the field is checked before the bytes are stored.
//
// The package also serves the user's authenticators (AuthenticatorService),
// passkeys (PasskeyService) and the export of a user's data
// (DataExportService, export.go; see package portability).
package userapi
