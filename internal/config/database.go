package config

import (
	"net/url"
	"path/filepath"
	"strings"
)

// sqlitePrefix marks an explicit SQLite file in the database setting.
const sqlitePrefix = "sqlite:"

// Database kinds returned by [Config.DatabaseKind].
const (
	DatabaseSQLite   = "sqlite"
	DatabasePostgres = "postgres"
)

// DatabaseKind reports which store the database setting selects:
// [DatabaseSQLite] or [DatabasePostgres].
func (c *Config) DatabaseKind() string {
	if strings.HasPrefix(c.Database, "postgres://") || strings.HasPrefix(c.Database, "postgresql://") {
		return DatabasePostgres
	}
	return DatabaseSQLite
}

// SQLitePath returns the SQLite database file: the path after sqlite:, or
// castellan.db in data_dir when database is empty. It is "" for PostgreSQL.
func (c *Config) SQLitePath() string {
	switch {
	case c.DatabaseKind() != DatabaseSQLite:
		return ""
	case c.Database == "":
		return filepath.Join(c.DataDir, "castellan.db")
	default:
		return strings.TrimPrefix(c.Database, sqlitePrefix)
	}
}

// DatabaseURL returns the PostgreSQL connection URL as configured, password
// included; it is "" for SQLite. Never log it: use [Config.RedactedDatabase].
func (c *Config) DatabaseURL() string {
	if c.DatabaseKind() != DatabasePostgres {
		return ""
	}
	return c.Database
}

// RedactedDatabase returns the database location for logs and messages: a
// PostgreSQL URL with its password (in the user information or a password
// or sslpassword parameter) replaced by xxxxx, or sqlite:PATH.
func (c *Config) RedactedDatabase() string {
	if c.DatabaseKind() == DatabaseSQLite {
		return sqlitePrefix + c.SQLitePath()
	}
	u, err := url.Parse(c.Database)
	if err != nil {
		return "postgres://[unparsable URL hidden]"
	}
	if q := u.Query(); q.Has("password") || q.Has("sslpassword") {
		for _, name := range []string{"password", "sslpassword"} {
			if q.Has(name) {
				q.Set(name, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
