package usertype

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/id"
	"github.com/castellan-iam/castellan/internal/userschema"
)

// AggregateType is the event store aggregate type of user types.
const AggregateType = "user_schema"

// Created is the first event of a user type; its document is revision 1.
type Created struct {
	Type     string          `json:"type"`
	Document json.RawMessage `json:"document"`
}

// Updated adds a revision.
type Updated struct {
	Document json.RawMessage `json:"document"`
}

// Deactivated stops new users of the type.
type Deactivated struct{}

// Reactivated ends a deactivation.
type Reactivated struct{}

// Deleted removes the type.
type Deleted struct{}

func (Created) EventType() string     { return "user_schema.created" }
func (Updated) EventType() string     { return "user_schema.updated" }
func (Deactivated) EventType() string { return "user_schema.deactivated" }
func (Reactivated) EventType() string { return "user_schema.reactivated" }
func (Deleted) EventType() string     { return "user_schema.deleted" }

// RegisterEvents adds the user type events to r.
func RegisterEvents(r *eventstore.Registry) {
	eventstore.Register[Created](r, 1)
	eventstore.Register[Updated](r, 1)
	eventstore.Register[Deactivated](r, 1)
	eventstore.Register[Reactivated](r, 1)
	eventstore.Register[Deleted](r, 1)
}

// State is a user type's lifecycle state.
type State string

// The states.
const (
	StateActive   State = "active"
	StateInactive State = "inactive"
)

// Type is a user type as the read model holds it.
type Type struct {
	ID        string
	Name      string
	State     State
	Revision  int
	Document  json.RawMessage
	CreatedAt time.Time
	ChangedAt time.Time
}

var typeName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

func validTypeName(name string) (string, error) {
	if !typeName.MatchString(name) {
		return "", failure.InvalidArgument("type", "a user type name is 1 to 63 lower-case letters, digits, _ or -, starting with a letter")
	}
	return name, nil
}

// Creation returns the append that creates a user type, after compiling its
// document.
func Creation(instanceID, schemaID, name string, document []byte) (eventstore.Append, error) {
	name, err := validTypeName(name)
	if err != nil {
		return eventstore.Append{}, err
	}
	if _, err := userschema.Compile(schemaID, 1, document); err != nil {
		return eventstore.Append{}, err
	}
	return eventstore.Append{
		Aggregate:        eventstore.Aggregate{InstanceID: instanceID, Type: AggregateType, ID: schemaID},
		ExpectedSequence: eventstore.NewAggregate,
		Events:           []eventstore.Payload{&Created{Type: name, Document: compact(document)}},
		Unique:           []eventstore.Unique{{Kind: "user_type", Value: name, Field: "type", FoldCase: true}},
	}, nil
}

// compact stores a document without insignificant whitespace. Documents
// reach it only after Compile accepted them as JSON.
func compact(doc []byte) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, doc); err != nil {
		return json.RawMessage(doc)
	}
	return b.Bytes()
}

// DefaultCreations returns the appends that create the default types
// "human" and "machine" in a new instance.
func DefaultCreations(instanceID string) ([]eventstore.Append, error) {
	human, err := Creation(instanceID, id.New(), "human", userschema.Human)
	if err != nil {
		return nil, fmt.Errorf("usertype: default human schema: %w", err)
	}
	machine, err := Creation(instanceID, id.New(), "machine", userschema.Machine)
	if err != nil {
		return nil, fmt.Errorf("usertype: default machine schema: %w", err)
	}
	return []eventstore.Append{human, machine}, nil
}

// Commands change user types.
type Commands struct {
	store *eventstore.Store
}

// NewCommands returns the user type commands.
func NewCommands(store *eventstore.Store) *Commands { return &Commands{store: store} }

// Create adds a user type and returns its id.
func (c *Commands) Create(ctx context.Context, editor eventstore.Editor, instanceID, name string, document []byte) (string, error) {
	schemaID := id.New()
	a, err := Creation(instanceID, schemaID, name, document)
	if err != nil {
		return "", err
	}
	_, err = c.store.Push(ctx, editor, a)
	return schemaID, err
}

// Update adds a revision and returns its number.
func (c *Commands) Update(ctx context.Context, editor eventstore.Editor, instanceID, schemaID string, document []byte) (int, error) {
	t, err := Get(ctx, c.store.DB(), instanceID, schemaID)
	if err != nil {
		return 0, err
	}
	revision := t.Revision + 1
	if _, err := userschema.Compile(schemaID, revision, document); err != nil {
		return 0, err
	}
	_, err = c.store.Push(ctx, editor, eventstore.Append{
		Aggregate:        eventstore.Aggregate{InstanceID: instanceID, Type: AggregateType, ID: schemaID},
		ExpectedSequence: eventstore.AnySequence,
		Events:           []eventstore.Payload{&Updated{Document: compact(document)}},
	})
	return revision, err
}

func (c *Commands) setState(ctx context.Context, editor eventstore.Editor, instanceID, schemaID string, from State, e eventstore.Payload) error {
	t, err := Get(ctx, c.store.DB(), instanceID, schemaID)
	if err != nil {
		return err
	}
	if t.State != from {
		return failure.FailedPrecondition("user type %s is %s", t.Name, t.State)
	}
	_, err = c.store.Push(ctx, editor, eventstore.Append{
		Aggregate:        eventstore.Aggregate{InstanceID: instanceID, Type: AggregateType, ID: schemaID},
		ExpectedSequence: eventstore.AnySequence,
		Events:           []eventstore.Payload{e},
	})
	return err
}

// Deactivate stops new users of the type.
func (c *Commands) Deactivate(ctx context.Context, editor eventstore.Editor, instanceID, schemaID string) error {
	return c.setState(ctx, editor, instanceID, schemaID, StateActive, &Deactivated{})
}

// Reactivate ends a deactivation.
func (c *Commands) Reactivate(ctx context.Context, editor eventstore.Editor, instanceID, schemaID string) error {
	return c.setState(ctx, editor, instanceID, schemaID, StateInactive, &Reactivated{})
}

// Delete removes a type that no user has. users counts the users of a
// type (the user package's read model).
func (c *Commands) Delete(ctx context.Context, editor eventstore.Editor, instanceID, schemaID string, users func(ctx context.Context, instanceID, schemaID string) (int, error)) error {
	t, err := Get(ctx, c.store.DB(), instanceID, schemaID)
	if err != nil {
		return err
	}
	n, err := users(ctx, instanceID, schemaID)
	if err != nil {
		return err
	}
	if n > 0 {
		return failure.FailedPrecondition("user type %s still has %d users", t.Name, n)
	}
	_, err = c.store.Push(ctx, editor, eventstore.Append{
		Aggregate:        eventstore.Aggregate{InstanceID: instanceID, Type: AggregateType, ID: schemaID},
		ExpectedSequence: eventstore.AnySequence,
		Events:           []eventstore.Payload{&Deleted{}},
		Unique:           []eventstore.Unique{{Kind: "user_type", Value: t.Name, Remove: true, FoldCase: true}},
	})
	return err
}

// Get reads a user type by id, with its latest document.
func Get(ctx context.Context, db *database.DB, instanceID, schemaID string) (Type, error) {
	return get(ctx, db, instanceID, "s.id", schemaID)
}

// ByName reads a user type by name, with its latest document.
func ByName(ctx context.Context, db *database.DB, instanceID, name string) (Type, error) {
	return get(ctx, db, instanceID, "s.type", name)
}

func get(ctx context.Context, db *database.DB, instanceID, column, idOrName string) (Type, error) {
	var t Type
	var state string
	var created, changed int64
	var doc string
	err := db.Reader().QueryRowContext(ctx, `SELECT s.id, s.type, s.state, s.revision, s.created_at, s.changed_at, r.document
FROM user_schemas s JOIN user_schema_revisions r ON r.instance_id = s.instance_id AND r.schema_id = s.id AND r.revision = s.revision
WHERE s.instance_id = $1 AND `+column+` = $2`, instanceID, idOrName).Scan(&t.ID, &t.Name, &state, &t.Revision, &created, &changed, &doc)
	if errors.Is(err, sql.ErrNoRows) {
		return Type{}, failure.NotFound("user type %s not found", idOrName)
	}
	if err != nil {
		return Type{}, fmt.Errorf("usertype: get %s: %w", idOrName, err)
	}
	t.State, t.Document = State(state), json.RawMessage(doc)
	t.CreatedAt, t.ChangedAt = time.UnixMicro(created).UTC(), time.UnixMicro(changed).UTC()
	return t, nil
}

// List returns every user type of an instance, by name.
func List(ctx context.Context, db *database.DB, instanceID string) ([]Type, error) {
	rows, err := db.Reader().QueryContext(ctx, `SELECT id, type, state, revision, created_at, changed_at FROM user_schemas WHERE instance_id = $1 ORDER BY type`, instanceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Type
	for rows.Next() {
		var t Type
		var state string
		var created, changed int64
		if err := rows.Scan(&t.ID, &t.Name, &state, &t.Revision, &created, &changed); err != nil {
			return nil, err
		}
		t.State, t.CreatedAt, t.ChangedAt = State(state), time.UnixMicro(created).UTC(), time.UnixMicro(changed).UTC()
		out = append(out, t)
	}
	return out, rows.Err()
}

// Schema is the compiled latest revision of t (compiled once per id and
// revision by package userschema). The document compiled when it was
// written, so a failure now is the server's fault. Limits added to
// userschema.Compile since are not applied again (userschema.CompileStored).
func (t Type) Schema() (*userschema.Schema, error) {
	s, err := userschema.CompileStored(t.ID, t.Revision, t.Document)
	if err != nil {
		return nil, failure.Internal(err, "compiling revision %d of user type %s", t.Revision, t.ID)
	}
	return s, nil
}

// Compiled returns a revision of a user type, compiled (and cached by
// package userschema).
//
// A revision, once written, never changes: user_schema_revisions is only
// inserted into, its rows stay when their type is deleted, and its key
// (instance, type id, revision) cannot be written twice. So a revision
// found once is remembered by its key and not read again: every page of
// users a search returns, and every token with a user's traits, asks for
// one, and on PostgreSQL the read is a round trip.
func Compiled(ctx context.Context, db *database.DB, instanceID, schemaID string, revision int) (*userschema.Schema, error) {
	key := revisionKey{instanceID, schemaID, revision}
	if s := revisions.get(key); s != nil {
		return s, nil
	}
	var doc string
	err := db.ReadQueryRow(ctx, `SELECT document FROM user_schema_revisions WHERE instance_id = $1 AND schema_id = $2 AND revision = $3`,
		instanceID, schemaID, revision).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, failure.NotFound("user type %s has no revision %d", schemaID, revision)
	}
	if err != nil {
		return nil, err
	}
	s, err := userschema.CompileStored(schemaID, revision, []byte(doc))
	if err != nil {
		return nil, err
	}
	revisions.put(key, s)
	return s, nil
}

type revisionKey struct {
	instanceID, schemaID string
	revision             int
}

// revisionCacheSize bounds the revisions Compiled remembers; past it, an
// arbitrary one is forgotten for each new one.
const revisionCacheSize = 4096

// revisionCache maps revision keys to their compiled schema.
type revisionCache struct {
	mu sync.RWMutex
	m  map[revisionKey]*userschema.Schema
}

var revisions = &revisionCache{m: map[revisionKey]*userschema.Schema{}}

func (c *revisionCache) get(k revisionKey) *userschema.Schema {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[k]
}

func (c *revisionCache) put(k revisionKey, s *userschema.Schema) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= revisionCacheSize {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[k] = s
}

// Revision is one compiled revision of a user type.
type Revision struct {
	TypeName string
	Schema   *userschema.Schema
}

// Revisions returns every revision of every user type of an instance:
// the schemas users may have been written with. Every search by a trait
// asks; the revisions Compiled remembers are not read again.
func Revisions(ctx context.Context, db *database.DB, instanceID string) ([]Revision, error) {
	rows, err := db.ReadQuery(ctx, `SELECT s.type, r.schema_id, r.revision FROM user_schema_revisions r
JOIN user_schemas s ON s.instance_id = r.instance_id AND s.id = r.schema_id WHERE r.instance_id = $1 ORDER BY s.type, r.revision`, instanceID)
	if err != nil {
		return nil, fmt.Errorf("usertype: revisions: %w", err)
	}
	defer rows.Close()
	var (
		out  []Revision
		keys []revisionKey
	)
	for rows.Next() {
		var name string
		k := revisionKey{instanceID: instanceID}
		if err := rows.Scan(&name, &k.schemaID, &k.revision); err != nil {
			return nil, err
		}
		out = append(out, Revision{TypeName: name, Schema: revisions.get(k)})
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	for i := range out {
		if out[i].Schema == nil { // read once, after the rows are closed
			if out[i].Schema, err = Compiled(ctx, db, instanceID, keys[i].schemaID, keys[i].revision); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
