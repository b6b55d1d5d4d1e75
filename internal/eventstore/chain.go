package eventstore

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
)

// The hash chain (tamper evidence). See "Tamper evidence" in doc.go.

// chainName is the chain's row in subscription_checkpoints: how far the
// log has been chained.
const chainName = "eventstore/chain"

// chainBatch is the most events one chaining transaction links.
const chainBatch = 1000

// Checkpoint policy: a signed checkpoint of an instance's chain head after
// CheckpointEvery events, or once the newest unsigned link is older than
// CheckpointAfter.
const (
	defaultCheckpointEvery = 10000
	defaultCheckpointAfter = time.Minute
)

// ChainSigner signs the chain's checkpoints with Ed25519 keys that only the
// server holds (KeyRingSigner derives them from the key ring), so that
// whoever can write the database can still not rewrite a signed stretch of
// the chain consistently.
type ChainSigner interface {
	// Current returns the id and private key that sign new checkpoints.
	Current() (keyID string, key ed25519.PrivateKey, err error)
	// Public returns the public key named keyID, for verification.
	Public(keyID string) (ed25519.PublicKey, error)
}

// keyDeriver is the part of keyring.Ring that KeyRingSigner uses.
type keyDeriver interface {
	CurrentID() string
	DeriveKey(id, purpose string) ([]byte, error)
}

// chainKeyPurpose names the key ring derivation of checkpoint keys.
const chainKeyPurpose = "castellan/eventstore/chain-checkpoint"

// KeyRingSigner signs checkpoints with an Ed25519 key derived from the key
// ring's current key (keyring.Ring.DeriveKey); a checkpoint names the ring
// key it was derived from, so checkpoints signed before a rotation verify
// while the retired key stays in the ring.
func KeyRingSigner(ring keyDeriver) ChainSigner { return ringSigner{ring} }

type ringSigner struct{ ring keyDeriver }

func (s ringSigner) private(id string) (ed25519.PrivateKey, error) {
	seed, err := s.ring.DeriveKey(id, chainKeyPurpose)
	if err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

func (s ringSigner) Current() (string, ed25519.PrivateKey, error) {
	id := s.ring.CurrentID()
	k, err := s.private(id)
	return id, k, err
}

func (s ringSigner) Public(id string) (ed25519.PublicKey, error) {
	k, err := s.private(id)
	if err != nil {
		return nil, err
	}
	return k.Public().(ed25519.PublicKey), nil
}

// Chain links settled events into their instance's hash chain and signs
// checkpoints. One Chain per process; of several replicas, one at a time
// advances the chain (the others skip a round), like a Subscription.
type Chain struct {
	Store  *Store
	Signer ChainSigner
	// CheckpointEvery and CheckpointAfter override the checkpoint policy
	// (10,000 events; one minute).
	CheckpointEvery int64
	CheckpointAfter time.Duration
}

func (c *Chain) every() int64 {
	if c.CheckpointEvery > 0 {
		return c.CheckpointEvery
	}
	return defaultCheckpointEvery
}

func (c *Chain) after() time.Duration {
	if c.CheckpointAfter > 0 {
		return c.CheckpointAfter
	}
	return defaultCheckpointAfter
}

// Run advances the chain until ctx is done, waking on every local append
// and at least every poll interval.
func (c *Chain) Run(ctx context.Context, poll time.Duration, log *slog.Logger) {
	c.Store.Follow(ctx, poll, func(ctx context.Context) error {
		_, err := c.CatchUp(ctx)
		if err != nil && ctx.Err() == nil {
			logOrDefault(log).Error("could not extend the event hash chain; retrying", "err", err)
		}
		return err
	})
}

// CatchUp links every settled event not yet in the chain, signs the
// checkpoints that are due, and returns how many events it linked.
func (c *Chain) CatchUp(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := c.advance(ctx)
		total += n
		if errors.Is(err, errCheckpointBusy) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		if n < chainBatch {
			return total, c.signDue(ctx)
		}
	}
}

// chainHead is an instance's last link: how many events its chain holds and
// the hash of the last one. The table is a cache for the chainer;
// verification recomputes everything from the events.
type chainHead struct {
	count       int64
	hash        []byte
	position    Position
	signedCount int64
	// unsignedSince is when the first link after the last checkpoint was
	// made (unix seconds); 0 when every link is signed.
	unsignedSince int64
}

func (c *Chain) advance(ctx context.Context) (int, error) {
	s := c.Store
	n := 0
	err := s.db.InTx(ctx, func(tx *database.Tx) error {
		n = 0
		if _, err := tx.ExecContext(ctx, `INSERT INTO subscription_checkpoints (name, tx_id, position, updated_at)
VALUES ($1, 0, 0, $2) ON CONFLICT (name) DO NOTHING`, chainName, s.now().Unix()); err != nil {
			return fmt.Errorf("eventstore: create chain checkpoint: %w", err)
		}
		var from Position
		err := tx.QueryRowContext(ctx, lockCheckpointSQL(tx.Dialect), chainName).Scan(&from.TxID, &from.Global)
		if errors.Is(err, sql.ErrNoRows) {
			return errCheckpointBusy
		}
		if err != nil {
			return fmt.Errorf("eventstore: read chain checkpoint: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+rawColumns+` FROM events
WHERE (tx_id > $1 OR (tx_id = $1 AND position > $2)) AND `+settledSQL(tx.Dialect)+`
ORDER BY tx_id, position LIMIT $3`, from.TxID, from.Global, chainBatch)
		if err != nil {
			return fmt.Errorf("eventstore: read events to chain: %w", err)
		}
		var batch []rawEvent
		for rows.Next() {
			var r rawEvent
			if err := r.scan(rows); err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, r)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("eventstore: read events to chain: %w", err)
		}
		if len(batch) == 0 {
			return nil
		}
		heads := map[string]*chainHead{}
		var sign func(ChainCheckpoint) error
		links := make([]any, 0, 2*len(batch))
		for _, r := range batch {
			h, ok := heads[r.instanceID]
			if !ok {
				if h, err = readHead(ctx, tx, r.instanceID); err != nil {
					return err
				}
				heads[r.instanceID] = h
			}
			if h.unsignedSince == 0 {
				h.unsignedSince = s.now().Unix() // the first unsigned link starts the clock
			}
			h.hash = linkHash(h.hash, r.leaf())
			h.count++
			h.position = r.position
			links = append(links, r.position.Global, h.hash)
			if c.Signer == nil || h.count-h.signedCount < c.every() {
				continue
			}
			// Every CheckpointEvery links of an instance, whatever the
			// batches, a checkpoint.
			if sign == nil {
				if sign, err = c.signer(ctx, tx); err != nil {
					return err
				}
			}
			if err := sign(ChainCheckpoint{InstanceID: r.instanceID, Count: h.count, Position: h.position, Hash: h.hash}); err != nil {
				return err
			}
			h.signedCount, h.unsignedSince = h.count, 0
		}
		if err := insertLinks(ctx, tx, links); err != nil {
			return err
		}
		for inst, h := range heads {
			if _, err := tx.ExecContext(ctx, `INSERT INTO event_chain_heads (instance_id, count, hash, tx_id, position, signed_count, unsigned_since)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (instance_id) DO UPDATE SET count = excluded.count, hash = excluded.hash, tx_id = excluded.tx_id,
	position = excluded.position, signed_count = excluded.signed_count, unsigned_since = excluded.unsigned_since`,
				inst, h.count, h.hash, h.position.TxID, h.position.Global, h.signedCount, h.unsignedSince); err != nil {
				return fmt.Errorf("eventstore: store chain head of %s: %w", inst, err)
			}
		}
		to := batch[len(batch)-1].position
		if _, err := tx.ExecContext(ctx, `UPDATE subscription_checkpoints SET tx_id = $1, position = $2, updated_at = $3 WHERE name = $4`,
			to.TxID, to.Global, s.now().Unix(), chainName); err != nil {
			return fmt.Errorf("eventstore: advance chain checkpoint: %w", err)
		}
		n = len(batch)
		return nil
	})
	return n, err
}

// insertLinks stores links, given as position and hash pairs, a few
// hundred rows per statement.
func insertLinks(ctx context.Context, tx *database.Tx, links []any) error {
	const perStatement = 250
	for len(links) > 0 {
		n := min(len(links)/2, perStatement)
		var q strings.Builder
		q.WriteString(`INSERT INTO event_chain (position, hash) VALUES `)
		for i := range n {
			if i > 0 {
				q.WriteString(", ")
			}
			fmt.Fprintf(&q, "($%d, $%d)", 2*i+1, 2*i+2)
		}
		if _, err := tx.ExecContext(ctx, q.String(), links[:2*n]...); err != nil {
			return fmt.Errorf("eventstore: link events: %w", err)
		}
		links = links[2*n:]
	}
	return nil
}

// readHead returns an instance's chain head, or the genesis of a chain
// that has no link yet.
func readHead(ctx context.Context, tx *database.Tx, instanceID string) (*chainHead, error) {
	h := &chainHead{}
	err := tx.QueryRowContext(ctx, `SELECT count, hash, tx_id, position, signed_count, unsigned_since FROM event_chain_heads WHERE instance_id = $1`, instanceID).
		Scan(&h.count, &h.hash, &h.position.TxID, &h.position.Global, &h.signedCount, &h.unsignedSince)
	if errors.Is(err, sql.ErrNoRows) {
		return &chainHead{hash: genesis(instanceID)}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("eventstore: read chain head of %s: %w", instanceID, err)
	}
	return h, nil
}

// signDue signs a checkpoint of every chain head with CheckpointEvery
// unsigned links, or whose oldest unsigned link is CheckpointAfter old.
func (c *Chain) signDue(ctx context.Context) error {
	if c.Signer == nil {
		return nil
	}
	s := c.Store
	now := s.now()
	return s.db.InTx(ctx, func(tx *database.Tx) error {
		// The chain's checkpoint row serializes signers across replicas.
		var p Position
		err := tx.QueryRowContext(ctx, lockCheckpointSQL(tx.Dialect), chainName).Scan(&p.TxID, &p.Global)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // another replica holds it
		}
		if err != nil {
			return fmt.Errorf("eventstore: lock chain checkpoint: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT instance_id, count, hash, tx_id, position FROM event_chain_heads
WHERE count > signed_count AND (count - signed_count >= $1 OR unsigned_since <= $2) ORDER BY instance_id`,
			c.every(), now.Add(-c.after()).Unix())
		if err != nil {
			return fmt.Errorf("eventstore: read chain heads: %w", err)
		}
		var due []ChainCheckpoint
		for rows.Next() {
			var cp ChainCheckpoint
			if err := rows.Scan(&cp.InstanceID, &cp.Count, &cp.Hash, &cp.Position.TxID, &cp.Position.Global); err != nil {
				rows.Close()
				return fmt.Errorf("eventstore: read chain heads: %w", err)
			}
			due = append(due, cp)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("eventstore: read chain heads: %w", err)
		}
		if len(due) == 0 {
			return nil
		}
		sign, err := c.signer(ctx, tx)
		if err != nil {
			return err
		}
		for _, cp := range due {
			if err := sign(cp); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE event_chain_heads SET signed_count = $1, unsigned_since = 0 WHERE instance_id = $2`, cp.Count, cp.InstanceID); err != nil {
				return fmt.Errorf("eventstore: store chain head of %s: %w", cp.InstanceID, err)
			}
		}
		return nil
	})
}

// signer returns a function that signs a checkpoint with the current key
// and stores it in tx.
func (c *Chain) signer(ctx context.Context, tx *database.Tx) (func(ChainCheckpoint) error, error) {
	keyID, key, err := c.Signer.Current()
	if err != nil {
		return nil, fmt.Errorf("eventstore: checkpoint signing key: %w", err)
	}
	now := c.Store.now().UTC().Truncate(time.Second)
	return func(cp ChainCheckpoint) error {
		cp.CreatedAt, cp.KeyID = now, keyID
		cp.Signature = ed25519.Sign(key, cp.message())
		if _, err := tx.ExecContext(ctx, `INSERT INTO event_chain_checkpoints (instance_id, count, tx_id, position, hash, created_at, key_id, signature)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, cp.InstanceID, cp.Count, cp.Position.TxID, cp.Position.Global, cp.Hash, cp.CreatedAt.Unix(), cp.KeyID, cp.Signature); err != nil {
			return fmt.Errorf("eventstore: store chain checkpoint of %s: %w", cp.InstanceID, err)
		}
		return nil
	}, nil
}

// ChainCheckpoint is a signed statement that an instance's chain held Count
// events up to Position, the last of them with Hash.
type ChainCheckpoint struct {
	InstanceID string
	Count      int64
	Position   Position
	Hash       []byte
	CreatedAt  time.Time
	KeyID      string
	Signature  []byte
}

// message is what a checkpoint's signature covers.
func (cp ChainCheckpoint) message() []byte {
	var b []byte
	b = appendField(b, []byte("castellan/eventstore/chain-checkpoint/v1"))
	b = appendField(b, []byte(cp.InstanceID))
	b = binary.BigEndian.AppendUint64(b, uint64(cp.Count))
	b = binary.BigEndian.AppendUint64(b, uint64(cp.Position.TxID))
	b = binary.BigEndian.AppendUint64(b, uint64(cp.Position.Global))
	b = appendField(b, cp.Hash)
	b = binary.BigEndian.AppendUint64(b, uint64(cp.CreatedAt.Unix()))
	b = appendField(b, []byte(cp.KeyID))
	return b
}

// rawEvent is an event row as stored: the bytes the chain covers, which
// include the sealed form of personal data (so erasing a subject's key
// leaves the chain verifiable) and not what a payload decodes to.
type rawEvent struct {
	instanceID, aggregateType, aggregateID, owner, eventType string
	sequence                                                 int64
	version                                                  int64
	payload                                                  string
	editorUser, editorClient                                 string
	editorSession, editorAddress                             string
	createdAt                                                int64
	personal                                                 []byte
	position                                                 Position
}

const rawColumns = `instance_id, aggregate_type, aggregate_id, sequence, owner, event_type, payload_version,
	payload, editor_user, editor_client, created_at, personal, tx_id, position, editor_session, editor_address`

type scanner interface{ Scan(dest ...any) error }

func (r *rawEvent) scan(s scanner, extra ...any) error {
	dest := []any{&r.instanceID, &r.aggregateType, &r.aggregateID, &r.sequence, &r.owner, &r.eventType, &r.version,
		&r.payload, &r.editorUser, &r.editorClient, &r.createdAt, &r.personal, &r.position.TxID, &r.position.Global,
		&r.editorSession, &r.editorAddress}
	if err := s.Scan(append(dest, extra...)...); err != nil {
		return fmt.Errorf("eventstore: read event row: %w", err)
	}
	return nil
}

// leaf is the hash of one event's stored fields, each length-prefixed so
// that no two different rows encode alike.
func (r *rawEvent) leaf() []byte {
	var b []byte
	for _, f := range []string{r.instanceID, r.aggregateType, r.aggregateID, r.owner, r.eventType} {
		b = appendField(b, []byte(f))
	}
	b = binary.BigEndian.AppendUint64(b, uint64(r.sequence))
	b = binary.BigEndian.AppendUint64(b, uint64(r.version))
	b = appendField(b, []byte(r.payload))
	b = appendField(b, []byte(r.editorUser))
	b = appendField(b, []byte(r.editorClient))
	b = binary.BigEndian.AppendUint64(b, uint64(r.createdAt))
	b = appendField(b, r.personal)
	b = binary.BigEndian.AppendUint64(b, uint64(r.position.TxID))
	b = binary.BigEndian.AppendUint64(b, uint64(r.position.Global))
	// The editor's session and address came later (0009_editor_origin):
	// a row without them encodes as before, so links made before stay
	// valid; a row with either appends a marker and both.
	if r.editorSession != "" || r.editorAddress != "" {
		b = append(b, 1)
		b = appendField(b, []byte(r.editorSession))
		b = appendField(b, []byte(r.editorAddress))
	}
	sum := sha256.Sum256(b)
	return sum[:]
}

func appendField(b, f []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(f)))
	return append(b, f...)
}

// linkHash is the hash of a link: SHA-256 over the previous link's hash and
// the event's leaf.
func linkHash(prev, leaf []byte) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(leaf)
	return h.Sum(nil)
}

// genesis is the "previous hash" of an instance's first event.
func genesis(instanceID string) []byte {
	sum := sha256.Sum256(appendField([]byte("castellan/eventstore/chain/v1"), []byte(instanceID)))
	return sum[:]
}
