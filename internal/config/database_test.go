package config

import (
	"path/filepath"
	"testing"
)

func TestDatabase(t *testing.T) {
	tests := []struct {
		name         string
		database     string
		wantKind     string
		wantPath     string
		wantURL      string
		wantRedacted string
	}{
		{name: "ok/empty is SQLite in data_dir", database: "", wantKind: "sqlite",
			wantPath: filepath.Join("data", "castellan.db"), wantRedacted: "sqlite:" + filepath.Join("data", "castellan.db")},
		{name: "ok/explicit SQLite file", database: "sqlite:/var/db/c.db", wantKind: "sqlite",
			wantPath: "/var/db/c.db", wantRedacted: "sqlite:/var/db/c.db"},
		{name: "ok/postgres URL with password", database: "postgres://castellan:s3cret@db:5432/castellan?sslmode=require", wantKind: "postgres",
			wantURL: "postgres://castellan:s3cret@db:5432/castellan?sslmode=require", wantRedacted: "postgres://castellan:xxxxx@db:5432/castellan?sslmode=require"},
		{name: "ok/postgresql scheme without password", database: "postgresql://db/castellan", wantKind: "postgres",
			wantURL: "postgresql://db/castellan", wantRedacted: "postgresql://db/castellan"},
		{name: "ok/password in a parameter", database: "postgres://db/castellan?user=c&password=s3cret", wantKind: "postgres",
			wantURL: "postgres://db/castellan?user=c&password=s3cret", wantRedacted: "postgres://db/castellan?password=xxxxx&user=c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load([]string{"--data-dir", "data"}, env(map[string]string{"CASTELLAN_DATABASE": tt.database}))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.DatabaseKind(); got != tt.wantKind {
				t.Errorf("DatabaseKind() = %q, want %q", got, tt.wantKind)
			}
			if got := c.SQLitePath(); got != tt.wantPath {
				t.Errorf("SQLitePath() = %q, want %q", got, tt.wantPath)
			}
			if got := c.DatabaseURL(); got != tt.wantURL {
				t.Errorf("DatabaseURL() = %q, want %q", got, tt.wantURL)
			}
			if got := c.RedactedDatabase(); got != tt.wantRedacted {
				t.Errorf("RedactedDatabase() = %q, want %q", got, tt.wantRedacted)
			}
		})
	}
}
