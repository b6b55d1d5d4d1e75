// Package app assembles Castellan from its configuration: it opens the
// database, applies migrations, loads the key ring and builds the event
// store with every event type and projection of the binary. The commands in
// cmd/castellan use it; nothing else does.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/castellan-iam/castellan/internal/access/group"
	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/access/project"
	"github.com/castellan-iam/castellan/internal/asset"
	"github.com/castellan-iam/castellan/internal/config"
	"github.com/castellan-iam/castellan/internal/credential/passkey"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/history"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/keyring"
	"github.com/castellan-iam/castellan/internal/machinecert"
	"github.com/castellan-iam/castellan/internal/machinekey"
	"github.com/castellan-iam/castellan/internal/oauth/authreq"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/oauth/consent"
	"github.com/castellan-iam/castellan/internal/oauth/device"
	"github.com/castellan-iam/castellan/internal/oauth/dpop/dpopstore"
	"github.com/castellan-iam/castellan/internal/oauth/grants"
	"github.com/castellan-iam/castellan/internal/oauth/token"
	"github.com/castellan-iam/castellan/internal/oauth/trustset"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/password"
	"github.com/castellan-iam/castellan/internal/pat"
	"github.com/castellan-iam/castellan/internal/pii"
	"github.com/castellan-iam/castellan/internal/portability"
	"github.com/castellan-iam/castellan/internal/report"
	"github.com/castellan-iam/castellan/internal/session"
	"github.com/castellan-iam/castellan/internal/settings"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// Migrations lists every migration of the binary, in order.
func Migrations() []database.Migration {
	var all []database.Migration
	for _, ms := range [][]database.Migration{eventstore.Migrations, instance.Migrations, org.Migrations, usertype.Migrations, user.Migrations, member.Migrations, pat.Migrations, pii.Migrations, machinekey.Migrations, machinecert.Migrations, settings.Migrations, session.Migrations, passkey.Migrations, asset.Migrations, token.Migrations, token.OpaqueMigrations, client.Migrations, trustset.Migrations, group.Migrations, project.Migrations, authreq.Migrations, grants.Migrations, device.Migrations, consent.Migrations, dpopstore.Migrations, history.Migrations, report.Migrations} {
		all = append(all, ms...)
	}
	return all
}

// Registry returns the registry of every event type of the binary.
func Registry() *eventstore.Registry {
	r := eventstore.NewRegistry()
	RegisterEvents(r)
	return r
}

// RegisterEvents adds every event type of the binary to r.
func RegisterEvents(r *eventstore.Registry) {
	instance.RegisterEvents(r)
	org.RegisterEvents(r)
	usertype.RegisterEvents(r)
	user.RegisterEvents(r)
	member.RegisterEvents(r)
	pat.RegisterEvents(r)
	machinekey.RegisterEvents(r)
	machinecert.RegisterEvents(r)
	settings.RegisterEvents(r)
	session.RegisterEvents(r)
	token.RegisterEvents(r)
	client.RegisterEvents(r)
	trustset.RegisterEvents(r)
	group.RegisterEvents(r)
	project.RegisterEvents(r)
	grants.RegisterEvents(r)
	consent.RegisterEvents(r)
	portability.RegisterEvents(r)
}

// Projections returns every inline projection of the binary.
func Projections() []eventstore.Projection {
	return []eventstore.Projection{instance.Projection{}, org.Projection{}, usertype.Projection{}, user.Projection{}, member.Projection{}, pat.Projection{}, machinekey.Projection{}, machinecert.Projection{}, settings.Projection{}, session.Projection{},
		token.KeyProjection{}, token.RevocationProjection{}, client.Projection{}, trustset.Projection{}, group.Projection{}, project.Projection{}, grants.Projection{}, consent.Projection{}}
}

// App is an assembled Castellan.
type App struct {
	Config *config.Config
	Log    *slog.Logger
	DB     *database.DB
	Store  *eventstore.Store
	Keys   *keyring.Ring
	Hasher *password.Hasher

	tokensOnce sync.Once
	tokens     *token.Tokens
	grantsOnce sync.Once
	grants     *grants.Grants
	// lastArchive is when Maintain last archived (archiveDaily).
	lastArchive time.Time
}

// Open connects to the configured database and applies pending migrations.
func Open(ctx context.Context, cfg *config.Config, log *slog.Logger) (*App, error) {
	keys, err := loadKeys(cfg, log)
	if err != nil {
		return nil, err
	}
	a := &App{Config: cfg, Log: log, Keys: keys}
	if _, _, err := newNotifiers(a.serverProviders()); err != nil {
		return nil, fmt.Errorf("config: notify.%w", err)
	}
	db, err := openDatabase(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a.DB = db
	if err := db.Migrate(ctx, Migrations()); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.Optimize(ctx); err != nil {
		log.Warn("could not refresh the query planner's statistics", "err", err)
	}
	if a.Store, err = eventstore.New(db, Registry(), Projections(), eventstore.Options{Sealer: pii.New(keys)}); err != nil {
		db.Close()
		return nil, err
	}
	// Read models derived by an older binary are rebuilt before serving.
	rebuilt, err := a.Store.RebuildOutdated(ctx)
	if err != nil {
		db.Close()
		return nil, err
	}
	if len(rebuilt) > 0 {
		log.Info("rebuilt read models written by an older version", "projections", rebuilt)
	}
	p := cfg.Passwords.Argon2id
	a.Hasher = password.NewHasherWithQueue(password.Params{MemoryKiB: p.MemoryKiB, Iterations: p.Iterations, Parallelism: p.Parallelism},
		cfg.Passwords.MaxConcurrent, cfg.Passwords.Queue, cfg.Passwords.QueueTimeout)
	return a, nil
}

// openDatabase connects to the configured backend without migrating.
func openDatabase(ctx context.Context, cfg *config.Config) (*database.DB, error) {
	if cfg.DatabaseKind() == config.DatabasePostgres {
		return database.OpenPostgres(ctx, cfg.DatabaseURL())
	}
	if cfg.Database == "" { // the default file in the data directory, which may be created
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("data directory %s: %w", cfg.DataDir, err)
		}
	}
	return database.OpenSQLite(cfg.SQLitePath())
}

// Migrate applies pending migrations and returns how many there were.
func Migrate(ctx context.Context, cfg *config.Config) (int, error) {
	db, err := openDatabase(ctx, cfg)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	pending, err := db.Pending(ctx, Migrations())
	if err != nil {
		return 0, err
	}
	return len(pending), db.Migrate(ctx, Migrations())
}

// writeFailureGrace is how long a write that failed because the database was
// unavailable (a full disk, say) keeps Ready reporting "not ready", unless a
// write commits before. Then traffic is let through again to find out: an
// idle server does no writes of its own that could tell.
const writeFailureGrace = 10 * time.Second

// Ready reports whether the database answers, took the latest write (or
// refused it more than writeFailureGrace ago) and has every migration
// applied.
func (a *App) Ready(ctx context.Context) error {
	if err := a.DB.Ping(ctx); err != nil {
		return errors.New("database unreachable")
	}
	if at, err := a.DB.LastWriteFailure(); err != nil && time.Since(at) < writeFailureGrace {
		return errors.New("database refuses writes")
	}
	pending, err := a.DB.Pending(ctx, Migrations())
	if err != nil {
		return errors.New("cannot read migrations")
	}
	if len(pending) > 0 {
		return fmt.Errorf("%d migrations pending", len(pending))
	}
	return nil
}

// IsolateHashing makes the server compute argon2id hashes in hashing
// processes (package password) when passwords.isolated is set; the server
// calls it at start, the one-shot commands do not (each would start a
// process to check it). When no process can be started the hashes are
// computed in the server's process, with a warning.
func (a *App) IsolateHashing() {
	if !a.Config.Passwords.Isolated {
		return
	}
	exe, err := password.Executable()
	if err == nil {
		err = a.Hasher.Isolate(exe)
	}
	if err != nil {
		a.Log.Warn("password hashes are computed in the server's process: no hashing process could be started (passwords.isolated)", "err", err)
	}
}

// Close releases the database.
func (a *App) Close() error {
	if a.Hasher != nil {
		a.Hasher.Close()
	}
	return a.DB.Close()
}

// masterKeyFile is where the embedded default keeps a generated master key.
func masterKeyFile(cfg *config.Config) string { return filepath.Join(cfg.DataDir, "master.key") }

func loadKeys(cfg *config.Config, log *slog.Logger) (*keyring.Ring, error) {
	var retired []keyring.Key
	for i, s := range cfg.Keys.Retired {
		k, err := keyring.ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("config: keys.retired[%d]: %w", i, err)
		}
		retired = append(retired, k)
	}
	if cfg.Keys.Master != "" {
		current, err := keyring.ParseKey(cfg.Keys.Master)
		if err != nil {
			return nil, fmt.Errorf("config: keys.master: %w", err)
		}
		return keyring.New(current, retired...)
	}
	if cfg.DatabaseKind() == config.DatabasePostgres {
		return nil, errors.New("config: keys.master is required with PostgreSQL, since every replica must share it; create one with `castellan keys generate` and set CASTELLAN_KEYS_MASTER")
	}
	path := masterKeyFile(cfg)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	current, created, err := keyring.LoadOrCreateFile(path)
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("generated a master key for encryption at rest; back it up with the database, or set keys.master", "file", path, "key_id", current.ID)
	}
	return keyring.New(current, retired...)
}
