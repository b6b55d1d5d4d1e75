// Package ratelimit counts requests per key (a client address, say) in
// fixed windows, in memory, with a bounded number of keys.
//
// It is for limits that protect costly or abusable side effects of one
// replica (sending email and SMS) where a durable, cluster-wide count is
// not needed: each replica enforces the limit on its own, so N replicas
// allow up to N times the limit. Limits that must hold across replicas
// (lockout after wrong passwords, codes per user) are events in the domain
// packages instead.
//
// Memory is bounded: at most MaxKeys keys are tracked in a window. When
// the table is full, a new key is refused rather than tracked (fail
// closed): a flood of distinct addresses can then deny new addresses until
// the window ends, but can neither grow memory nor escape the limit.
package ratelimit
