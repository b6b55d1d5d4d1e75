// Package consent remembers what a user allowed a third-party application
// (OAuth client) to receive: the scopes it consented to, per user and
// client, as events — the consent is an audit fact, and revoking it is
// one too. A first-party application (the default) needs no consent; a
// third-party one asks in the hosted login until the user allowed every
// scope it requests (or each time, with prompt=consent). A user sees and
// revokes its consents on its account page; revoking one ends the grants
// the application holds for the user.
//
// Events (aggregate "oauth_consent", id "<user id>:<client id>", owner
// the user's organization): oauth.consent.granted {clientId, userId,
// scopes — all the scopes consented so far} and oauth.consent.revoked.
// Read model: oauth_consents.
package consent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// AggregateType is the aggregate of one user's consent to one client.
const AggregateType = "oauth_consent"

// Granted records the scopes a user consented to for a client so far.
type Granted struct {
	ClientID string   `json:"clientId"`
	UserID   string   `json:"userId"`
	Scopes   []string `json:"scopes"`
}

// Revoked ends a consent.
type Revoked struct{}

func (Granted) EventType() string { return "oauth.consent.granted" }
func (Revoked) EventType() string { return "oauth.consent.revoked" }

// RegisterEvents adds the consent events to r.
func RegisterEvents(r *eventstore.Registry) {
	eventstore.Register[Granted](r, 1)
	eventstore.Register[Revoked](r, 1)
}

// Migrations create the consent read model.
var Migrations = []database.Migration{{
	Name: "consent/0001_consents",
	SQLite: `CREATE TABLE oauth_consents (instance_id TEXT NOT NULL, user_id TEXT NOT NULL, client_id TEXT NOT NULL, scopes TEXT NOT NULL,
	granted_at INTEGER NOT NULL, PRIMARY KEY (instance_id, user_id, client_id));`,
	Postgres: `CREATE TABLE oauth_consents (instance_id TEXT NOT NULL, user_id TEXT NOT NULL, client_id TEXT NOT NULL, scopes TEXT NOT NULL,
	granted_at BIGINT NOT NULL, PRIMARY KEY (instance_id, user_id, client_id));`,
}}

// Projection keeps oauth_consents.
type Projection struct{}

func (Projection) Name() string         { return "oauth_consents" }
func (Projection) EventTypes() []string { return eventstore.TypesOf(&Granted{}, &Revoked{}) }
func (Projection) Reset(ctx context.Context, tx *database.Tx) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM oauth_consents`)
	return err
}

func (Projection) Reduce(ctx context.Context, tx *database.Tx, e *eventstore.Event) error {
	a := e.Aggregate
	userID, clientID, _ := strings.Cut(a.ID, ":")
	var err error
	switch p := e.Payload.(type) {
	case *Granted:
		_, err = tx.ExecContext(ctx, `DELETE FROM oauth_consents WHERE instance_id = $1 AND user_id = $2 AND client_id = $3`, a.InstanceID, userID, clientID)
		if err == nil {
			_, err = tx.ExecContext(ctx, `INSERT INTO oauth_consents (instance_id, user_id, client_id, scopes, granted_at) VALUES ($1, $2, $3, $4, $5)`,
				a.InstanceID, userID, clientID, strings.Join(p.Scopes, " "), e.CreatedAt.Unix())
		}
	case *Revoked:
		_, err = tx.ExecContext(ctx, `DELETE FROM oauth_consents WHERE instance_id = $1 AND user_id = $2 AND client_id = $3`, a.InstanceID, userID, clientID)
	default:
		err = fmt.Errorf("unexpected payload %T", e.Payload)
	}
	return err
}

// Consent is what a user allowed a client.
type Consent struct {
	ClientID  string
	Scopes    []string
	GrantedAt time.Time
}

// Consents reads and writes consents.
type Consents struct{ store *eventstore.Store }

// New returns the service.
func New(store *eventstore.Store) *Consents { return &Consents{store: store} }

func aggregate(instanceID, orgID, userID, clientID string) eventstore.Aggregate {
	return eventstore.Aggregate{InstanceID: instanceID, Type: AggregateType, ID: userID + ":" + clientID, Owner: orgID}
}

// Get returns the consent of a user to a client, or failure.NotFound.
func (c *Consents) Get(ctx context.Context, instanceID, userID, clientID string) (Consent, error) {
	out := Consent{ClientID: clientID}
	var scopes string
	var at int64
	err := c.store.DB().Reader().QueryRowContext(ctx, `SELECT scopes, granted_at FROM oauth_consents WHERE instance_id = $1 AND user_id = $2 AND client_id = $3`,
		instanceID, userID, clientID).Scan(&scopes, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return Consent{}, failure.NotFound("no consent")
	}
	if err != nil {
		return Consent{}, fmt.Errorf("consent: %w", err)
	}
	out.Scopes, out.GrantedAt = strings.Fields(scopes), time.Unix(at, 0).UTC()
	return out, nil
}

// Covers reports whether the user consented to every one of scopes for
// the client.
func (c *Consents) Covers(ctx context.Context, instanceID, userID, clientID string, scopes []string) (bool, error) {
	got, err := c.Get(ctx, instanceID, userID, clientID)
	if failure.Is(err, failure.KindNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, s := range scopes {
		if !slices.Contains(got.Scopes, s) {
			return false, nil
		}
	}
	return true, nil
}

// Grant records that the user consented to scopes for the client, in
// addition to what it consented to before.
func (c *Consents) Grant(ctx context.Context, editor eventstore.Editor, instanceID, orgID, userID, clientID string, scopes []string) error {
	all := slices.Clone(scopes)
	if got, err := c.Get(ctx, instanceID, userID, clientID); err == nil {
		all = append(all, got.Scopes...)
	} else if !failure.Is(err, failure.KindNotFound) {
		return err
	}
	all = slices.Compact(slices.Sorted(slices.Values(all)))
	_, err := c.store.Push(ctx, editor, eventstore.Append{Aggregate: aggregate(instanceID, orgID, userID, clientID), ExpectedSequence: eventstore.AnySequence,
		Events: []eventstore.Payload{&Granted{ClientID: clientID, UserID: userID, Scopes: all}}})
	return err
}

// Revoke ends the user's consent to the client; one that does not exist is
// failure.NotFound.
func (c *Consents) Revoke(ctx context.Context, editor eventstore.Editor, instanceID, orgID, userID, clientID string) error {
	if _, err := c.Get(ctx, instanceID, userID, clientID); err != nil {
		return err
	}
	_, err := c.store.Push(ctx, editor, eventstore.Append{Aggregate: aggregate(instanceID, orgID, userID, clientID), ExpectedSequence: eventstore.AnySequence,
		Events: []eventstore.Payload{&Revoked{}}})
	return err
}

// List returns a user's consents, by client id.
func (c *Consents) List(ctx context.Context, instanceID, userID string) ([]Consent, error) {
	rows, err := c.store.DB().Reader().QueryContext(ctx, `SELECT client_id, scopes, granted_at FROM oauth_consents WHERE instance_id = $1 AND user_id = $2
ORDER BY client_id`, instanceID, userID)
	if err != nil {
		return nil, fmt.Errorf("consent: %w", err)
	}
	defer rows.Close()
	var out []Consent
	for rows.Next() {
		var one Consent
		var scopes string
		var at int64
		if err := rows.Scan(&one.ClientID, &scopes, &at); err != nil {
			return nil, err
		}
		one.Scopes, one.GrantedAt = strings.Fields(scopes), time.Unix(at, 0).UTC()
		out = append(out, one)
	}
	return out, rows.Err()
}
