// Package history answers what objects looked like at a past moment —
// "this user as it was on 3 March at 10:00", "who held role R of project
// P then" — and what changed between two moments.
//
// One fold, not a second implementation: it replays the events of the
// objects asked about (and of the objects their read models depend on:
// a user's organization and user type, a project's organization) up to
// the moment, in commit order, through the same projections that keep
// the live read models, into a scratch SQLite database in memory; the state is then
// read with the same queries the API uses on the live database. Whatever
// a projection derives, history derives the same way, for every
// aggregate that has a projection — new ones plug in by being listed in
// the application's projections.
//
// The scratch database lives in memory for the length of one question —
// users' personal data replayed into it never reaches the disk — and is
// freed after. Its cost grows with the events
// replayed, not with the instance: a user with 1,000 events replays 1,000
// events plus its organization's and user type's (docs/access.md has the
// figures). An object whose history holds more than MaxEvents events is
// refused rather than replayed without bound.
//
// What changed between two moments is one mechanism for every object
// (between.go): Between asks an object's "as it was" question (OrgAt,
// ProjectAt, …) at both moments and Diff compares the two states through
// their JSON form, field by field, naming a collection's elements by
// their identity (an ID, Key or Name field; a string itself in a list of
// strings) rather than their index, so that a role renamed or a redirect
// URI added is one change at a stable path. Fields whose names mark
// credential material never show their values. docs/audit.md describes
// the paths and the API.
package history
