package eventstore

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
)

// ChainReport is the outcome of verifying an instance's hash chain.
type ChainReport struct {
	InstanceID string
	// Events is how many chained events were checked; Checkpoints how many
	// signed checkpoints matched.
	Events      int64
	Checkpoints int
	// Archived is how many of the instance's first events are archived
	// (verified in their archive files, not here).
	Archived int64
	// Unchained counts the newest events the chainer has not reached yet;
	// they are not covered.
	Unchained int64
	// Break is the first broken link, nil when the chain holds.
	Break *ChainBreak
}

// ChainBreak names the first place where the log and its chain disagree.
type ChainBreak struct {
	// Position is the event (or, for a checkpoint, the position it names)
	// where the chain breaks; Link is its number in the instance's chain
	// (1 for the first event).
	Position Position
	Link     int64
	Reason   string
}

func (b *ChainBreak) Error() string {
	return fmt.Sprintf("link %d (position %d/%d): %s", b.Link, b.Position.TxID, b.Position.Global, b.Reason)
}

// verifyPage is how many events verification reads per query.
const verifyPage = 5000

// VerifyChain recomputes an instance's hash chain from its stored events
// and checks every link and every signed checkpoint. It reports the first
// break: an event altered, removed or inserted behind the chainer, a link
// removed, or a stretch rewritten consistently but contradicting a signed
// checkpoint. progress, when set, is called after each page with the events
// checked so far.
func (s *Store) VerifyChain(ctx context.Context, instanceID string, signer ChainSigner, progress func(int64)) (ChainReport, error) {
	rep := ChainReport{InstanceID: instanceID}
	r := s.db.Reader()
	var mark Position
	err := r.QueryRowContext(ctx, `SELECT tx_id, position FROM subscription_checkpoints WHERE name = $1`, chainName).Scan(&mark.TxID, &mark.Global)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return rep, fmt.Errorf("eventstore: read chain checkpoint: %w", err)
	}
	checkpoints, err := s.ChainCheckpoints(ctx, instanceID)
	if err != nil {
		return rep, err
	}
	// Archived events are verified in their archive files; the chain in
	// the database continues from the last archived link, which must be a
	// signed checkpoint.
	from, err := anchor(ctx, r, instanceID)
	if err != nil {
		return rep, err
	}
	next := 0 // the next checkpoint to meet
	for next < len(checkpoints) && checkpoints[next].Count < from.Count {
		next++
	}
	if from.Count > 0 {
		if next == len(checkpoints) || checkpoints[next].Count != from.Count || !bytes.Equal(checkpoints[next].Hash, from.Hash) ||
			checkpoints[next].Position != (Position{TxID: from.TxID, Global: from.Position}) {
			rep.Break = &ChainBreak{Position: Position{TxID: from.TxID, Global: from.Position}, Link: from.Count,
				Reason: "the chain continues from archived events at a link no signed checkpoint names: the archive anchor was altered"}
			return rep, nil
		}
		if reason := verifySignature(checkpoints[next], signer); reason != "" {
			rep.Break = &ChainBreak{Position: checkpoints[next].Position, Link: from.Count, Reason: reason}
			return rep, nil
		}
		next++
	}
	rep.Archived = from.Count
	prev := from.Hash
	after := Position{TxID: from.TxID, Global: from.Position}
	link := from.Count
	for {
		rows, err := r.QueryContext(ctx, `SELECT `+prefixed("e.", rawColumns)+`, c.hash FROM events e
LEFT JOIN event_chain c ON c.position = e.position
WHERE e.instance_id = $1 AND (e.tx_id > $2 OR (e.tx_id = $2 AND e.position > $3))
	AND (e.tx_id < $4 OR (e.tx_id = $4 AND e.position <= $5))
ORDER BY e.tx_id, e.position LIMIT $6`, instanceID, after.TxID, after.Global, mark.TxID, mark.Global, verifyPage)
		if err != nil {
			return rep, fmt.Errorf("eventstore: read events to verify: %w", err)
		}
		n := 0
		for rows.Next() {
			n++
			var (
				e      rawEvent
				stored []byte
			)
			if err := e.scan(rows, &stored); err != nil {
				rows.Close()
				return rep, err
			}
			after = e.position
			rep.Events++
			link++
			brk := func(reason string, args ...any) (ChainReport, error) {
				rows.Close()
				rep.Break = &ChainBreak{Position: e.position, Link: link, Reason: fmt.Sprintf(reason, args...)}
				return rep, nil
			}
			if stored == nil {
				return brk("%s event %d of %s/%s has no link: it was inserted behind the chain, or its link was removed", e.eventType, e.sequence, e.aggregateType, e.aggregateID)
			}
			if !bytes.Equal(linkHash(prev, e.leaf()), stored) {
				return brk("%s event %d of %s/%s does not match its link: it was altered, or an event before it was removed", e.eventType, e.sequence, e.aggregateType, e.aggregateID)
			}
			prev = stored
			for next < len(checkpoints) && checkpoints[next].Count == link {
				cp := checkpoints[next]
				if cp.Position != e.position || !bytes.Equal(cp.Hash, stored) {
					return brk("the checkpoint signed at %s for link %d names another event or hash: the chain before it was rewritten", cp.CreatedAt.Format(time.RFC3339), cp.Count)
				}
				if reason := verifySignature(cp, signer); reason != "" {
					return brk("%s", reason)
				}
				rep.Checkpoints++
				next++
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return rep, fmt.Errorf("eventstore: read events to verify: %w", err)
		}
		if progress != nil {
			progress(rep.Events)
		}
		if n < verifyPage {
			break
		}
	}
	if next < len(checkpoints) {
		cp := checkpoints[next]
		rep.Break = &ChainBreak{Position: cp.Position, Link: cp.Count,
			Reason: fmt.Sprintf("the checkpoint signed at %s covers %d events, but the log holds %d of them: events were removed", cp.CreatedAt.Format(time.RFC3339), cp.Count, link)}
		return rep, nil
	}
	// The chainer's head is a cache an attacker can change too, but it
	// catches a removed tail that no checkpoint covers yet.
	var head ChainCheckpoint
	err = r.QueryRowContext(ctx, `SELECT count, tx_id, position FROM event_chain_heads WHERE instance_id = $1`, instanceID).
		Scan(&head.Count, &head.Position.TxID, &head.Position.Global)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return rep, fmt.Errorf("eventstore: read chain head: %w", err)
	}
	if head.Count > link && !mark.Less(head.Position) {
		rep.Break = &ChainBreak{Position: head.Position, Link: link + 1,
			Reason: fmt.Sprintf("the chain links %d events, but the log holds %d of them: events were removed", head.Count, link)}
		return rep, nil
	}
	err = r.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE instance_id = $1 AND (tx_id > $2 OR (tx_id = $2 AND position > $3))`,
		instanceID, mark.TxID, mark.Global).Scan(&rep.Unchained)
	if err != nil {
		return rep, fmt.Errorf("eventstore: count unchained events: %w", err)
	}
	return rep, nil
}

func verifySignature(cp ChainCheckpoint, signer ChainSigner) string {
	if signer == nil {
		return "" // links and hashes only
	}
	pub, err := signer.Public(cp.KeyID)
	if err != nil {
		return fmt.Sprintf("the checkpoint of link %d is signed with key %q, which the key ring lacks", cp.Count, cp.KeyID)
	}
	if !ed25519.Verify(pub, cp.message(), cp.Signature) {
		return fmt.Sprintf("the signature of the checkpoint of link %d does not verify: the checkpoint was forged or altered", cp.Count)
	}
	return ""
}

// ChainCheckpoints returns an instance's signed checkpoints, oldest first.
func (s *Store) ChainCheckpoints(ctx context.Context, instanceID string) ([]ChainCheckpoint, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT count, tx_id, position, hash, created_at, key_id, signature
FROM event_chain_checkpoints WHERE instance_id = $1 ORDER BY count`, instanceID)
	if err != nil {
		return nil, fmt.Errorf("eventstore: read chain checkpoints: %w", err)
	}
	defer rows.Close()
	var out []ChainCheckpoint
	for rows.Next() {
		cp := ChainCheckpoint{InstanceID: instanceID}
		var created int64
		if err := rows.Scan(&cp.Count, &cp.Position.TxID, &cp.Position.Global, &cp.Hash, &created, &cp.KeyID, &cp.Signature); err != nil {
			return nil, fmt.Errorf("eventstore: read chain checkpoints: %w", err)
		}
		cp.CreatedAt = time.Unix(created, 0).UTC()
		out = append(out, cp)
	}
	return out, rows.Err()
}

// ChainInstances returns every instance that has events, for verifying
// them all.
func (s *Store) ChainInstances(ctx context.Context) ([]string, error) {
	ids, err := database.Strings(s.db.Reader().QueryContext(ctx, `SELECT DISTINCT instance_id FROM events ORDER BY instance_id`))
	if err != nil {
		return nil, fmt.Errorf("eventstore: list instances: %w", err)
	}
	return ids, nil
}

func prefixed(prefix, columns string) string {
	var b bytes.Buffer
	for i, c := range bytes.Split([]byte(columns), []byte(",")) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(prefix)
		b.Write(bytes.TrimSpace(c))
	}
	return b.String()
}
