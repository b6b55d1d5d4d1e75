package authreq

import "github.com/castellan-iam/castellan/internal/database"

// Migrations create the table of authorization requests.
var Migrations = []database.Migration{{
	Name: "authreq/0001_auth_requests",
	SQLite: `CREATE TABLE auth_requests (instance_id TEXT NOT NULL, id TEXT NOT NULL, client_id TEXT NOT NULL, redirect_uri TEXT NOT NULL,
	issuer TEXT NOT NULL, scope TEXT NOT NULL, state TEXT NOT NULL, nonce TEXT NOT NULL, code_challenge TEXT NOT NULL, prompt TEXT NOT NULL,
	max_age INTEGER NOT NULL, login_hint TEXT NOT NULL, ui_locales TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
	session_id TEXT NOT NULL DEFAULT '', user_id TEXT NOT NULL DEFAULT '', org_id TEXT NOT NULL DEFAULT '', auth_time INTEGER NOT NULL DEFAULT 0,
	amr TEXT NOT NULL DEFAULT '', code_hash TEXT NOT NULL DEFAULT '', code_expires_at INTEGER NOT NULL DEFAULT 0,
	code_used BOOLEAN NOT NULL DEFAULT FALSE, access_jti TEXT NOT NULL DEFAULT '', access_exp INTEGER NOT NULL DEFAULT 0,
	family_id TEXT NOT NULL DEFAULT '', PRIMARY KEY (instance_id, id));
CREATE INDEX auth_requests_code ON auth_requests (instance_id, code_hash);
CREATE INDEX auth_requests_expiry ON auth_requests (expires_at);`,
	Postgres: `CREATE TABLE auth_requests (instance_id TEXT NOT NULL, id TEXT NOT NULL, client_id TEXT NOT NULL, redirect_uri TEXT NOT NULL,
	issuer TEXT NOT NULL, scope TEXT NOT NULL, state TEXT NOT NULL, nonce TEXT NOT NULL, code_challenge TEXT NOT NULL, prompt TEXT NOT NULL,
	max_age BIGINT NOT NULL, login_hint TEXT NOT NULL, ui_locales TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
	session_id TEXT NOT NULL DEFAULT '', user_id TEXT NOT NULL DEFAULT '', org_id TEXT NOT NULL DEFAULT '', auth_time BIGINT NOT NULL DEFAULT 0,
	amr TEXT NOT NULL DEFAULT '', code_hash TEXT NOT NULL DEFAULT '', code_expires_at BIGINT NOT NULL DEFAULT 0,
	code_used BOOLEAN NOT NULL DEFAULT FALSE, access_jti TEXT NOT NULL DEFAULT '', access_exp BIGINT NOT NULL DEFAULT 0,
	family_id TEXT NOT NULL DEFAULT '', PRIMARY KEY (instance_id, id));
CREATE INDEX auth_requests_code ON auth_requests (instance_id, code_hash);
CREATE INDEX auth_requests_expiry ON auth_requests (expires_at);`,
}, {
	Name:     "authreq/0002_pushed",
	SQLite:   `ALTER TABLE auth_requests ADD COLUMN pushed BOOLEAN NOT NULL DEFAULT FALSE;`,
	Postgres: `ALTER TABLE auth_requests ADD COLUMN pushed BOOLEAN NOT NULL DEFAULT FALSE;`,
}, {
	Name:     "authreq/0003_resources",
	SQLite:   `ALTER TABLE auth_requests ADD COLUMN resources TEXT NOT NULL DEFAULT '';`,
	Postgres: `ALTER TABLE auth_requests ADD COLUMN resources TEXT NOT NULL DEFAULT '';`,
}, {
	Name:     "authreq/0100_dpop_jkt",
	SQLite:   `ALTER TABLE auth_requests ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';`,
	Postgres: `ALTER TABLE auth_requests ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';`,
}}
