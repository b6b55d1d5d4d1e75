// Package settings owns the policies and settings of an instance and of its
// organizations: login (allowed authenticators, MFA, registration), password
// complexity, lockout, session and token lifetimes, privacy links and
// languages, and the branding of the hosted login (settings.go lists the
// groups and their built-in values; branding.go the branding's).
//
// Levels: a group is in force from the most specific level that sets it —
// an organization's override, else the instance's default, else the value
// built into Castellan. A group is set and reset as a whole: an override
// never merges field by field with the level above. Effective reads the
// settings in force with the level each group comes from (Sources).
//
// Writes: Set and Reset (commands.go) change one group at one level. The
// settings of a level are one aggregate (type "settings"; id: the
// organization's id, or the instance's id for the instance level; owner:
// the organization, or none) with two events per group (events.go):
// "settings.<group>.set" carrying the whole group and
// "settings.<group>.reset" falling back to the level above. A value is
// checked before any event is written (validate.go): every failure is
// failure.InvalidArgument naming the field as the API spells it
// ("login.allowedAuthenticators[2]", "session.idleTimeout"), and languages
// are stored in their canonical BCP 47 form. Setting the value a level
// already has and resetting a group the level does not set change nothing
// and append nothing: both are idempotent. An organization's override
// needs the organization to exist (failure.NotFound otherwise).
//
// Branding (branding.go): colours are "#rrggbb" (empty: the built-in one,
// so the stored group names them all), logos, icons and the font are ids
// of package asset's files. Set checks, through the asset store given
// with WithAssets, that each id is an asset of the instance of the kind
// its field needs (an image, a font); the files themselves are uploaded
// beside the settings, not in events. An asset is shared by the instance:
// an organization may refer to a file another organization uploaded,
// which is public on the login anyway.
//
// Texts (texts.go): a level's own words for the login and its emails, per
// language, by key of the message catalogues, which packages login and
// mail register (RegisterTexts) when the program starts; plain text with
// the original's placeholders only (FormatText fills them). Embedding
// (embedding.go): the origins that may frame the login, canonical
// scheme://host[:port] without wildcards, for the instance only.
//
// Read model (projection.go): the table settings(instance_id, org_id, grp,
// value, updated_at), org_id empty for the instance level, value the group's
// JSON, updated inline with the events; an organization's removal deletes
// its rows. Effective reads both levels in one query.
//
// Notification providers (notification.go): the instance level also sets
// the SMTP server and the SMS webhook of its email and text messages
// (events "settings.notify.{smtp,sms}.{set,reset}"), defaulting to the
// server's configuration (LevelServer). Their secrets are sealed with the
// key ring (Commands.WithKeys) under associated data naming the instance
// and the secret, in the event and in the read model
// (notification_providers); NotificationProviders opens them for sending.
// A change that sends no secret keeps the one set before.
//
// Payloads: every event is at version 1. A group gaining a field must
// bring an upcaster giving old events the value that keeps their meaning
// — unless its zero value is that meaning: login.magicLinkAllowed, added
// later, is false (no sign-in links) in the events written before it.
package settings
