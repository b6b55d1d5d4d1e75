// Package settingsapi serves castellan.settings.v1.SettingsService: the
// settings in force for the instance or an organization, with the level
// each group comes from, the commands that set and reset a group at a
// level, and the upload of the branding's files (assets.go: admitted and
// stored by package asset, which WithAssets provides). It translates messages (convert.go) and checks permissions;
// package settings decides everything else.
//
// Permissions: without an organization id an RPC works on the instance
// and needs settings.read or settings.write on the instance; with one it
// needs the permission on that organization, which a role on the instance
// also grants. A login client (instance.login_client) holds settings.read
// on the instance, so it reads the settings of every organization it signs
// users in to.
package settingsapi
