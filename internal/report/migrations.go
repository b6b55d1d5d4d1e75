package report

import (
	"strings"

	"github.com/castellan-iam/castellan/internal/database"
)

// schema is the report's tables; {int} is INTEGER on SQLite and BIGINT on
// PostgreSQL. Days are days since 1970-01-01 (UTC), months YYYYMM.
//
//   - report_state: the version of the rows (Version), to start over
//     when the way they are derived changes, and the last day sessions
//     were forgotten up to.
//   - report_sessions, report_session_failures: what the report needs
//     to know of each session — its user and organization, the
//     application it signed in to, the sign-in it counted and the failed
//     checks not yet attributed to an application.
//   - report_sign_ins: sign-ins per organization, day and application.
//   - report_active_days, report_active_months: the sets of users with a
//     sign-in per day and per month (exact distinct counts), and
//     report_daily, report_monthly: their sizes, with the users added per
//     day.
//   - report_users, report_mfa: each user's second factors, and per
//     organization the number of people and of those with a second
//     factor at the end of each day on which it changed.
//
// The figures of the whole instance are rows of organization "*" (sign-ins
// of no organization are rows of organization "" too), so that every
// query reads one key range. On SQLite the tables are WITHOUT ROWID: the
// rows are stored in their primary key's order, and a query's range is
// read in one pass, not one lookup per row.
const schema = `CREATE TABLE report_state (name TEXT NOT NULL PRIMARY KEY, value {int} NOT NULL);
CREATE TABLE report_sessions (instance_id TEXT NOT NULL, session_id TEXT NOT NULL, user_id TEXT NOT NULL, org_id TEXT NOT NULL,
	client_id TEXT NOT NULL, proven_user TEXT NOT NULL, proven_org TEXT NOT NULL, proven_day {int} NOT NULL, last_day {int} NOT NULL,
	pending_failures {int} NOT NULL, PRIMARY KEY (instance_id, session_id));
CREATE INDEX report_sessions_last_day ON report_sessions (last_day);
CREATE TABLE report_session_failures (instance_id TEXT NOT NULL, session_id TEXT NOT NULL, org_id TEXT NOT NULL, day {int} NOT NULL,
	failed {int} NOT NULL, PRIMARY KEY (instance_id, session_id, org_id, day));
CREATE TABLE report_sign_ins (instance_id TEXT NOT NULL, org_id TEXT NOT NULL, day {int} NOT NULL, client_id TEXT NOT NULL,
	succeeded {int} NOT NULL, failed {int} NOT NULL, PRIMARY KEY (instance_id, org_id, day, client_id));
CREATE TABLE report_active_days (instance_id TEXT NOT NULL, org_id TEXT NOT NULL, day {int} NOT NULL, user_id TEXT NOT NULL,
	PRIMARY KEY (instance_id, org_id, day, user_id));
CREATE TABLE report_active_months (instance_id TEXT NOT NULL, org_id TEXT NOT NULL, month {int} NOT NULL, user_id TEXT NOT NULL,
	PRIMARY KEY (instance_id, org_id, month, user_id));
CREATE TABLE report_daily (instance_id TEXT NOT NULL, org_id TEXT NOT NULL, day {int} NOT NULL, active_users {int} NOT NULL,
	new_users {int} NOT NULL, PRIMARY KEY (instance_id, org_id, day));
CREATE TABLE report_monthly (instance_id TEXT NOT NULL, org_id TEXT NOT NULL, month {int} NOT NULL, active_users {int} NOT NULL,
	PRIMARY KEY (instance_id, org_id, month));
CREATE TABLE report_users (instance_id TEXT NOT NULL, user_id TEXT NOT NULL, org_id TEXT NOT NULL, person {int} NOT NULL,
	totp {int} NOT NULL, passkeys {int} NOT NULL, otp_channels {int} NOT NULL, PRIMARY KEY (instance_id, user_id));
CREATE TABLE report_mfa (instance_id TEXT NOT NULL, org_id TEXT NOT NULL, day {int} NOT NULL, users {int} NOT NULL,
	mfa_users {int} NOT NULL, PRIMARY KEY (instance_id, org_id, day));`

// Migrations create the report's tables.
var Migrations = []database.Migration{{
	Name:     "report/0001_reports",
	SQLite:   strings.ReplaceAll(strings.ReplaceAll(schema, "{int}", "INTEGER"), "));", ")) WITHOUT ROWID;"),
	Postgres: strings.ReplaceAll(schema, "{int}", "BIGINT"),
}}

// tables are the report's rows a rebuild deletes (report_state keeps the
// version).
var tables = []string{"report_sessions", "report_session_failures", "report_sign_ins", "report_active_days", "report_active_months",
	"report_daily", "report_monthly", "report_users", "report_mfa"}
