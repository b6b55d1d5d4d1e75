// Package eventstore is Castellan's source of truth: an append-only log of
// typed events, per instance and aggregate, with the read models derived
// from them.
//
// Writing. A command validates its input, decides which events follow, and
// calls Store.Push with one Append per aggregate. Push is atomic: the events
// are stored with optimistic concurrency on each aggregate's sequence, the
// unique values they claim (login names, domains) are enforced in the same
// transaction, and every inline Projection is updated before commit. A failed
// Push leaves nothing behind.
//
// Events. Each event type is a Go struct implementing Payload, registered in
// a Registry with its payload version. Older payload versions are upgraded on
// read by registered Upcasters. Reading an event whose type or version this
// binary does not know, or whose payload has fields its struct lacks, fails
// loudly rather than dropping data.
//
// Order. Every event has a Position (transaction id, global number). Queries
// return events in that order. On PostgreSQL the transaction id is
// pg_current_xact_id(), assigned at the transaction's first write; Push does
// all its reads before its first write, so an append that saw an aggregate's
// events always sorts after them. On SQLite writers are serialized and the
// transaction id is a counter.
//
// Reading asynchronously. A Subscription reads the log from a durable
// checkpoint. It only ever reads events whose transaction is older than
// every transaction still in flight (PostgreSQL's snapshot xmin), so an
// append that commits late with a smaller position is never skipped — the
// mistake of ordering by a commit timestamp or a bare sequence. A long
// transaction delays subscribers; it cannot make them miss events.
//
// Rebuilding. Store.Rebuild recomputes a projection from the log inside one
// transaction that blocks appends; its rows equal those of the inline path.
// A RebuildFinisher then derives what lives outside its rows, such as the
// unique claims of values whose normal form changed (ReplaceUnique).
//
// Tamper evidence. A Chain links every settled event into a SHA-256 hash
// chain of its instance, in commit order, after the fact — appends never
// wait for it, so concurrent writers on PostgreSQL need no lock on the
// previous link — and signs a checkpoint every CheckpointEvery links and
// once the newest unsigned link is CheckpointAfter old, with an Ed25519
// key only the server holds (KeyRingSigner). A link covers every stored
// column, the sealed form of personal data included, so erasing a
// subject's key leaves the chain verifiable. Store.VerifyChain recomputes
// an instance's chain and reports the first broken link (docs/audit.md).
//
// Tables: events (append-only, guarded by triggers), unique_constraints,
// subscription_checkpoints, event_chain, event_chain_heads,
// event_chain_checkpoints. Every row starts with its instance, except a
// link, which is keyed by its event's position.
package eventstore
