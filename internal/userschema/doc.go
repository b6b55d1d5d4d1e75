// Package userschema owns the user schema language of Castellan: a JSON Schema
// (draft 2020-12) document plus Castellan annotations that say who may read and
// write each field of a user's traits, which token claim or SAML attribute a
// field feeds, which values are unique, and which authenticators users of the
// type may have.
//
// It is pure domain logic. The user package stores schema documents in
// events and calls [Compile] to get a [Schema]; on every create or update it
// runs, in order:
//
//	next := MergePatch(current, patch)            // partial update, RFC 7396
//	schema.Validate(next)                         // 400 with every violation
//	schema.CheckWritable(current, next, role)     // 403 naming the fields
//	schema.UniqueValues(next)                     // unique constraints on the append
//
// and on reads schema.FilterReadable(traits, role). Token and SAML code read
// Claims and SAMLAttributes. Nothing here touches a database or HTTP.
//
// # Fields
//
// A field is a property reached from the schema root through a chain of
// "properties" keywords; its JSON pointer is the location in the traits
// (for example /profile/given_name). A field whose schema declares
// "properties" is an object field; any other field (a string, an array, a
// free-form object, a "$ref") is a leaf and is read and written as a whole.
// Annotations are read only on the root and on fields. An annotation anywhere
// else — inside "$defs", "items", "allOf", "additionalProperties" … — is a
// compile error, so nothing is ever silently ignored.
//
// # Annotations
//
//	"permission": {"self": "rw", "admin": "r"}
//
// Modes are "", "r", "w" and "rw"; a missing role means "". A field without
// "permission" inherits its parent's, like a file system; the root's default
// is none. An explicit "permission" replaces the inherited one for both roles.
// Properties that an object field does not declare (allowed unless
// "additionalProperties" is false) take the object's permission. Compile
// rejects a schema in which some leaf field, or the undeclared properties of
// an open object, can be read by neither self nor admin, naming its pointer.
//
// "w" without "r" is write-only: [Schema.FilterReadable] drops the field for
// that role (so the role never learns the value, nor whether one is set) and
// [Schema.CheckWritable] lets the role change it. Because some role must
// still be able to read every field, a write-only field is, for example, a
// security answer the user sets ("self": "w") and the help desk checks
// ("admin": "r"). Clients that cannot see a field must update with a merge
// patch, never by replacing the whole document, or they would delete it.
//
//	"oidcClaim": "given_name", "samlAttribute": "urn:oid:2.5.4.42"
//
// The claim or SAML attribute a field feeds; see [Schema.Claims] and
// [Schema.SAMLAttributes]. Two fields feeding the same claim or attribute is an
// error, and so is a claim that Castellan itself issues (sub, iss, aud, exp,
// email, email_verified, preferred_username, …): a self-writable trait must
// never be able to forge identity or contact data.
//
//	"unique": "org" | "instance"
//
// The field's value must be unique among users of the org or the instance.
// Only fields of "type" "string", "number" or "integer" may be unique; the
// user package turns [Schema.UniqueFields] into event-store unique
// constraints; [Schema.UniqueValues] extracts the values in a canonical form
// (numbers normalized exactly, so 1 and 1.0 collide and large integers never
// do by rounding).
//
//	"authenticators": ["password", "passkey", "totp", "otp_email", "otp_sms",
//	                   "machine_key", "pat", "client_certificate", "idp"]
//
// On the root only: the authenticators users of this type may have. Unknown
// names and duplicates are errors; a missing list means none.
//
// # Validation
//
// Validation is done by github.com/santhosh-tekuri/jsonschema/v6; the
// annotations are read by walking the schema JSON here. The validator's
// vocabulary extension sees one subschema at a time, without its parent, but
// permission inheritance, the no-reader rule and duplicate claims are
// properties of the field tree as a whole, and draft 2020-12 only honours a
// custom vocabulary through a custom meta-schema, which would itself have to
// be loaded. A walk over the decoded document is shorter and reports the
// exact pointer of every mistake.
//
// Schemas are draft 2020-12 only: a "$schema" naming anything else is
// rejected, and a missing one means 2020-12. The validator never loads
// anything: "$ref" and "$dynamicRef" must be same-document references
// ("#/$defs/address", "#anchor"), the loader refuses every URL, and the
// draft 2020-12 meta-schemas come embedded in the validator. "format" is
// asserted (a bad "uri" fails validation), and an unknown format name is a
// compile error rather than a silent no-op. Patterns use Go's RE2 engine:
// matching is linear in the input, so no schema can cause catastrophic
// backtracking, but look-around and back-references are compile errors.
//
// Validation errors are [*ValidationError]: every violation with the JSON
// pointer of the offending trait ("/profile/gender"; a missing required field
// is named by its own pointer) and a message that never repeats the value
// (traits may be personal or secret). Every invalid field is reported; within
// one value the validator stops at a failed "type", "const", "enum" or
// "format", and reports all of the length, pattern and range checks
// otherwise. It unwraps to a [failure.Error] of kind InvalidArgument, like
// every other error of this package about its input.
//
// # Reading and writing
//
// [Schema.FilterReadable] keeps what the role may read and re-encodes it
// (sorted keys, numbers kept digit for digit). [Schema.CheckWritable]
// compares old and new traits field by field: numbers by value (1 = 1.0 =
// 10e-1), everything else exactly. Each field added, changed or removed needs
// write access; an object needs it itself only when it changes shape or
// appears or disappears empty, so creating {"profile": {"nick_name": …}}
// takes write access on /profile/nick_name alone.
//
// # Compiled schemas
//
// Documents are at most [MaxDocumentSize] bytes and 64 subschemas deep;
// traits at most [MaxTraitsSize] bytes. A panic inside the validator while
// compiling a document becomes an Internal error, since documents come from
// API callers.
//
// A [Schema] is immutable and safe for concurrent use. [Compile] keeps the
// 1024 most recently used schemas in an LRU keyed by (id, revision). A hit
// also compares the document bytes, so two instances that use the same id for
// different documents still get correct schemas (they only evict each other);
// callers should qualify ids by instance to keep the cache effective. An LRU
// was chosen over an unbounded sync.Map because schema revisions accumulate
// over the life of a multi-tenant server.
//
// # Merge patch
//
// [MergePatch] is RFC 7396, written by hand: it is twenty lines, its edge
// cases are pinned by the RFC's appendix A in the tests, and a library would
// bring RFC 6902 JSON Patch, which Castellan does not offer, into a
// security-relevant path.
package userschema
