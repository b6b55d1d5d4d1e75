// Package usertype owns user types: named, revisioned user schemas in an
// instance ("human", "machine", "employee", …). The schema language itself —
// JSON Schema plus Castellan's annotations — is package userschema; this
// package stores schemas as event-sourced objects and hands out their
// compiled revisions.
//
// Every update is a new revision; old revisions stay readable, so a user
// written under revision 1 can always be read after revision 2 exists. New
// and updated users are validated against the latest revision. A
// deactivated type takes no new users; a type can be deleted only while no
// user has it. Type names are unique per instance, case-insensitively.
//
// Creation and Update compile a new document with userschema.Compile, which
// applies every limit of the schema language (size, nesting, the cost of
// validating one value); a document it refuses is never stored. Stored
// revisions are compiled with userschema.CompileStored, which does not apply
// limits added after they were written, so their users stay readable.
//
// Every instance gets the default types "human" and "machine" when it is
// created (DefaultCreations).
//
// Events: user_schema.created, user_schema.updated, user_schema.deactivated,
// user_schema.reactivated, user_schema.deleted. Read model: user_schemas and
// user_schema_revisions.
package usertype
