package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/instanceapi"
	"github.com/castellan-iam/castellan/internal/api/orgapi"
	"github.com/castellan-iam/castellan/internal/api/system"
	"github.com/castellan-iam/castellan/internal/api/userapi"
	"github.com/castellan-iam/castellan/internal/api/usertypeapi"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/config"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/keyring"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/server"
	"github.com/castellan-iam/castellan/internal/setup"
	"github.com/castellan-iam/castellan/internal/user"
)

func loadConfig(args []string, stderr io.Writer, command string) (*config.Config, []string, error) {
	cfg, rest, err := config.LoadWithArgs(args, os.LookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stderr, "Usage: castellan %s [flags]\n\nFlags (each also an environment variable; see docs/configuration.md):\n", command)
		config.FlagUsage(stderr)
	}
	return cfg, rest, err
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.Log.SlogLevel()}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func noArgs(command string, rest []string) error {
	if len(rest) > 0 {
		return fmt.Errorf("%s takes no arguments, got %q", command, rest)
	}
	return nil
}

func start(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	began := time.Now()
	cfg, rest, err := loadConfig(args, stderr, "start")
	if err != nil {
		return err
	}
	if err := noArgs("start", rest); err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	var tlsConfig *tls.Config
	if cfg.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	// Listen before the slower work so that a taken port fails at once.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	defer ln.Close()
	var mgmt net.Listener
	if cfg.Server.ManagementListen != "" {
		if mgmt, err = net.Listen("tcp", cfg.Server.ManagementListen); err != nil {
			return fmt.Errorf("listen on %s (server.management_listen): %w", cfg.Server.ManagementListen, err)
		}
		defer mgmt.Close()
	}
	a, err := app.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	first, err := setup.Run(ctx, a.Store, a.Hasher, setup.FirstInstance{
		Name: cfg.FirstInstance.Name, Domain: cfg.FirstInstance.Domain, OrgName: cfg.FirstInstance.OrgName,
		AdminLoginName: cfg.FirstInstance.Admin.LoginName, AdminEmail: cfg.FirstInstance.Admin.Email,
		AdminPassword: cfg.FirstInstance.Admin.Password,
	})
	if err != nil {
		return err
	}
	if first.Created {
		// Hashing the administrator's password took argon2id's working set
		// (passwords.argon2id.memory_kib), garbage now, which the runtime
		// would return to the system only minutes later, after its periodic
		// collection: an idle server would hold it all that time. Give it
		// back once, here, at about 5 ms of the first start. Not done after
		// logins: a server that hashes them needs that memory again.
		debug.FreeOSMemory()
	}

	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics.MustRegister(a.Store.Collectors()...)
	srv := server.New(server.Options{
		Logger: log, Resolver: instance.NewResolver(a.DB), Ready: a.Ready, Metrics: metrics, ExternalURL: cfg.ExternalURL,
		SeparateManagement: mgmt != nil,
	})
	apiHandler, err := api.NewHandler(log, services(a)...)
	if err != nil {
		return err
	}
	for _, p := range apiHandler.Patterns() {
		srv.Handle(p, apiHandler)
	}
	started := []any{"version", version, "listen", ln.Addr().String(), "external_url", cfg.ExternalURL,
		"database", cfg.RedactedDatabase(), "startup", time.Since(began).Round(time.Millisecond)}
	if mgmt != nil {
		started = append(started, "management_listen", mgmt.Addr().String())
	}
	log.Info("castellan started", started...)
	if first.Created {
		printFirstStart(stdout, cfg, first)
	}
	go func() { // keep the planner's statistics current as the directory grows
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := a.DB.Optimize(ctx); err != nil && ctx.Err() == nil {
					log.Warn("could not refresh the query planner's statistics", "err", err)
				}
			}
		}
	}()
	serve := server.ServeOptions{TLS: tlsConfig, ShutdownTimeout: cfg.ShutdownTimeout, Logger: log, Limits: server.Limits{
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout, ReadTimeout: cfg.Server.ReadTimeout,
		IdleTimeout: cfg.Server.IdleTimeout, MaxHeaderBytes: cfg.Server.MaxHeaderBytes,
	}}
	if mgmt == nil {
		return server.Serve(ctx, ln, srv, serve)
	}
	// Both listeners stop together: on shutdown, or when either fails.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- server.Serve(ctx, ln, srv, serve) }()
	management := serve
	management.TLS = nil // plain HTTP, for a private network
	go func() { errc <- server.Serve(ctx, mgmt, srv.Management(), management) }()
	err = <-errc
	cancel()
	return errors.Join(err, <-errc)
}

// services lists every API service the server offers.
func services(a *app.App) []api.Service {
	auth := authn.New(a.DB, nil)
	return []api.Service{
		system.New(version),
		userapi.NewService(a.Store, user.NewCommands(a.Store, a.Hasher), auth, a.Keys, a.SendCode),
		usertypeapi.NewService(a.Store, auth),
		orgapi.NewService(a.Store, verifier(a), auth),
		instanceapi.NewService(a.Store, auth),
	}
}

// verifier checks domain challenges, fetching only from public addresses
// and the networks domains.verification_allowed_networks allows.
func verifier(a *app.App) *org.Verifier {
	v := org.NewVerifier(a.Config.Domains.VerificationNetworks()...)
	v.Log = a.Log
	return v
}

// printFirstStart tells the operator, once, where the new instance is and
// how its administrator signs in.
func printFirstStart(w io.Writer, cfg *config.Config, r setup.Result) {
	fmt.Fprintf(w, "\nCastellan created its first instance %q (domain %s).\n", cfg.FirstInstance.Name, cfg.FirstInstance.Domain)
	fmt.Fprintf(w, "  Sign in at:     %s/\n", cfg.ExternalURL)
	fmt.Fprintf(w, "  Administrator:  %s\n", r.AdminLogin)
	if r.GeneratedPassword != "" {
		fmt.Fprintf(w, "  Password:       %s\n", r.GeneratedPassword)
		fmt.Fprintf(w, "  This password is shown only now and must be changed at first sign-in.\n\n")
	} else {
		fmt.Fprintf(w, "  Password:       as configured in first_instance.admin.password\n\n")
	}
}

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, rest, err := loadConfig(args, stderr, "migrate")
	if err != nil {
		return err
	}
	if err := noArgs("migrate", rest); err != nil {
		return err
	}
	n, err := app.Migrate(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "applied %d migrations to %s\n", n, cfg.RedactedDatabase())
	return nil
}

func projections(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("projections: want list or rebuild NAME")
	}
	switch args[0] {
	case "list":
		for _, p := range app.Projections() {
			fmt.Fprintln(stdout, p.Name())
		}
		return nil
	case "rebuild":
		cfg, rest, err := loadConfig(args[1:], stderr, "projections rebuild NAME")
		if err != nil {
			return err
		}
		if len(rest) != 1 {
			return fmt.Errorf("projections rebuild: want one projection name, got %d arguments", len(rest))
		}
		a, err := app.Open(ctx, cfg, newLogger(cfg, stderr))
		if err != nil {
			return err
		}
		defer a.Close()
		began := time.Now()
		n, err := a.Store.Rebuild(ctx, rest[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rebuilt %s from %d events in %s\n", rest[0], n, time.Since(began).Round(time.Millisecond))
		return nil
	default:
		return fmt.Errorf("projections: unknown subcommand %q (want list or rebuild)", args[0])
	}
}

func keys(args []string, stdout io.Writer) error {
	if len(args) != 1 || args[0] != "generate" {
		return errors.New("keys: want generate")
	}
	k, err := keyring.GenerateKey()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, k.String())
	return nil
}
