// Package authz decides what an authenticated caller may do: a catalogue of
// named permissions, the administrator roles that bundle them, the scopes
// they are held on (the instance, an organization; projects next), and the
// pure decisions over a Caller — "may this caller do P on scope S"
// (Caller.Require) and "does this caller hold everything that user holds"
// (Caller.Covers, the rule against escalation through another account).
//
// It reads nothing: package member keeps who holds which roles and builds
// a Caller from them; package authn turns a credential into that Caller.
// A role on the instance applies to every organization in it; a role on an
// organization applies to that organization only. Every RPC names the
// permission it needs and the scope it touches, and calls Caller.Require
// before doing anything.
package authz
