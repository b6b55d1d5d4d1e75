package eventstore

import "github.com/castellan-iam/castellan/internal/database"

// Migrations create the event store's tables. Events are append-only: a
// trigger rejects any UPDATE or DELETE of a stored event on both backends.
var Migrations = []database.Migration{{
	Name: "eventstore/0001_events",
	SQLite: `
CREATE TABLE events (
	position INTEGER PRIMARY KEY AUTOINCREMENT,
	tx_id INTEGER NOT NULL,
	instance_id TEXT NOT NULL,
	aggregate_type TEXT NOT NULL,
	aggregate_id TEXT NOT NULL,
	sequence INTEGER NOT NULL,
	owner TEXT NOT NULL,
	event_type TEXT NOT NULL,
	payload_version INTEGER NOT NULL,
	payload TEXT NOT NULL,
	editor_user TEXT NOT NULL,
	editor_client TEXT NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX events_aggregate ON events (instance_id, aggregate_type, aggregate_id, sequence);
CREATE INDEX events_order ON events (tx_id, position);
CREATE INDEX events_type_order ON events (event_type, tx_id, position);
CREATE INDEX events_instance_order ON events (instance_id, tx_id, position);
CREATE INDEX events_instance_type ON events (instance_id, event_type, tx_id, position);
CREATE INDEX events_instance_editor ON events (instance_id, editor_user, tx_id, position);
CREATE INDEX events_instance_created ON events (instance_id, created_at);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'events are immutable'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'events are immutable'); END;

CREATE TABLE unique_constraints (
	instance_id TEXT NOT NULL,
	kind TEXT NOT NULL,
	scope TEXT NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY (instance_id, kind, scope, value)
);

CREATE TABLE subscription_checkpoints (
	name TEXT PRIMARY KEY,
	tx_id INTEGER NOT NULL,
	position INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);`,
	Postgres: `
CREATE TABLE events (
	instance_id TEXT NOT NULL,
	aggregate_type TEXT NOT NULL,
	aggregate_id TEXT NOT NULL,
	sequence BIGINT NOT NULL,
	position BIGINT GENERATED ALWAYS AS IDENTITY,
	tx_id BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
	owner TEXT NOT NULL,
	event_type TEXT NOT NULL,
	payload_version INTEGER NOT NULL,
	payload JSONB NOT NULL,
	editor_user TEXT NOT NULL,
	editor_client TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (instance_id, aggregate_type, aggregate_id, sequence)
);
CREATE UNIQUE INDEX events_position ON events (position);
CREATE INDEX events_order ON events (tx_id, position);
CREATE INDEX events_type_order ON events (event_type, tx_id, position);
CREATE INDEX events_instance_order ON events (instance_id, tx_id, position);
CREATE INDEX events_instance_type ON events (instance_id, event_type, tx_id, position);
CREATE INDEX events_instance_editor ON events (instance_id, editor_user, tx_id, position);
CREATE INDEX events_instance_created ON events (instance_id, created_at);
CREATE FUNCTION events_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'events are immutable'; END $$;
CREATE TRIGGER events_no_change BEFORE UPDATE OR DELETE ON events
	FOR EACH ROW EXECUTE FUNCTION events_immutable();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
	FOR EACH STATEMENT EXECUTE FUNCTION events_immutable();

CREATE TABLE unique_constraints (
	instance_id TEXT NOT NULL,
	kind TEXT NOT NULL,
	scope TEXT NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY (instance_id, kind, scope, value)
);

CREATE TABLE subscription_checkpoints (
	name TEXT PRIMARY KEY,
	tx_id BIGINT NOT NULL,
	position BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);`,
}, {
	// Payloads keep their exact bytes: JSONB would reorder keys and
	// respace, so a projection rebuilt from stored events could differ from
	// the inline path, which saw the original bytes.
	Name:     "eventstore/0002_payload_json",
	SQLite:   `SELECT 1`,
	Postgres: `ALTER TABLE events ALTER COLUMN payload TYPE JSON USING payload::text::json`,
}, {
	// Personal data sealed with the subject's key (see Personal).
	Name:     "eventstore/0003_personal",
	SQLite:   `ALTER TABLE events ADD COLUMN personal BLOB`,
	Postgres: `ALTER TABLE events ADD COLUMN personal BYTEA`,
}, {
	// The version each projection's rows were derived with (see Versioned).
	Name:     "eventstore/0004_projection_versions",
	SQLite:   `CREATE TABLE projection_versions (name TEXT PRIMARY KEY, version INTEGER NOT NULL)`,
	Postgres: `CREATE TABLE projection_versions (name TEXT PRIMARY KEY, version INTEGER NOT NULL)`,
}, {
	// The hash chain (see Chain): a link per event, the chainer's head of
	// each instance, and signed checkpoints. Links and checkpoints are
	// append-only like the events.
	Name: "eventstore/0005_chain",
	SQLite: `
CREATE TABLE event_chain (position INTEGER PRIMARY KEY, hash BLOB NOT NULL);
CREATE TABLE event_chain_heads (
	instance_id TEXT PRIMARY KEY,
	count INTEGER NOT NULL,
	hash BLOB NOT NULL,
	tx_id INTEGER NOT NULL,
	position INTEGER NOT NULL,
	signed_count INTEGER NOT NULL,
	unsigned_since INTEGER NOT NULL
);
CREATE TABLE event_chain_checkpoints (
	instance_id TEXT NOT NULL,
	count INTEGER NOT NULL,
	tx_id INTEGER NOT NULL,
	position INTEGER NOT NULL,
	hash BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	key_id TEXT NOT NULL,
	signature BLOB NOT NULL,
	PRIMARY KEY (instance_id, count)
);
CREATE TRIGGER event_chain_no_update BEFORE UPDATE ON event_chain BEGIN SELECT RAISE(ABORT, 'chain links are immutable'); END;
CREATE TRIGGER event_chain_checkpoints_no_update BEFORE UPDATE ON event_chain_checkpoints BEGIN SELECT RAISE(ABORT, 'chain checkpoints are immutable'); END;`,
	Postgres: `
CREATE TABLE event_chain (position BIGINT PRIMARY KEY, hash BYTEA NOT NULL);
CREATE TABLE event_chain_heads (
	instance_id TEXT PRIMARY KEY,
	count BIGINT NOT NULL,
	hash BYTEA NOT NULL,
	tx_id BIGINT NOT NULL,
	position BIGINT NOT NULL,
	signed_count BIGINT NOT NULL,
	unsigned_since BIGINT NOT NULL
);
CREATE TABLE event_chain_checkpoints (
	instance_id TEXT NOT NULL,
	count BIGINT NOT NULL,
	tx_id BIGINT NOT NULL,
	position BIGINT NOT NULL,
	hash BYTEA NOT NULL,
	created_at BIGINT NOT NULL,
	key_id TEXT NOT NULL,
	signature BYTEA NOT NULL,
	PRIMARY KEY (instance_id, count)
);
CREATE FUNCTION event_chain_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'chain links and checkpoints are immutable'; END $$;
CREATE TRIGGER event_chain_no_update BEFORE UPDATE ON event_chain
	FOR EACH ROW EXECUTE FUNCTION event_chain_immutable();
CREATE TRIGGER event_chain_checkpoints_no_update BEFORE UPDATE ON event_chain_checkpoints
	FOR EACH ROW EXECUTE FUNCTION event_chain_immutable();`,
}, {
	// Archives (see Store.Archive): each instance's last archived link,
	// the last archived sequence of aggregates whose events left, and the
	// mark that lets one archiving transaction delete events.
	Name: "eventstore/0006_archive",
	SQLite: `
CREATE TABLE event_chain_anchors (instance_id TEXT PRIMARY KEY, count INTEGER NOT NULL, tx_id INTEGER NOT NULL, position INTEGER NOT NULL, hash BLOB NOT NULL);
CREATE TABLE event_archived_sequences (
	instance_id TEXT NOT NULL,
	aggregate_type TEXT NOT NULL,
	aggregate_id TEXT NOT NULL,
	sequence INTEGER NOT NULL,
	PRIMARY KEY (instance_id, aggregate_type, aggregate_id)
);
CREATE TABLE events_archiving (instance_id TEXT PRIMARY KEY);
DROP TRIGGER events_no_delete;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
	WHEN NOT EXISTS (SELECT 1 FROM events_archiving WHERE instance_id = OLD.instance_id)
	BEGIN SELECT RAISE(ABORT, 'events are immutable'); END;`,
	Postgres: `
CREATE TABLE event_chain_anchors (instance_id TEXT PRIMARY KEY, count BIGINT NOT NULL, tx_id BIGINT NOT NULL, position BIGINT NOT NULL, hash BYTEA NOT NULL);
CREATE TABLE event_archived_sequences (
	instance_id TEXT NOT NULL,
	aggregate_type TEXT NOT NULL,
	aggregate_id TEXT NOT NULL,
	sequence BIGINT NOT NULL,
	PRIMARY KEY (instance_id, aggregate_type, aggregate_id)
);
CREATE TABLE events_archiving (instance_id TEXT PRIMARY KEY);
CREATE OR REPLACE FUNCTION events_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		IF EXISTS (SELECT 1 FROM events_archiving WHERE instance_id = OLD.instance_id) THEN RETURN OLD; END IF;
	END IF;
	RAISE EXCEPTION 'events are immutable';
END $$;`,
}, {
	// The audit API's most common question, an organization's events in
	// order, walks this index instead of the whole instance.
	Name:     "eventstore/0007_owner_order",
	SQLite:   `CREATE INDEX events_instance_owner ON events (instance_id, owner, tx_id, position)`,
	Postgres: `CREATE INDEX events_instance_owner ON events (instance_id, owner, tx_id, position)`,
}, {
	// A time range is answered in commit order: with the positions in the
	// index, the range's entries are sorted without reading their rows,
	// and only the page's rows are read.
	Name: "eventstore/0008_created_order",
	SQLite: `CREATE INDEX events_instance_created_order ON events (instance_id, created_at, tx_id, position);
DROP INDEX events_instance_created`,
	Postgres: `CREATE INDEX events_instance_created_order ON events (instance_id, created_at, tx_id, position);
DROP INDEX events_instance_created`,
}, {
	// The session (or personal access token) and the network address a
	// change came from, searchable like the editor. Rows written before
	// have empty values, and the chain's leaf encoding leaves empty
	// values out, so their links stay verifiable. Addresses are stored as
	// 32 hexadecimal digits of their 16-byte form (IPv4 mapped), so that
	// a network is a range of the index.
	Name: "eventstore/0009_editor_origin",
	SQLite: `ALTER TABLE events ADD COLUMN editor_session TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN editor_address TEXT NOT NULL DEFAULT '';
CREATE INDEX events_instance_session ON events (instance_id, editor_session, tx_id, position);
CREATE INDEX events_instance_address ON events (instance_id, editor_address, tx_id, position)`,
	Postgres: `ALTER TABLE events ADD COLUMN editor_session TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN editor_address TEXT NOT NULL DEFAULT '';
CREATE INDEX events_instance_session ON events (instance_id, editor_session, tx_id, position);
CREATE INDEX events_instance_address ON events (instance_id, editor_address, tx_id, position)`,
}}

// The statements that differ between the backends.

// settledSQL restricts a query to events no transaction still in flight can
// precede. On PostgreSQL a transaction's id is taken at its first write and
// commits may finish in any order, so only transactions older than the
// oldest one still running are final; on SQLite writers are serialized and
// every visible event is final.
func settledSQL(d database.Dialect) string {
	if d == database.Postgres {
		return "tx_id < (pg_snapshot_xmin(pg_current_snapshot())::text::bigint)"
	}
	return "1 = 1"
}

func insertEventSQL(d database.Dialect) string {
	if d == database.Postgres {
		return `INSERT INTO events (instance_id, aggregate_type, aggregate_id, sequence, owner, event_type,
	payload_version, payload, editor_user, editor_client, created_at, personal, editor_session, editor_address)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING position, tx_id`
	}
	return `INSERT INTO events (instance_id, aggregate_type, aggregate_id, sequence, owner, event_type,
	payload_version, payload, editor_user, editor_client, created_at, personal, editor_session, editor_address, tx_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING position, tx_id`
}

// lockCheckpointSQL selects a subscription's checkpoint and locks it, so that
// of several replicas one at a time advances it; the others skip.
func lockCheckpointSQL(d database.Dialect) string {
	if d == database.Postgres {
		return `SELECT tx_id, position FROM subscription_checkpoints WHERE name = $1 FOR UPDATE SKIP LOCKED`
	}
	return `SELECT tx_id, position FROM subscription_checkpoints WHERE name = $1`
}

// lockEventsForRebuildSQL blocks appends while a projection is rebuilt, so
// the rebuilt rows and the inline path cannot interleave. SQLite's single
// writer gives the same without a statement.
func lockEventsForRebuildSQL(d database.Dialect) string {
	if d == database.Postgres {
		return `LOCK TABLE events IN SHARE MODE`
	}
	return ""
}
