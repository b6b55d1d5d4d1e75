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
	"time"

	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/config"
	"github.com/castellan-iam/castellan/internal/keyring"
	"github.com/castellan-iam/castellan/internal/server"
	"github.com/castellan-iam/castellan/internal/setup"
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
		// Request, never require, a client certificate: certificate-bound
		// OAuth clients (RFC 8705) present one, browsers and other clients
		// are not asked to choose one. Nothing is verified here: which
		// certificate a client may use is decided per instance and client
		// by the provider.
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, ClientAuth: tls.RequestClientCert}
	}
	var mtlsLn net.Listener
	if cfg.MTLS.Listen != "" {
		if mtlsLn, err = net.Listen("tcp", cfg.MTLS.Listen); err != nil {
			return fmt.Errorf("listen on %s (mtls.listen): %w", cfg.MTLS.Listen, err)
		}
		defer mtlsLn.Close()
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
	a.IsolateHashing()
	first, err := a.FirstStart(ctx)
	if err != nil {
		return err
	}
	srv, err := a.Server(version, mgmt != nil)
	if err != nil {
		return err
	}
	started := []any{"version", version, "listen", ln.Addr().String(), "external_url", cfg.ExternalURL,
		"database", cfg.RedactedDatabase(), "startup", time.Since(began).Round(time.Millisecond)}
	if mgmt != nil {
		started = append(started, "management_listen", mgmt.Addr().String())
	}
	if mtlsLn != nil {
		started = append(started, "mtls_listen", mtlsLn.Addr().String())
	}
	log.Info("castellan started", started...)
	if first.Created {
		printFirstStart(stdout, cfg, first)
	}
	go a.Maintain(ctx)
	go a.WatchSignIns(ctx)
	go a.ChainEvents(ctx)
	go a.KeepReports(ctx)
	serve := server.ServeOptions{TLS: tlsConfig, ShutdownTimeout: cfg.ShutdownTimeout, Logger: log, Limits: server.Limits{
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout, ReadTimeout: cfg.Server.ReadTimeout,
		IdleTimeout: cfg.Server.IdleTimeout, MaxHeaderBytes: cfg.Server.MaxHeaderBytes, MaxConnections: cfg.Server.MaxConnections,
	}}
	if mgmt == nil && mtlsLn == nil {
		return server.Serve(ctx, ln, srv, serve)
	}
	// The listeners stop together: on shutdown, or when one fails.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 3)
	n := 1
	go func() { errc <- server.Serve(ctx, ln, srv, serve) }()
	if mgmt != nil {
		n++
		management := serve
		management.TLS = nil                 // plain HTTP, for a private network
		management.Limits.MaxConnections = 0 // scrapes and probes are answered during a storm
		go func() { errc <- server.Serve(ctx, mgmt, srv.Management(), management) }()
	}
	if mtlsLn != nil {
		n++
		// The dedicated mTLS listener requires a certificate in the
		// handshake, and serves the same routes.
		mtls := serve
		mtls.TLS = tlsConfig.Clone()
		mtls.TLS.ClientAuth = tls.RequireAnyClientCert
		go func() { errc <- server.Serve(ctx, mtlsLn, srv, mtls) }()
	}
	err = <-errc
	cancel()
	for range n - 1 {
		err = errors.Join(err, <-errc)
	}
	return err
}

// printFirstStart tells the operator, once, where the new instance is and
// how its administrator signs in.
func printFirstStart(w io.Writer, cfg *config.Config, r setup.Result) {
	fmt.Fprintf(w, "\nCastellan created its first instance %q (domain %s).\n", cfg.FirstInstance.Name, cfg.FirstInstance.Domain)
	fmt.Fprintf(w, "  Sign in:        %s/ui/login/\n", cfg.ExternalURL)
	fmt.Fprintf(w, "  API:            %s/\n", cfg.ExternalURL)
	fmt.Fprintf(w, "  Administrator:  %s\n", r.AdminLogin)
	if r.GeneratedPassword != "" {
		fmt.Fprintf(w, "  Password:       %s\n", r.GeneratedPassword)
		fmt.Fprintf(w, "  This password is shown only now and must be changed at first sign-in.\n")
	} else {
		fmt.Fprintf(w, "  Password:       as configured in first_instance.admin.password\n")
	}
	fmt.Fprintf(w, "  Reach the API with a token:\n")
	fmt.Fprintf(w, "    export CASTELLAN_TOKEN=$(castellan tokens create %s)\n\n", r.AdminLogin)
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
