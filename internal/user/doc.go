// Package user owns user accounts. A human and a machine are the same kind
// of account, typed by a user type (package usertype) whose schema
// (package userschema) defines the account's traits; they differ only in
// their authenticators.
//
// A user has a login name (unique per instance), traits validated against
// the latest revision of its type when written, contact data (email,
// phone), a state, metadata and a password.
//
// Login names (loginname.go) follow RFC 8265. What is stored — in events,
// the read model's login_name and the API — is the name as typed with wide
// and narrow forms mapped and NFC applied (UsernameCasePreserved): "Ａda"
// is stored as "Ada". What is unique and looked up by — the claim in the
// event store's unique_constraints, the read model's login_name_lower,
// sign-in, exact and prefix search — is its key, the UsernameCaseMapped
// form: "ADA", "ａda" and "ada" are one name, and so are the NFC and NFD
// forms of "Émile". Strings RFC 8265 refuses (spaces, controls, invisible
// formatting, symbols beyond ASCII, broken bidirectional text) fail with an
// invalid-argument error for loginName that names the problem; '@' and '.'
// are fine. New names must also not mix scripts confusably ("аdmin" with a
// Cyrillic а): UTS #39's highly restrictive level, checked before and after
// the last '@' separately; whole-script confusables are not detected.
// Commands.WithLoginNameRules (setting users.allow_mixed_script_login_names)
// lifts that rule. user.Creation applies RFC 8265 only: the first
// administrator's name comes from the operator's configuration.
//
// Names stored by earlier versions. Events are never rewritten: an old
// event keeps the name as typed and its key is computed when it is read.
// Earlier versions claimed and indexed names in lower case; a rebuild of
// the users read model recomputes every key into login_name_lower and then
// claims all login names anew under them (Projection.FinishRebuild,
// eventstore.ReplaceUnique). The first start of a newer binary does it by
// itself (Projection.Version, eventstore.Store.RebuildOutdated); `castellan
// projections rebuild users` does it by hand. Two old names that now share a key
// ("admin" and "ａdmin") both survive the rebuild: the first created keeps
// the key, the other gets the key plus a space and its id, which no typed
// name reaches (sign-in by that name finds the first); rename one of them.
// A name RFC 8265 now refuses keeps its lower case as key and still signs
// in. Renaming and deleting release the value the read model holds for the
// user, i.e. exactly what was claimed, old form or new.
//
// States: initial (created without a password and without a proven email
// address, for a type that signs in with passwords: it becomes active when
// it sets a password or proves its email), active, inactive (deactivated by an administrator),
// locked (by an administrator, or by too many failed sign-ins), deleted
// (final; the login name and unique trait values are released).
//
// Field permissions: reading a user as itself returns only the traits the
// schema lets "self" read, and a user updating itself may change only
// fields "self" may write; administrators follow the "admin" permission.
//
// Unique traits: a field annotated unique claims its value per organization
// or per instance in the event store, atomically with the change.
//
// Search (search.go, search_plan.go, search_sql.go): a page costs what its users cost,
// not what the directory holds. The users table has, for every equality
// filter (organization, state, type, email), an index per sort order
// (login name, creation time) that yields its matches in page order;
// user_traits has one row per trait a user type marks "search": true
// (user_search_fields lists them per type; a revision marking a field
// indexes it for the type's users), with the user's sort keys, indexed the
// same way, and with its organization (which never changes), indexed
// after the value and before the sort keys: a trait equality within an
// organization is one range of the organization's matches in page order,
// not every holder of the value checked against the organization. A
// search reads one index, chosen from its filters by a fixed priority and
// named on SQLite (INDEXED BY) — statistics, missing or stale
// as on a server that was running when its users arrived, choose nothing;
// on PostgreSQL through database.DB.IndexReader, whose sessions may not
// scan tables, hash, merge or materialize. Filters that index does not
// answer are checked on at most ScanBudget candidates a page — unless another filter
// has at most ScanBudget matches, which are then read and sorted (when
// they need no other check, the plan's count of them is the total and the
// sort keeps only the page) — so a page may be short and still continue. Totals are counted in the index up
// to CountCap, and are otherwise lower bounds. Trait filters on fields no
// schema marks "search" are refused (checkSearchable), as are filters on
// fields the role may not read; what that check reads (the instance's
// type revisions and indexed fields) a SearchCache keeps in memory, under
// a count of revisions (user_search_versions) read at most every second or
// after a local change, as package authn keeps callers. plan_test.go
// checks every plan on both backends, and that a statement's text depends
// on the search's shape only (values and totals are arguments, so that
// statements stay prepared).
//
// Search cursors (cursor.go) come back from the network. A Searcher
// (NewSearcher, with the key ring) counts the total on the first page only
// and carries it in the cursor under an HMAC keyed from the key ring,
// binding the cursor to its instance, filters, order and role: a cursor
// cannot change the total, nor be replayed on another search. Find,
// without a key ring, hands out cursors holding only the position and
// counts on every page.
//
// Credentials: passwords, their checks and lock, and contact codes are
// package credential's, events on the user's aggregate that this package
// registers and follows (PasswordSet activates an initial user and gives
// the read model its hash; PasswordLocked locks; ContactVerified proves the
// current address). credentials.go finds what credential needs — the
// user's aggregate, organization and current address — for sign-in,
// password changes and codes; new users' passwords are checked and hashed
// under the organization's credential.PolicySource (WithPolicy).
//
// Events are in events.go; commands (commands.go) fold a user's events into
// its write model and append with optimistic concurrency.
package user
