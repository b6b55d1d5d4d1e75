// Package config reads the settings of `castellan start`, `castellan migrate`
// and `castellan projections rebuild` from, in increasing precedence, built-in
// defaults, a YAML file, environment variables and command-line flags.
//
// Every setting is described once, by a field of [Config] and its struct
// tags:
//
//	yaml:"…"      the key within its section; joined with dots it gives the
//	              setting's key, such as first_instance.admin.password
//	default:"…"   the built-in default, in the syntax of the environment
//	desc:"…"      the description; its first sentence is the flag's help
//	secret:"true" the value is never printed, logged or put in an error
//	oneof:"a,b"   the allowed values
//	min:"n", max:"n"  bounds of a number
//	positive:"true"   a duration must be greater than zero
//	nonempty:"true"   a string must not be empty
//
// The environment variable, the flag, the YAML layout, the reference
// documentation ([Reference], docs/configuration.md), the flag help
// ([FlagUsage]) and the wording of validation errors all derive from these
// tags: the key first_instance.admin.password is the environment variable
// CASTELLAN_FIRST_INSTANCE_ADMIN_PASSWORD and the flag
// --first-instance-admin-password. Checks that span settings or need more
// than a tag (URLs, database locations, TLS files, keys) live in validate.go
// and still name settings through their fields, never by hand-written keys.
//
// [Load] returns a validated Config with derived values filled in
// (external_url, first_instance.domain, passwords.max_concurrent); consumers
// read fields and never re-check them. Errors name the setting, where its
// value came from (default, file:line, environment variable or flag) and what
// is wrong, and never contain the value of a secret setting.
package config
