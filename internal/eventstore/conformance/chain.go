package conformance

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/keyring"
)

func newSigner(t *testing.T) eventstore.ChainSigner {
	t.Helper()
	k, err := keyring.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keyring.New(k)
	if err != nil {
		t.Fatal(err)
	}
	return eventstore.KeyRingSigner(ring)
}

// pushThings appends n events to each of the given things, one append per
// event, as separate commands would.
func pushThings(t *testing.T, s *eventstore.Store, instance string, things []string, n int) {
	t.Helper()
	for _, id := range things {
		push(t, s, alice, eventstore.Append{Aggregate: thing(instance, id), Events: []eventstore.Payload{&thingAdded{Name: id}}})
		for i := 1; i < n; i++ {
			push(t, s, bob, eventstore.Append{Aggregate: thing(instance, id), ExpectedSequence: eventstore.AnySequence, Events: []eventstore.Payload{&thingTicked{N: i}}})
		}
	}
}

// catchUpChain links every event appended so far. On PostgreSQL it first
// waits until they have all settled: a transaction in flight anywhere in
// the cluster (another test's) holds back what the chainer may link.
func catchUpChain(t *testing.T, c *eventstore.Chain) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		all, err := c.Store.Query(ctx, eventstore.Filter{AllInstances: true})
		if err != nil {
			t.Fatal(err)
		}
		settled, err := c.Store.Query(ctx, eventstore.Filter{AllInstances: true, Settled: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(settled) == len(all) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	n, err := c.CatchUp(ctx)
	if err != nil {
		t.Fatalf("chain: %v", err)
	}
	return n
}

func verify(t *testing.T, s *eventstore.Store, instance string, signer eventstore.ChainSigner) eventstore.ChainReport {
	t.Helper()
	rep, err := s.VerifyChain(ctx, instance, signer, nil)
	if err != nil {
		t.Fatalf("verify %s: %v", instance, err)
	}
	return rep
}

// tamper runs stmt with the immutability triggers out of the way, as an
// attacker with write access to the database could.
func tamper(t *testing.T, db *database.DB, stmt string, args ...any) {
	t.Helper()
	err := db.InTx(ctx, func(tx *database.Tx) error {
		if tx.Dialect == database.SQLite {
			for _, trig := range []string{"events_no_update", "events_no_delete", "event_chain_no_update", "event_chain_checkpoints_no_update"} {
				if _, err := tx.ExecContext(ctx, `DROP TRIGGER IF EXISTS `+trig); err != nil {
					return err
				}
			}
		} else {
			for _, table := range []string{"events", "event_chain", "event_chain_checkpoints"} {
				if _, err := tx.ExecContext(ctx, `ALTER TABLE `+table+` DISABLE TRIGGER USER`); err != nil {
					return err
				}
			}
		}
		_, err := tx.ExecContext(ctx, stmt, args...)
		return err
	})
	if err != nil {
		t.Fatalf("tamper %q: %v", stmt, err)
	}
}

func testChainVerifies(t *testing.T, h *harness) {
	signer := newSigner(t)
	chain := &eventstore.Chain{Store: h.store, Signer: signer, CheckpointEvery: 7}
	pushThings(t, h.store, "inst-1", []string{"a", "b", "c"}, 6)
	pushThings(t, h.store, "inst-2", []string{"x"}, 4)
	if n := catchUpChain(t, chain); n != 22 {
		t.Fatalf("chained %d events, want 22", n)
	}
	pushThings(t, h.store, "inst-1", []string{"d"}, 3)
	if n := catchUpChain(t, chain); n != 3 {
		t.Fatalf("chained %d events, want the 3 new ones", n)
	}
	if n := catchUpChain(t, chain); n != 0 {
		t.Fatalf("chained %d events again", n)
	}
	rep := verify(t, h.store, "inst-1", signer)
	if rep.Break != nil || rep.Events != 21 || rep.Unchained != 0 {
		t.Fatalf("inst-1: %+v (break %v), want 21 verified events", rep, rep.Break)
	}
	// 21 events with a checkpoint every 7: at 7, 14 and 21.
	if rep.Checkpoints != 3 {
		t.Fatalf("inst-1: %d checkpoints verified, want 3", rep.Checkpoints)
	}
	if rep := verify(t, h.store, "inst-2", signer); rep.Break != nil || rep.Events != 4 || rep.Checkpoints != 0 {
		t.Fatalf("inst-2: %+v (break %v)", rep, rep.Break)
	}
	// Once the newest unsigned link is old enough, it is signed too.
	h.clock.Set(h.clock.Now().Add(2 * 60e9))
	catchUpChain(t, chain)
	if rep := verify(t, h.store, "inst-2", signer); rep.Break != nil || rep.Checkpoints != 1 {
		t.Fatalf("inst-2 after a quiet minute: %+v (break %v), want one checkpoint", rep, rep.Break)
	}
	// Events the chainer has not reached are reported, not failed.
	pushThings(t, h.store, "inst-2", []string{"y"}, 2)
	if rep := verify(t, h.store, "inst-2", signer); rep.Break != nil || rep.Unchained != 2 {
		t.Fatalf("inst-2 with new events: %+v (break %v), want 2 unchained", rep, rep.Break)
	}
	// A verifier holding another key finds the checkpoints forged.
	if rep := verify(t, h.store, "inst-1", newSigner(t)); rep.Break == nil || !strings.Contains(rep.Break.Reason, "lacks") {
		t.Fatalf("verified with a foreign key ring: %+v", rep.Break)
	}
}

func testChainTampering(t *testing.T, backend dbtest.Backend) {
	type setup struct {
		h      *harness
		signer eventstore.ChainSigner
		events []eventstore.Event
	}
	prepare := func(t *testing.T, h *harness) setup {
		signer := newSigner(t)
		pushThings(t, h.store, "inst-1", []string{"a", "b"}, 5)
		catchUpChain(t, &eventstore.Chain{Store: h.store, Signer: signer, CheckpointEvery: 4})
		all, err := h.store.Query(ctx, eventstore.Filter{InstanceID: "inst-1"})
		if err != nil || len(all) != 10 {
			t.Fatalf("events: %d, %v", len(all), err)
		}
		return setup{h: h, signer: signer, events: all}
	}
	tests := []struct {
		name string
		// change tampers and returns the link (1-based) where the break
		// must be reported and a word the reason must hold.
		change func(t *testing.T, s setup) (link int64, reason string)
	}{
		{"an altered payload", func(t *testing.T, s setup) (int64, string) {
			tamper(t, s.h.db, `UPDATE events SET payload = '{"n":99}' WHERE position = $1`, s.events[5].Position.Global)
			return 6, "altered"
		}},
		{"an altered editor", func(t *testing.T, s setup) (int64, string) {
			tamper(t, s.h.db, `UPDATE events SET editor_user = 'mallory' WHERE position = $1`, s.events[2].Position.Global)
			return 3, "altered"
		}},
		{"an altered editor address", func(t *testing.T, s setup) (int64, string) {
			tamper(t, s.h.db, `UPDATE events SET editor_address = '00000000000000000000ffff01020304' WHERE position = $1`, s.events[4].Position.Global)
			return 5, "altered"
		}},
		{"an erased editor session", func(t *testing.T, s setup) (int64, string) {
			tamper(t, s.h.db, `UPDATE events SET editor_session = '', editor_address = '' WHERE position = $1`, s.events[1].Position.Global)
			return 2, "altered"
		}},
		{"an editor session given to an event without one", func(t *testing.T, s setup) (int64, string) {
			tamper(t, s.h.db, `UPDATE events SET editor_session = 'sess-x' WHERE position = $1`, s.events[5].Position.Global)
			return 6, "altered"
		}},
		{"a removed event", func(t *testing.T, s setup) (int64, string) {
			tamper(t, s.h.db, `DELETE FROM events WHERE position = $1`, s.events[3].Position.Global)
			return 4, "removed" // the event after it no longer follows its predecessor
		}},
		{"a removed link", func(t *testing.T, s setup) (int64, string) {
			tamper(t, s.h.db, `DELETE FROM event_chain WHERE position = $1`, s.events[7].Position.Global)
			return 8, "no link"
		}},
		{"an event inserted behind the chain", func(t *testing.T, s setup) (int64, string) {
			e := s.events[4]
			tamper(t, s.h.db, `INSERT INTO events (instance_id, aggregate_type, aggregate_id, sequence, owner, event_type, payload_version, payload, editor_user, editor_client, created_at, tx_id)
VALUES ('inst-1', 'thing', 'forged', 1, '', 'thing.added', 1, '{"name":"forged"}', 'mallory', '', 0, $1)`, e.Position.TxID)
			return 6, "no link"
		}},
		{"the last events removed", func(t *testing.T, s setup) (int64, string) {
			tamper(t, s.h.db, `DELETE FROM events WHERE position >= $1`, s.events[6].Position.Global)
			return 8, "removed" // the checkpoint of link 8 covers more than is left
		}},
		{"the unsigned tail removed", func(t *testing.T, s setup) (int64, string) {
			tamper(t, s.h.db, `DELETE FROM events WHERE position = $1`, s.events[9].Position.Global)
			return 10, "removed" // no checkpoint covers link 10 yet; the chain's head does
		}},
		{"a stretch rewritten with consistent links", func(t *testing.T, s setup) (int64, string) {
			tamper(t, s.h.db, `UPDATE events SET payload = '{"n":42}' WHERE position = $1`, s.events[1].Position.Global)
			// Relink everything from the start, as an attacker who knows the
			// scheme but not the signing key would.
			tamper(t, s.h.db, `DELETE FROM event_chain`)
			tamper(t, s.h.db, `DELETE FROM event_chain_heads`)
			tamper(t, s.h.db, `UPDATE subscription_checkpoints SET tx_id = 0, position = 0 WHERE name = 'eventstore/chain'`)
			catchUpChain(t, &eventstore.Chain{Store: s.h.store})
			return 4, "rewritten" // the first signed checkpoint covers links 1..4
		}},
		{"a forged checkpoint", func(t *testing.T, s setup) (int64, string) {
			tamper(t, s.h.db, `UPDATE event_chain_checkpoints SET created_at = created_at + 1 WHERE count = 8`)
			return 8, "does not verify"
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := prepare(t, newHarness(t, backend.New(t), &thingsProjection{}))
			if rep := verify(t, s.h.store, "inst-1", s.signer); rep.Break != nil {
				t.Fatalf("before tampering: %v", rep.Break)
			}
			link, reason := tc.change(t, s)
			rep := verify(t, s.h.store, "inst-1", s.signer)
			if rep.Break == nil {
				t.Fatalf("tampering not found: %+v", rep)
			}
			if rep.Break.Link != link || !strings.Contains(rep.Break.Reason, reason) {
				t.Fatalf("break at link %d: %s; want link %d with %q", rep.Break.Link, rep.Break.Reason, link, reason)
			}
			t.Logf("found: %v", rep.Break)
		})
	}
}

// testChainConcurrentWriters appends from two processes while both run the
// chainer: every event is linked exactly once, in an order that verifies.
func testChainConcurrentWriters(t *testing.T, h *harness) {
	other := h.another(t, &thingsProjection{})
	signer := newSigner(t)
	const writers, perWriter = 4, 30
	var wg, chainers sync.WaitGroup
	done := make(chan struct{})
	for _, s := range []*eventstore.Store{h.store, other.store} {
		chainers.Go(func() {
			c := &eventstore.Chain{Store: s, Signer: signer, CheckpointEvery: 10}
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := c.CatchUp(ctx); err != nil {
					t.Errorf("chain: %v", err)
					return
				}
			}
		})
	}
	for w := range writers {
		s := []*eventstore.Store{h.store, other.store}[w%2]
		wg.Go(func() {
			for i := range perWriter {
				var p eventstore.Payload = &thingTicked{N: i}
				if i == 0 {
					p = &thingAdded{Name: "writer"}
				}
				if _, err := s.Push(ctx, alice, eventstore.Append{Aggregate: thing("inst-1", "w"+string(rune('a'+w))), ExpectedSequence: eventstore.AnySequence,
					Events: []eventstore.Payload{p}}); err != nil {
					t.Errorf("push: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	chainers.Wait()
	catchUpChain(t, &eventstore.Chain{Store: h.store, Signer: signer, CheckpointEvery: 10})
	rep := verify(t, h.store, "inst-1", signer)
	if rep.Break != nil || rep.Events != writers*perWriter || rep.Unchained != 0 || rep.Checkpoints < writers*perWriter/10 {
		t.Fatalf("after concurrent writers: %+v (break %v)", rep, rep.Break)
	}
}

// testArchive moves the oldest events into an archive file and back: the
// read models are unaffected, the chain still verifies from the archive's
// anchor, appends to an archived aggregate go on numbering, a tampered
// file is refused, rebuilds wait for a restore, and a restore gives the
// log back as it was.
func testArchive(t *testing.T, h *harness) {
	signer := newSigner(t)
	chain := &eventstore.Chain{Store: h.store, Signer: signer, CheckpointEvery: 4}
	start := h.clock.Now()
	pushThings(t, h.store, "inst-1", []string{"a", "b"}, 5) // links 1-5 of a, 6-10 of b
	pushThings(t, h.store, "inst-2", []string{"z"}, 3)
	catchUpChain(t, chain)
	h.clock.Set(start.Add(400 * 24 * time.Hour))
	pushThings(t, h.store, "inst-1", []string{"c"}, 2)
	catchUpChain(t, chain)
	rows := dumpThings(t, h.db)

	var file bytes.Buffer
	res, err := h.store.Archive(ctx, "inst-1", start.Add(24*time.Hour), signer, &file)
	if err != nil {
		t.Fatal(err)
	}
	// The newest checkpoint of an event created before the cut is link 8.
	if res.Events != 8 || res.Header.Until.Count != 8 {
		t.Fatalf("archived %d events up to link %d, want 8", res.Events, res.Header.Until.Count)
	}
	if got := dumpThings(t, h.db); !slices.Equal(got, rows) {
		t.Fatalf("read models changed by archiving:\n%v\n%v", rows, got)
	}
	left, err := h.store.Query(ctx, eventstore.Filter{InstanceID: "inst-1"})
	if err != nil || len(left) != 4 {
		t.Fatalf("%d events left in inst-1, want 4: %v", len(left), err)
	}
	if rep := verify(t, h.store, "inst-1", signer); rep.Break != nil || rep.Archived != 8 || rep.Events != 4 {
		t.Fatalf("verify after archiving: %+v (break %v)", rep, rep.Break)
	}
	if rep := verify(t, h.store, "inst-2", signer); rep.Break != nil || rep.Events != 3 {
		t.Fatalf("another instance: %+v (break %v)", rep, rep.Break)
	}
	// Nothing more is old enough: a second archive moves nothing.
	var empty bytes.Buffer
	if res, err := h.store.Archive(ctx, "inst-1", start.Add(24*time.Hour), signer, &empty); err != nil || res.Events != 0 {
		t.Fatalf("second archive: %+v %v", res, err)
	}
	// Thing a's events all left; it goes on at sequence 6.
	push(t, h.store, alice, eventstore.Append{Aggregate: thing("inst-1", "a"), ExpectedSequence: 5, Events: []eventstore.Payload{&thingTicked{N: 6}}})
	if _, err := h.store.Push(ctx, alice, eventstore.Append{Aggregate: thing("inst-1", "a"), ExpectedSequence: eventstore.NewAggregate,
		Events: []eventstore.Payload{&thingAdded{Name: "again"}}}); !errors.Is(err, eventstore.ErrConcurrentModification) {
		t.Fatalf("re-creating an archived aggregate: %v", err)
	}
	catchUpChain(t, chain)
	if _, err := h.store.Rebuild(ctx, "things"); !failure.Is(err, failure.KindFailedPrecondition) {
		t.Fatalf("rebuild with archived events: %v", err)
	}

	f, err := eventstore.ReadArchive(bytes.NewReader(file.Bytes()), signer)
	if err != nil || f.Events() != 8 || f.Checkpoints != 2 {
		t.Fatalf("read archive: %v (%d events, %d checkpoints)", err, f.Events(), f.Checkpoints)
	}
	if _, err := eventstore.ReadArchive(bytes.NewReader(file.Bytes()), newSigner(t)); err == nil {
		t.Fatal("an archive verified with a foreign key ring")
	}
	if _, err := eventstore.ReadArchive(bytes.NewReader(file.Bytes()), nil); err != nil {
		t.Fatalf("an archive verified with its own public keys: %v", err)
	}
	// A tampered archive is refused at the altered event.
	tampered := regzip(t, file.Bytes(), func(s string) string { return strings.Replace(s, `"payload":"{\"n\":3}"`, `"payload":"{\"n\":30}"`, 1) })
	var brk *eventstore.ChainBreak
	if _, err := eventstore.ReadArchive(bytes.NewReader(tampered), signer); !errors.As(err, &brk) || brk.Link != 4 {
		t.Fatalf("tampered archive: %v", err)
	}
	dropped := regzip(t, file.Bytes(), func(s string) string {
		lines := strings.SplitAfter(s, "\n")
		return strings.Join(append(lines[:8:8], lines[9:]...), "") // the 8th event
	})
	if _, err := eventstore.ReadArchive(bytes.NewReader(dropped), signer); !errors.As(err, &brk) {
		t.Fatalf("archive without its last event: %v", err)
	}

	if err := h.store.Restore(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := h.store.Restore(ctx, f); !failure.Is(err, failure.KindFailedPrecondition) {
		t.Fatalf("restoring twice: %v", err)
	}
	if rep := verify(t, h.store, "inst-1", signer); rep.Break != nil || rep.Archived != 0 || rep.Events != 13 {
		t.Fatalf("verify after restoring: %+v (break %v)", rep, rep.Break)
	}
	before := dumpThings(t, h.db)
	if _, err := h.store.Rebuild(ctx, "things"); err != nil {
		t.Fatalf("rebuild after restoring: %v", err)
	}
	if got := dumpThings(t, h.db); !slices.Equal(got, before) {
		t.Fatalf("rebuilt rows differ:\n%v\n%v", before, got)
	}
}

// regzip decompresses an archive, edits it and compresses it again.
func regzip(t *testing.T, gz []byte, edit func(string) string) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	changed := edit(string(plain))
	if changed == string(plain) {
		t.Fatal("the edit changed nothing")
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write([]byte(changed))
	zw.Close()
	return out.Bytes()
}
