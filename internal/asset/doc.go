// Package asset stores the files an instance shows to browsers: the logos,
// icons and fonts of its branding (package settings refers to them by id)
// and users' avatars (the user service stores an image and sets the field
// of the user's type that feeds the OIDC "picture" claim to its absolute
// URL, the instance's issuer followed by PathPrefix and the id). It owns
// the admission of an upload and the store the bytes live in; serving them
// is the login's (PathPrefix, /ui/assets/{id}).
//
// Ids: an asset's id is the hex SHA-256 of its bytes, per instance. An
// asset is immutable, so a URL naming it may be cached for a year
// ("immutable"), and putting the same bytes twice stores them once.
// Nothing is ever overwritten; an asset no setting or user refers to any
// more (a replaced logo or avatar) stays until a later sweep removes it
// (none yet).
//
// Store is the interface the rest of Castellan uses. Its embedded default,
// DBStore, keeps the bytes in the database (table assets: SQLite BLOB,
// PostgreSQL BYTEA; migrations.go), so a single binary with its database
// is the whole deployment and replicas share the assets with no further
// part. An adapter for S3-compatible object storage can implement Store
// later (objects named instanceID/id, the content type as the object's
// metadata) without a change to its callers. Uploads are not events: the
// bytes are data, not a change of state. The setting or the user's traits
// that refer to an asset are the event, and the audit trail names the
// asset by its hash.
//
// Admission (admit.go): an upload is admitted by its content, never by the
// type it is declared as. Admit sniffs the magic bytes — PNG, JPEG, GIF,
// WebP and ICO for images, WOFF2 and WOFF for fonts — and bounds the size
// (MaxImageBytes, MaxFontBytes). SVG is refused: an SVG is a document that
// can carry scripts, event handlers, external references and CSS, and
// sanitising it safely needs an XML parser and an allow list we would
// write and maintain by hand; a PNG or WebP logo of the same look is
// safe by construction. Every refusal is failure.InvalidArgument naming
// the field of the request ("data").
//
// Serving: whatever is stored is served with the sniffed content type,
// X-Content-Type-Options: nosniff and a Content-Security-Policy that lets
// the response load nothing, so that even a file that is also valid as
// another format (a polyglot) is only ever shown as the image or font it
// was admitted as.
package asset
