// Package authz decides what an authenticated caller may do through the
// management API: a catalogue of named permissions, the administrator roles
// that bundle them, and the members that hold roles on the instance or on
// an organization.
//
// A role on the instance applies to every organization in it; a role on an
// organization applies to that organization only. Every RPC names the
// permission it needs and the organization it touches, and calls
// Caller.Require before doing anything.
//
// Members are recorded as events on the aggregate they administer
// (instance.member.added/removed, org.member.added/removed); this package's
// projection keeps them in the members table.
package authz
