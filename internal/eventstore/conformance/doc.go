// Package conformance is the event store's test suite, run against every
// database backend: append and read back, optimistic concurrency, unique
// constraints, atomicity, queries, decoding rules, inline projections and
// their rebuild, and subscriptions that never skip an event under concurrent
// writers. A backend's test is one call to Run.
package conformance
