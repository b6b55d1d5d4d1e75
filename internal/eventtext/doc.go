// Package eventtext describes events to people: one sentence per event
// type, in each language of the hosted login (English and German), as the
// console and the audit API show them.
//
// A description is a template of its type, filled from the event's public
// fields after the event API has redacted credential material: "Role
// {key} was added to the project." names the payload field key. Templates
// name only identifiers and names (ids, keys, domains, channels, login
// names), never contact data or secrets; a personal field of a user whose
// data was erased reads as the placeholder the event store puts there. A
// value is cut to 80 characters and stripped of control characters.
//
// The language is the request's own (a language field, then
// Accept-Language), matched with golang.org/x/text/language as the hosted
// login matches it; English is the default and the fallback.
//
// Completeness is enforced where every event type is known: a test of
// package app walks the binary's event registry and fails for a type
// without a description in every language, or with a placeholder that is
// not one of its plain, non-credential fields. An event type this binary
// does not know (read from a newer one) is described by its type name.
package eventtext
