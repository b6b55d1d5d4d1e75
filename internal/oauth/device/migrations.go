package device

import "github.com/castellan-iam/castellan/internal/database"

// Migrations create the table of device authorization requests.
var Migrations = []database.Migration{{
	Name: "device/0001_device_requests",
	SQLite: `CREATE TABLE device_requests (instance_id TEXT NOT NULL, id TEXT NOT NULL, code_hash TEXT NOT NULL, user_code TEXT NOT NULL,
	client_id TEXT NOT NULL, scope TEXT NOT NULL, state TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
	interval_s INTEGER NOT NULL, last_poll INTEGER NOT NULL, session_id TEXT NOT NULL DEFAULT '', user_id TEXT NOT NULL DEFAULT '',
	org_id TEXT NOT NULL DEFAULT '', auth_time INTEGER NOT NULL DEFAULT 0, amr TEXT NOT NULL DEFAULT '', PRIMARY KEY (instance_id, id));
CREATE UNIQUE INDEX device_requests_code ON device_requests (instance_id, code_hash);
CREATE INDEX device_requests_user_code ON device_requests (instance_id, user_code);
CREATE INDEX device_requests_expiry ON device_requests (expires_at);`,
	Postgres: `CREATE TABLE device_requests (instance_id TEXT NOT NULL, id TEXT NOT NULL, code_hash TEXT NOT NULL, user_code TEXT NOT NULL,
	client_id TEXT NOT NULL, scope TEXT NOT NULL, state TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
	interval_s BIGINT NOT NULL, last_poll BIGINT NOT NULL, session_id TEXT NOT NULL DEFAULT '', user_id TEXT NOT NULL DEFAULT '',
	org_id TEXT NOT NULL DEFAULT '', auth_time BIGINT NOT NULL DEFAULT 0, amr TEXT NOT NULL DEFAULT '', PRIMARY KEY (instance_id, id));
CREATE UNIQUE INDEX device_requests_code ON device_requests (instance_id, code_hash);
CREATE INDEX device_requests_user_code ON device_requests (instance_id, user_code);
CREATE INDEX device_requests_expiry ON device_requests (expires_at);`,
}, {
	Name:     "device/0002_resources",
	SQLite:   `ALTER TABLE device_requests ADD COLUMN resources TEXT NOT NULL DEFAULT '';`,
	Postgres: `ALTER TABLE device_requests ADD COLUMN resources TEXT NOT NULL DEFAULT '';`,
}}
