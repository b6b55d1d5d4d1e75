package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/config"
	"github.com/castellan-iam/castellan/internal/eventstore"
)

// TestAuditArchiveAndRestore archives a server's events as its daily
// archive would thirteen months on, and works with the file through the
// CLI: verify the database and the file, refuse a rebuild, refuse a
// tampered file, restore, rebuild.
func TestAuditArchiveAndRestore(t *testing.T) {
	withoutSettings(t)
	t.Chdir(t.TempDir())
	t.Setenv("CASTELLAN_DATA_DIR", t.TempDir())
	t.Setenv("CASTELLAN_PASSWORDS_ARGON2ID_MEMORY_KIB", "8192")
	ctx := context.Background()
	cfg, err := config.Load(nil, os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(ctx, cfg, newLogger(cfg, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.FirstStart(ctx); err != nil {
		t.Fatal(err)
	}
	// Checkpoints every 5 links rather than after a quiet minute.
	chain := &eventstore.Chain{Store: a.Store, Signer: eventstore.KeyRingSigner(a.Keys), CheckpointEvery: 5}
	if _, err := chain.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	done, err := a.ArchiveEvents(ctx, "", time.Now().Add(cfg.Audit.Retention+time.Hour))
	a.Close()
	if err != nil || len(done) != 1 || done[0].Events < 5 {
		t.Fatalf("archive: %+v %v", done, err)
	}
	file := done[0].File
	if filepath.Dir(filepath.Dir(file)) != filepath.Join(os.Getenv("CASTELLAN_DATA_DIR"), "archive") {
		t.Fatalf("archive file %s is not under data_dir/archive", file)
	}

	out, stderr, err := castellan(t, "audit", "verify")
	if err != nil || !strings.Contains(out, "are archived: intact") {
		t.Fatalf("audit verify after archiving: %v\n%s%s", err, out, stderr)
	}
	out, _, err = castellan(t, "audit", "verify-archive", file)
	if err != nil || !strings.Contains(out, "signed checkpoints: intact") {
		t.Fatalf("audit verify-archive: %v\n%s", err, out)
	}
	if _, _, err := castellan(t, "projections", "rebuild", "users"); err == nil || !strings.Contains(err.Error(), "castellan audit restore") {
		t.Fatalf("rebuild with archived events: %v", err)
	}

	// A file with one byte of an event changed fails verification.
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	forged := bytes.Replace(plain, []byte(`"editorUser":"`), []byte(`"editorUser":"x`), 1)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(forged)
	zw.Close()
	bad := filepath.Join(t.TempDir(), "forged.jsonl.gz")
	if err := os.WriteFile(bad, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err = castellan(t, "audit", "restore", bad)
	if err == nil || !strings.Contains(out, "BROKEN at link 1 ") {
		t.Fatalf("restoring a forged archive: %v\n%s", err, out)
	}

	out, _, err = castellan(t, "audit", "restore", file)
	if err != nil || !strings.Contains(out, "restored") {
		t.Fatalf("audit restore: %v\n%s", err, out)
	}
	out, _, err = castellan(t, "audit", "verify")
	if err != nil || !strings.Contains(out, ": intact") || strings.Contains(out, "archived") {
		t.Fatalf("audit verify after restoring: %v\n%s", err, out)
	}
	if out, _, err := castellan(t, "projections", "rebuild", "users"); err != nil {
		t.Fatalf("rebuild after restoring: %v\n%s", err, out)
	}
}
