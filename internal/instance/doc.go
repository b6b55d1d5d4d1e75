// Package instance owns instances — the tenants of a Castellan deployment —
// and their domains, by which every request is routed to its instance.
//
// Events: instance.added, instance.domain.added, instance.member.added.
// Read model: instances and instance_domains, kept inline (members are
// package authz's).
// A domain belongs to one instance across the whole deployment (a global
// unique value in the event store). The Resolver maps a request's host to its
// instance; the server stores the result in the request context, and every
// query below takes the instance id from there, so no request can read
// another instance's data.
package instance
