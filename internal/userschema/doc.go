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
//	schema.Validate(next)                         // 400 with every violation; bounded work
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
//	"search": true
//
// Users can be searched by the field: the user directory indexes its value
// ([Schema.SearchFields]) and search refuses filters on fields no schema
// marks. Only fields of "type" "string", "number", "integer" or "boolean",
// at most [MaxSearchFields] per schema: each is a row of the search index
// per user.
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
// A panic inside the validator while compiling a document or validating
// traits becomes an Internal error, since both come from API callers.
//
// A [Schema] is immutable and safe for concurrent use. [Compile] keeps the
// 1024 most recently used schemas in an LRU keyed by (id, revision). A hit
// also compares the document bytes, so two instances that use the same id for
// different documents still get correct schemas (they only evict each other);
// callers should qualify ids by instance to keep the cache effective. An LRU
// was chosen over an unbounded sync.Map because schema revisions accumulate
// over the life of a multi-tenant server.
//
// # Bounded work
//
// Schemas come from tenant administrators and traits from any user who may
// write their own, so no input may make validation run without bound. The
// validator has no step budget and no context: once it runs it cannot be
// stopped, and JSON Schema lets a small document demand exponential work
// (a chain of 20 "$defs", each an "anyOf" of two references to the next,
// took 6 s and 1 GB for one string; 22 links, 4 GB). So the work is bounded
// before the validator runs, in two steps: a static cost per schema, checked
// when a document is written, and a budget per validation that the traits'
// size and the schema's cost decide before validating.
//
// The cost of a schema is the most schema checks one value of traits may
// take, over all traits within the limits below. It is computed on the
// validator's compiled graph, so references resolve exactly as they will
// at run time: every visit of a subschema is a check; "$ref", "allOf",
// "anyOf", "oneOf", "not", "if", "then", "else" and "dependentSchemas" visit
// their subschemas for the same value, all branches counted, and a
// reference reached twice is visited twice, which is how chains multiply;
// "$dynamicRef" may reach its target or any subschema with the same
// "$dynamicAnchor". A value reached as a member or item also costs one
// check per subschema applied to its object or array (one more per
// "patternProperties" pattern, and the "propertyNames" checks of its name);
// every 16 required names, or JSON values in "enum" and "const", add a
// check to their subschema.
//
// The analysis follows values down member by member (declared names one by
// one, any other name, items by position and the rest) to MaxTraitsDepth,
// so a recursive schema that applies itself twice per level is caught
// however the recursion is spelled. It stops as soon as the cost exceeds
// the limit, and after 2^20 steps of its own work. Two tests count the
// validator's actual visits and check them against the bound:
// TestCostBoundsTheValidatorsVisits and FuzzCompile.
//
// [Compile], which the user type commands call for every new or changed
// document, refuses with InvalidArgument, naming the place in the document:
//
//   - documents above [MaxDocumentSize] (512 KiB), subschemas nested deeper
//     than 64, JSON nested deeper than 160 levels;
//   - a number with more than 100 significant digits or outside 1e-400 to
//     1e308 in absolute value (the validator computes with exact fractions:
//     a 100,000-digit number took 0.2 s to compare, and an exponent beyond
//     ±10^7 made it dereference nil);
//   - a subschema applied to the value it is already checking in a loop of
//     references or applicators that never reaches a member or item (the
//     validator stops such a loop with an error, so it never accepts a
//     value, but the paths around it can still be exponential);
//   - a cost above [MaxSchemaCost] (1,000 checks per value), naming the
//     subschema where the checks pile up: a chain of 7 such links costs
//     511, 8 links 1,023. The default human schema costs 3, machine 2, a
//     generated 50-field schema 5.
//
// [CompileStored] compiles revisions already stored, which these limits did
// not exist for; their users stay readable, and the budget below still
// holds, since a schema's cost is computed either way.
//
// [Schema.Validate], which every write of traits passes (create, update by
// an administrator or by the user, import), decodes the traits and refuses,
// before the validator runs:
//
//   - traits above [MaxTraitsSize] (256 KiB) or nested deeper than
//     [MaxTraitsDepth] (16 levels, the traits object being the first): each
//     level is three protobuf messages deep once traits are a
//     google.protobuf.Struct (Struct, map entry, Value), so 16 levels and
//     the response around them stay near 50, half of the recursion limit of
//     100 that many protobuf runtimes apply (Go's is 10,000); a user with
//     traits 4,900 levels deep made every page listing them unreadable;
//   - numbers outside the bounds above;
//   - traits whose number of values times the schema's cost exceeds
//     [MaxValidationCost] (2^17 checks). The cost is a per-value maximum,
//     so this bounds the real work from above. A schema that takes any
//     object (cost 1) validates any traits up to the size limit, a value
//     taking at least 2 bytes; the default types (cost 2 and 3) traits of
//     65,536 and 43,690 values, far more than a profile holds. The worst
//     case, every check of the budget failing (BenchmarkBudgetWorstCase),
//     took 0.12 to 0.21 s and allocated 53 MB on a loaded 2-core machine.
//
// Validate takes no context: the validator could not honour one, and every
// validation ends within the budget, so a cancelled request waits that
// long at most. Reads do not validate and apply none of these limits, so
// traits stored before them stay readable.
//
// # Merge patch
//
// [MergePatch] is RFC 7396, written by hand: it is twenty lines, its edge
// cases are pinned by the RFC's appendix A in the tests, and a library would
// bring RFC 6902 JSON Patch, which Castellan does not offer, into a
// security-relevant path.
package userschema
