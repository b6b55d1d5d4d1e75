package eventstore

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
)

// Archives: the oldest stretch of an instance's events moved out of the
// database into a file, and back. See "Retention and archives" in
// docs/audit.md.
//
// An archive always ends at a signed checkpoint, so the file carries its
// own proof: its events relink from the link it starts after to the
// checkpoint's hash, whose signature only the server's key ring makes.
// The database keeps an anchor per instance — the last archived link — from
// which verification continues, and the last archived sequence of every
// aggregate whose events left, so that appends to it go on numbering.

// ArchiveFormat names version 1 of the archive file: gzip-compressed JSON
// Lines, a header, the events in chain order, then the checkpoints.
const ArchiveFormat = "castellan-event-archive/v1"

// maxArchiveLine bounds one line of an archive file read back.
const maxArchiveLine = 16 << 20

// ArchiveHeader is an archive file's first line.
type ArchiveHeader struct {
	Format     string `json:"format"`
	InstanceID string `json:"instanceId"`
	// After is the link the archive continues (count 0 and the genesis
	// hash for an instance's first archive); Until is the checkpoint it
	// ends at.
	After ArchiveLink       `json:"after"`
	Until ArchiveLink       `json:"until"`
	Range [2]time.Time      `json:"createdRange"`
	Keys  map[string][]byte `json:"publicKeys,omitempty"`
}

// ArchiveLink is a position in an instance's chain.
type ArchiveLink struct {
	Count    int64  `json:"count"`
	TxID     int64  `json:"txId"`
	Position int64  `json:"position"`
	Hash     []byte `json:"hash"`
}

// archivedEvent is one event line: every stored column and its link.
type archivedEvent struct {
	AggregateType string `json:"aggregateType"`
	AggregateID   string `json:"aggregateId"`
	Sequence      int64  `json:"sequence"`
	Owner         string `json:"owner"`
	Type          string `json:"type"`
	Version       int64  `json:"version"`
	Payload       string `json:"payload"`
	EditorUser    string `json:"editorUser"`
	EditorClient  string `json:"editorClient"`
	EditorSession string `json:"editorSession,omitempty"`
	EditorAddress string `json:"editorAddress,omitempty"` // stored form (address.go)
	CreatedAt     int64  `json:"createdAtMicros"`
	Personal      []byte `json:"personal,omitempty"`
	TxID          int64  `json:"txId"`
	Position      int64  `json:"position"`
	Link          []byte `json:"link"`
}

type archivedCheckpoint struct {
	Checkpoint ChainCheckpointJSON `json:"checkpoint"`
}

// ChainCheckpointJSON is a checkpoint as an archive file holds it.
type ChainCheckpointJSON struct {
	Count     int64  `json:"count"`
	TxID      int64  `json:"txId"`
	Position  int64  `json:"position"`
	Hash      []byte `json:"hash"`
	CreatedAt int64  `json:"createdAt"`
	KeyID     string `json:"keyId"`
	Signature []byte `json:"signature"`
}

// ArchiveResult tells what an archive moved.
type ArchiveResult struct {
	Header ArchiveHeader
	Events int64
}

// anchor returns an instance's last archived link, zero with the genesis
// hash when nothing is archived.
func anchor(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, instanceID string) (ArchiveLink, error) {
	a := ArchiveLink{Hash: genesis(instanceID)}
	err := q.QueryRowContext(ctx, `SELECT count, tx_id, position, hash FROM event_chain_anchors WHERE instance_id = $1`, instanceID).
		Scan(&a.Count, &a.TxID, &a.Position, &a.Hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("eventstore: read archive anchor: %w", err)
	}
	return a, nil
}

// Archive moves the oldest events of an instance — up to the last signed
// checkpoint whose event was created before before — into w as an archive
// file, after checking that they verify; then deletes them (and their
// links) from the database in one transaction. The read models are not
// touched. It returns a zero result when no checkpoint is old enough.
func (s *Store) Archive(ctx context.Context, instanceID string, before time.Time, signer ChainSigner, w io.Writer) (ArchiveResult, error) {
	if signer == nil {
		return ArchiveResult{}, errors.New("eventstore: archiving needs the checkpoint keys")
	}
	r := s.db.Reader()
	from, err := anchor(ctx, r, instanceID)
	if err != nil {
		return ArchiveResult{}, err
	}
	var until ChainCheckpoint
	var created int64
	err = r.QueryRowContext(ctx, `SELECT cp.count, cp.tx_id, cp.position, cp.hash, cp.created_at, cp.key_id, cp.signature
FROM event_chain_checkpoints cp JOIN events e ON e.position = cp.position
WHERE cp.instance_id = $1 AND cp.count > $2 AND e.created_at < $3 ORDER BY cp.count DESC LIMIT 1`,
		instanceID, from.Count, before.UnixMicro()).
		Scan(&until.Count, &until.Position.TxID, &until.Position.Global, &until.Hash, &created, &until.KeyID, &until.Signature)
	if errors.Is(err, sql.ErrNoRows) {
		return ArchiveResult{}, nil
	}
	if err != nil {
		return ArchiveResult{}, fmt.Errorf("eventstore: find the checkpoint to archive to: %w", err)
	}
	until.InstanceID, until.CreatedAt = instanceID, time.Unix(created, 0).UTC()
	if reason := verifySignature(until, signer); reason != "" {
		return ArchiveResult{}, failure.FailedPrecondition("cannot archive: %s", reason)
	}
	pub, err := signer.Public(until.KeyID)
	if err != nil {
		return ArchiveResult{}, err
	}
	hdr := ArchiveHeader{Format: ArchiveFormat, InstanceID: instanceID, After: from,
		Until: ArchiveLink{Count: until.Count, TxID: until.Position.TxID, Position: until.Position.Global, Hash: until.Hash},
		Keys:  map[string][]byte{until.KeyID: pub}}

	// Write the file from a read, outside any write transaction: events
	// never change, and the delete below checks it removes exactly what
	// was written.
	zw := gzip.NewWriter(w)
	enc := json.NewEncoder(zw)
	rows, err := r.QueryContext(ctx, `SELECT `+prefixed("e.", rawColumns)+`, c.hash FROM events e
LEFT JOIN event_chain c ON c.position = e.position
WHERE e.instance_id = $1 AND (e.tx_id > $2 OR (e.tx_id = $2 AND e.position > $3))
	AND (e.tx_id < $4 OR (e.tx_id = $4 AND e.position <= $5))
ORDER BY e.tx_id, e.position`, instanceID, from.TxID, from.Position, until.Position.TxID, until.Position.Global)
	if err != nil {
		return ArchiveResult{}, fmt.Errorf("eventstore: read events to archive: %w", err)
	}
	defer rows.Close()
	var lines []archivedEvent
	prev := from.Hash
	for rows.Next() {
		var (
			e    rawEvent
			link []byte
		)
		if err := e.scan(rows, &link); err != nil {
			return ArchiveResult{}, err
		}
		if link == nil || !bytes.Equal(linkHash(prev, e.leaf()), link) {
			return ArchiveResult{}, failure.FailedPrecondition("cannot archive: the chain is broken at position %d; run castellan audit verify", e.position.Global)
		}
		prev = link
		if len(lines) == 0 {
			hdr.Range[0] = time.UnixMicro(e.createdAt).UTC()
		}
		hdr.Range[1] = time.UnixMicro(e.createdAt).UTC()
		lines = append(lines, archivedEvent{AggregateType: e.aggregateType, AggregateID: e.aggregateID, Sequence: e.sequence, Owner: e.owner,
			Type: e.eventType, Version: e.version, Payload: e.payload, EditorUser: e.editorUser, EditorClient: e.editorClient,
			EditorSession: e.editorSession, EditorAddress: e.editorAddress, CreatedAt: e.createdAt, Personal: e.personal, TxID: e.position.TxID, Position: e.position.Global, Link: link})
	}
	if err := rows.Err(); err != nil {
		return ArchiveResult{}, fmt.Errorf("eventstore: read events to archive: %w", err)
	}
	rows.Close()
	n := int64(len(lines))
	if n != until.Count-from.Count || !bytes.Equal(prev, until.Hash) {
		return ArchiveResult{}, failure.FailedPrecondition("cannot archive: %d events lead to the checkpoint of link %d, want %d; run castellan audit verify", n, until.Count, until.Count-from.Count)
	}
	if err := enc.Encode(hdr); err != nil {
		return ArchiveResult{}, err
	}
	for i := range lines {
		if err := enc.Encode(&lines[i]); err != nil {
			return ArchiveResult{}, fmt.Errorf("eventstore: write archive: %w", err)
		}
	}
	cps, err := s.ChainCheckpoints(ctx, instanceID)
	if err != nil {
		return ArchiveResult{}, err
	}
	for _, cp := range cps {
		if cp.Count > from.Count && cp.Count <= until.Count {
			if err := enc.Encode(archivedCheckpoint{Checkpoint: checkpointJSON(cp)}); err != nil {
				return ArchiveResult{}, fmt.Errorf("eventstore: write archive: %w", err)
			}
		}
	}
	if err := zw.Close(); err != nil {
		return ArchiveResult{}, fmt.Errorf("eventstore: write archive: %w", err)
	}

	err = s.db.InTx(ctx, func(tx *database.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO events_archiving (instance_id) VALUES ($1)`, instanceID); err != nil {
			return fmt.Errorf("eventstore: mark archiving: %w", err)
		}
		rangeSQL := `instance_id = $1 AND (tx_id > $2 OR (tx_id = $2 AND position > $3)) AND (tx_id < $4 OR (tx_id = $4 AND position <= $5))`
		args := []any{instanceID, from.TxID, from.Position, until.Position.TxID, until.Position.Global}
		// The last archived sequence of each aggregate that leaves, for
		// appends that continue it (see Push).
		if _, err := tx.ExecContext(ctx, `INSERT INTO event_archived_sequences (instance_id, aggregate_type, aggregate_id, sequence)
SELECT instance_id, aggregate_type, aggregate_id, MAX(sequence) FROM events WHERE `+rangeSQL+`
GROUP BY instance_id, aggregate_type, aggregate_id
ON CONFLICT (instance_id, aggregate_type, aggregate_id) DO UPDATE SET sequence = excluded.sequence`, args...); err != nil {
			return fmt.Errorf("eventstore: record archived sequences: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM event_chain WHERE position IN (SELECT position FROM events WHERE `+rangeSQL+`)`, args...); err != nil {
			return fmt.Errorf("eventstore: delete archived links: %w", err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM events WHERE `+rangeSQL, args...)
		if err != nil {
			return fmt.Errorf("eventstore: delete archived events: %w", err)
		}
		if deleted, err := res.RowsAffected(); err != nil || deleted != n {
			return fmt.Errorf("eventstore: archiving deleted %d events, want %d (%v)", deleted, n, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO event_chain_anchors (instance_id, count, tx_id, position, hash) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (instance_id) DO UPDATE SET count = excluded.count, tx_id = excluded.tx_id, position = excluded.position, hash = excluded.hash`,
			instanceID, until.Count, until.Position.TxID, until.Position.Global, until.Hash); err != nil {
			return fmt.Errorf("eventstore: store archive anchor: %w", err)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM events_archiving WHERE instance_id = $1`, instanceID)
		return err
	})
	if err != nil {
		return ArchiveResult{}, err
	}
	return ArchiveResult{Header: hdr, Events: n}, nil
}

func checkpointJSON(cp ChainCheckpoint) ChainCheckpointJSON {
	return ChainCheckpointJSON{Count: cp.Count, TxID: cp.Position.TxID, Position: cp.Position.Global, Hash: cp.Hash,
		CreatedAt: cp.CreatedAt.Unix(), KeyID: cp.KeyID, Signature: cp.Signature}
}

// ArchiveFile is an archive read back and verified.
type ArchiveFile struct {
	Header      ArchiveHeader
	events      []rawEvent
	links       [][]byte
	Checkpoints int
}

// Events is how many events the file holds.
func (f *ArchiveFile) Events() int { return len(f.events) }

// ReadArchive reads an archive file and verifies it: every link relinks
// from the header's start, the last one is the checkpoint the header names,
// and every checkpoint's signature verifies with signer (or, without one,
// with the public keys the file itself carries — proof against accidents,
// not against a forger). A broken file fails with a ChainBreak naming the
// first broken link.
func ReadArchive(r io.Reader, signer ChainSigner) (*ArchiveFile, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, failure.InvalidArgument("archive", "not a gzip file: %v", err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 64<<10), maxArchiveLine)
	f := &ArchiveFile{}
	if !sc.Scan() {
		return nil, failure.InvalidArgument("archive", "empty archive (%v)", sc.Err())
	}
	if err := json.Unmarshal(sc.Bytes(), &f.Header); err != nil || f.Header.Format != ArchiveFormat {
		return nil, failure.InvalidArgument("archive", "not a %s file (header: %v)", ArchiveFormat, err)
	}
	h := f.Header
	if signer == nil {
		signer = fileKeys(h.Keys)
	}
	prev, count := h.After.Hash, h.After.Count
	var last rawEvent
	checkpoints := 0
	brk := func(pos Position, link int64, reason string, args ...any) error {
		return &ChainBreak{Position: pos, Link: link, Reason: fmt.Sprintf(reason, args...)}
	}
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.HasPrefix(line, []byte(`{"checkpoint":`)) {
			var c archivedCheckpoint
			if err := json.Unmarshal(line, &c); err != nil {
				return nil, failure.InvalidArgument("archive", "line %d: %v", count-h.After.Count+int64(checkpoints)+2, err)
			}
			cp := ChainCheckpoint{InstanceID: h.InstanceID, Count: c.Checkpoint.Count, Position: Position{TxID: c.Checkpoint.TxID, Global: c.Checkpoint.Position},
				Hash: c.Checkpoint.Hash, CreatedAt: time.Unix(c.Checkpoint.CreatedAt, 0).UTC(), KeyID: c.Checkpoint.KeyID, Signature: c.Checkpoint.Signature}
			if cp.Count <= h.After.Count || cp.Count > count {
				return nil, brk(cp.Position, cp.Count, "a checkpoint for link %d lies outside the archive's links %d..%d", cp.Count, h.After.Count+1, count)
			}
			if !bytes.Equal(f.links[cp.Count-h.After.Count-1], cp.Hash) || f.events[cp.Count-h.After.Count-1].position != cp.Position {
				return nil, brk(cp.Position, cp.Count, "the checkpoint of link %d names another event or hash: the archive was rewritten", cp.Count)
			}
			if reason := verifySignature(cp, signer); reason != "" {
				return nil, brk(cp.Position, cp.Count, "%s", reason)
			}
			checkpoints++
			continue
		}
		var a archivedEvent
		if err := json.Unmarshal(line, &a); err != nil {
			return nil, failure.InvalidArgument("archive", "line %d: %v", count-h.After.Count+2, err)
		}
		e := rawEvent{instanceID: h.InstanceID, aggregateType: a.AggregateType, aggregateID: a.AggregateID, owner: a.Owner, eventType: a.Type,
			sequence: a.Sequence, version: a.Version, payload: a.Payload, editorUser: a.EditorUser, editorClient: a.EditorClient,
			editorSession: a.EditorSession, editorAddress: a.EditorAddress, createdAt: a.CreatedAt, personal: a.Personal, position: Position{TxID: a.TxID, Global: a.Position}}
		count++
		if !bytes.Equal(linkHash(prev, e.leaf()), a.Link) {
			return nil, brk(e.position, count, "%s event %d of %s/%s does not match its link: it was altered, or an event before it was removed", e.eventType, e.sequence, e.aggregateType, e.aggregateID)
		}
		prev, last = a.Link, e
		f.events = append(f.events, e)
		f.links = append(f.links, a.Link)
	}
	if err := sc.Err(); err != nil {
		return nil, failure.InvalidArgument("archive", "unreadable: %v", err)
	}
	if count != h.Until.Count || !bytes.Equal(prev, h.Until.Hash) || last.position.Global != h.Until.Position {
		return nil, brk(last.position, count, "the archive ends at link %d, but its header says %d: events were removed", count, h.Until.Count)
	}
	if checkpoints == 0 {
		return nil, brk(last.position, count, "no signed checkpoint covers the archive")
	}
	f.Checkpoints = checkpoints
	return f, nil
}

// fileKeys verifies with the public keys an archive carries.
type fileKeys map[string][]byte

func (k fileKeys) Current() (string, ed25519.PrivateKey, error) {
	return "", nil, errors.New("eventstore: an archive's keys cannot sign")
}

func (k fileKeys) Public(id string) (ed25519.PublicKey, error) {
	if p, ok := k[id]; ok && len(p) == ed25519.PublicKeySize {
		return ed25519.PublicKey(p), nil
	}
	return nil, fmt.Errorf("no key %q", id)
}

// Restore loads a verified archive back into the database, for an
// investigation or before a rebuild: the events and their links return to
// their positions and the instance's anchor moves back to where the archive
// starts. Archives are restored newest first: the file must end where the
// instance's anchor is.
func (s *Store) Restore(ctx context.Context, f *ArchiveFile) error {
	h := f.Header
	return s.db.InTx(ctx, func(tx *database.Tx) error {
		at, err := anchor(ctx, tx, h.InstanceID)
		if err != nil {
			return err
		}
		if at.Count != h.Until.Count || !bytes.Equal(at.Hash, h.Until.Hash) {
			return failure.FailedPrecondition("the archive ends at link %d, but instance %s's archived events end at link %d: restore the newest archive first", h.Until.Count, h.InstanceID, at.Count)
		}
		insert := `INSERT INTO events (instance_id, aggregate_type, aggregate_id, sequence, owner, event_type, payload_version, payload,
	editor_user, editor_client, created_at, personal, tx_id, position, editor_session, editor_address) `
		if tx.Dialect == database.Postgres {
			insert += `OVERRIDING SYSTEM VALUE `
		}
		insert += `VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`
		for i, e := range f.events {
			if _, err := tx.ExecContext(ctx, insert, e.instanceID, e.aggregateType, e.aggregateID, e.sequence, e.owner, e.eventType, e.version, e.payload,
				e.editorUser, e.editorClient, e.createdAt, e.personal, e.position.TxID, e.position.Global, e.editorSession, e.editorAddress); err != nil {
				return fmt.Errorf("eventstore: restore event %d: %w", e.position.Global, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO event_chain (position, hash) VALUES ($1, $2)`, e.position.Global, f.links[i]); err != nil {
				return fmt.Errorf("eventstore: restore link %d: %w", e.position.Global, err)
			}
		}
		if h.After.Count == 0 {
			_, err = tx.ExecContext(ctx, `DELETE FROM event_chain_anchors WHERE instance_id = $1`, h.InstanceID)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE event_chain_anchors SET count = $1, tx_id = $2, position = $3, hash = $4 WHERE instance_id = $5`,
				h.After.Count, h.After.TxID, h.After.Position, h.After.Hash, h.InstanceID)
		}
		if err != nil {
			return fmt.Errorf("eventstore: move archive anchor: %w", err)
		}
		return nil
	})
}

// errArchived refuses to rebuild a read model while events are archived.
func checkNothingArchived(ctx context.Context, tx *database.Tx) error {
	var inst string
	var count int64
	err := tx.QueryRowContext(ctx, `SELECT instance_id, count FROM event_chain_anchors ORDER BY instance_id LIMIT 1`).Scan(&inst, &count)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("eventstore: read archive anchors: %w", err)
	}
	return failure.FailedPrecondition("the first %d events of instance %s are archived, and a read model rebuilt without them would be wrong: restore the archives (castellan audit restore FILE, newest first), rebuild, then archive again", count, inst)
}

// ArchivedSequence returns the last archived sequence of an aggregate whose
// events have all been archived, 0 when none were or some are still here.
// Readers that fold an aggregate's whole history (time travel) use it, with
// the first sequence they read, to refuse an answer that archived events
// would change.
func (s *Store) ArchivedSequence(ctx context.Context, a Aggregate) (int64, error) {
	var seq int64
	err := s.db.Reader().QueryRowContext(ctx, `SELECT sequence FROM event_archived_sequences
WHERE instance_id = $1 AND aggregate_type = $2 AND aggregate_id = $3`, a.InstanceID, a.Type, a.ID).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("eventstore: read archived sequence: %w", err)
	}
	return seq, nil
}

// ArchivedCount returns how many of an instance's first events are
// archived, 0 when none are.
func (s *Store) ArchivedCount(ctx context.Context, instanceID string) (int64, error) {
	a, err := anchor(ctx, s.db.Reader(), instanceID)
	return a.Count, err
}
