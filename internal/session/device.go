package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
)

// Sign-ins from a new device. A session's first factor (a password, a
// passwordless passkey, an external login) proves its user; if the
// session's client — its user agent and address — is not one the user's
// sessions came from within DeviceWatch.Recent, the user is told. The
// user's first sign-in ever is no news and tells nothing.
//
// It runs asynchronously, as an event store subscription on
// session.factor.checked with a durable checkpoint, so that a sign-in
// waits for no lookup and no mail. The devices a user signed in from are a
// read model of the subscription (session_devices: a hash of user agent
// and address, and when last seen), written in the transaction that
// advances the checkpoint, so each sign-in counts exactly once. The
// notices go out after that transaction commits (a mail is never sent
// while the database's write lock is held); a crash between the two loses
// the notices of that batch rather than sending them twice. A sign-in
// older than DeviceWatch.Fresh when the subscription reaches it (the first
// start of a version with this subscription, a long outage) is recorded
// and not told: news of last month's sign-in is noise.
//
// The trigger is the first factor, not the session's full authentication
// under the login settings: a password used from a new device is what the
// user needs to know, even when a second factor then stopped the sign-in.

var devicesMigration = database.Migration{
	Name: "session/0002_devices",
	SQLite: `CREATE TABLE session_devices (instance_id TEXT NOT NULL, user_id TEXT NOT NULL, device TEXT NOT NULL,
	last_seen INTEGER NOT NULL, PRIMARY KEY (instance_id, user_id, device));`,
	Postgres: `CREATE TABLE session_devices (instance_id TEXT NOT NULL, user_id TEXT NOT NULL, device TEXT NOT NULL,
	last_seen BIGINT NOT NULL, PRIMARY KEY (instance_id, user_id, device));`,
}

// NewDevice is a sign-in of a user from a device its recent sessions did
// not come from.
type NewDevice struct {
	InstanceID, SessionID, UserID string
	Client                        Client
	At                            time.Time
}

// DeviceWatch finds sign-ins from new devices and tells Tell of them.
type DeviceWatch struct {
	Store *eventstore.Store
	// Tell is given each sign-in from a new device, after the batch that
	// found it committed; an error is logged and the sign-in not told again.
	Tell func(ctx context.Context, d NewDevice) error
	// Recent is how long a device stays known after its last sign-in
	// (90 days by default); Fresh how old a sign-in may be and still be
	// told (an hour by default).
	Recent, Fresh time.Duration
	Log           *slog.Logger
	// Now is the clock; time.Now by default.
	Now func() time.Time
}

// DeviceSubscription is the name of the subscription's checkpoint.
const DeviceSubscription = "session.devices"

func (w *DeviceWatch) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *DeviceWatch) durations() (recent, fresh time.Duration) {
	recent, fresh = w.Recent, w.Fresh
	if recent <= 0 {
		recent = 90 * 24 * time.Hour
	}
	if fresh <= 0 {
		fresh = time.Hour
	}
	return recent, fresh
}

// Run watches until ctx ends, as eventstore.Store.Follow wakes it: on
// local appends, in rounds of what 100 ms gathers when they stream in, and
// at least every poll.
func (w *DeviceWatch) Run(ctx context.Context, poll time.Duration) {
	w.Store.Follow(ctx, poll, func(ctx context.Context) error {
		err := w.CatchUp(ctx)
		if err != nil && ctx.Err() == nil {
			w.log().Error("sign-ins from new devices: retrying", "err", err)
		}
		return err
	})
}

func (w *DeviceWatch) log() *slog.Logger {
	if w.Log != nil {
		return w.Log
	}
	return slog.Default()
}

// CatchUp handles every sign-in after the checkpoint, then tells of the
// new devices it found.
func (w *DeviceWatch) CatchUp(ctx context.Context) error {
	// batches holds the new devices of each Handle call: CatchUp stops at
	// the first batch that fails, whose transaction rolled back and whose
	// events come again.
	var batches [][]NewDevice
	sub := eventstore.Subscription{Name: DeviceSubscription, EventTypes: eventstore.TypesOf(&FactorChecked{}),
		Handle: func(ctx context.Context, tx *database.Tx, events []eventstore.Event) error {
			found, err := w.handle(ctx, tx, events)
			if err == nil {
				batches = append(batches, found)
			}
			return err
		}}
	_, err := w.Store.CatchUp(ctx, sub)
	if err != nil && len(batches) > 0 {
		batches = batches[:len(batches)-1]
	}
	for _, b := range batches {
		for _, d := range b {
			if terr := w.Tell(context.WithoutCancel(ctx), d); terr != nil {
				w.log().Warn("could not tell a user of a sign-in from a new device", "instance", d.InstanceID, "user", d.UserID, "session", d.SessionID, "err", terr)
			}
		}
	}
	return err
}

// ProvesUser reports whether a check proves the session's user by itself
// (a first factor: a password, an external login, a passwordless passkey
// with user verification): the sign-in that the reports (package report)
// count and new devices are told of.
func ProvesUser(p *FactorChecked) bool { return firstFactor(p) }

// firstFactor reports whether a check proves the user by itself.
func firstFactor(p *FactorChecked) bool {
	switch p.Factor {
	case FactorPassword, FactorIdP:
		return true
	case FactorWebAuthn:
		return p.Passwordless && p.UserVerified
	}
	return false
}

func (w *DeviceWatch) handle(ctx context.Context, tx *database.Tx, events []eventstore.Event) ([]NewDevice, error) {
	recent, fresh := w.durations()
	now := w.now()
	var signIns []*eventstore.Event
	for i := range events {
		if p, ok := events[i].Payload.(*FactorChecked); ok && firstFactor(p) {
			signIns = append(signIns, &events[i])
		}
	}
	histories, err := w.histories(ctx, tx, signIns)
	if err != nil {
		return nil, err
	}
	var found []NewDevice
	for _, e := range signIns {
		p := e.Payload.(*FactorChecked)
		userID, proven := before(histories[sessionKey{e.Aggregate.InstanceID, e.Aggregate.ID}], e)
		if userID == "" || proven {
			continue
		}
		isNew, err := w.record(ctx, tx, e.Aggregate.InstanceID, userID, p.Client, e.CreatedAt, recent)
		if err != nil {
			return nil, err
		}
		if isNew && now.Sub(e.CreatedAt) < fresh {
			found = append(found, NewDevice{InstanceID: e.Aggregate.InstanceID, SessionID: e.Aggregate.ID, UserID: userID, Client: p.Client, At: e.CreatedAt})
		}
	}
	return found, nil
}

type sessionKey struct{ instanceID, id string }

// sessionsPerQuery bounds the sessions whose events one statement reads.
const sessionsPerQuery = 100

// histories reads the events of the sessions of signIns, up to the last
// of them: one statement per instance and sessionsPerQuery sessions, not
// one per sign-in (a round of sign-ins is read at once).
func (w *DeviceWatch) histories(ctx context.Context, tx *database.Tx, signIns []*eventstore.Event) (map[sessionKey][]eventstore.Event, error) {
	var until eventstore.Position
	ids := map[string][]string{}
	seen := map[sessionKey]bool{}
	for _, e := range signIns {
		if until.Less(e.Position) {
			until = e.Position
		}
		k := sessionKey{e.Aggregate.InstanceID, e.Aggregate.ID}
		if !seen[k] {
			seen[k] = true
			ids[k.instanceID] = append(ids[k.instanceID], k.id)
		}
	}
	out := make(map[sessionKey][]eventstore.Event, len(seen))
	for instanceID, list := range ids {
		for len(list) > 0 {
			n := min(len(list), sessionsPerQuery)
			events, err := w.Store.QueryTx(ctx, tx, eventstore.Filter{InstanceID: instanceID, AggregateTypes: []string{AggregateType},
				AggregateIDs: list[:n], Until: until})
			if err != nil {
				return nil, err
			}
			for _, ev := range events {
				k := sessionKey{instanceID, ev.Aggregate.ID}
				out[k] = append(out[k], ev)
			}
			list = list[n:]
		}
	}
	return out, nil
}

// before folds a session's events (its history, in order) up to and
// including e: the user it is for, and whether a first factor had proven
// that user before e (a session that signs in again is no new sign-in).
func before(history []eventstore.Event, e *eventstore.Event) (userID string, proven bool) {
	m := &model{checks: map[Factor]Check{}}
	for i := range history {
		if history[i].Sequence >= e.Sequence {
			break
		}
		m.apply(&history[i])
	}
	for f, c := range m.checks {
		if firstFactor(&FactorChecked{Factor: f, Passwordless: c.Passwordless, UserVerified: c.UserVerified}) {
			proven = true
		}
	}
	m.apply(e)
	return m.userID, proven
}

// record notes that user signed in from client at; isNew is whether the
// user had signed in before, but not from client within recent. Devices
// not seen within recent are forgotten.
func (w *DeviceWatch) record(ctx context.Context, tx *database.Tx, instanceID, userID string, client Client, at time.Time, recent time.Duration) (isNew bool, err error) {
	sum := sha256.Sum256([]byte(client.UserAgent + "\x00" + client.Address))
	device := hex.EncodeToString(sum[:])
	cutoff := at.Add(-recent).Unix()
	var known, seen int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(CASE WHEN device = $3 AND last_seen >= $4 THEN 1 END)
FROM session_devices WHERE instance_id = $1 AND user_id = $2`, instanceID, userID, device, cutoff).Scan(&known, &seen); err != nil {
		return false, fmt.Errorf("session: devices of %s: %w", userID, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM session_devices WHERE instance_id = $1 AND user_id = $2 AND last_seen < $3`,
		instanceID, userID, cutoff); err != nil {
		return false, fmt.Errorf("session: forget devices of %s: %w", userID, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO session_devices (instance_id, user_id, device, last_seen) VALUES ($1, $2, $3, $4)
ON CONFLICT (instance_id, user_id, device) DO UPDATE SET last_seen = CASE WHEN session_devices.last_seen > excluded.last_seen THEN session_devices.last_seen ELSE excluded.last_seen END`,
		instanceID, userID, device, at.Unix()); err != nil {
		return false, fmt.Errorf("session: record a device of %s: %w", userID, err)
	}
	return known > 0 && seen == 0, nil
}
