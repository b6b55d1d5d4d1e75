package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/eventstore"
)

const auditUsage = "audit verify [INSTANCE_ID] | archive [INSTANCE_ID] | verify-archive FILE | restore FILE"

// errChainBroken fails the command when verification found a broken link.
var errChainBroken = errors.New("audit verify: the event log does not match its hash chain")

// audit holds the commands that work on the event log's tamper evidence
// and archives, in the server's database with the server's keys.
func audit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("audit: want " + auditUsage)
	}
	switch args[0] {
	case "verify":
		return auditVerify(ctx, args[1:], stdout, stderr)
	case "archive":
		return auditArchive(ctx, args[1:], stdout, stderr)
	case "verify-archive", "restore":
		return auditArchiveFile(ctx, args[0], args[1:], stdout, stderr)
	}
	return fmt.Errorf("audit: unknown subcommand %q (want %s)", args[0], auditUsage)
}

func auditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, rest, err := loadConfig(args, stderr, "audit verify [INSTANCE_ID]")
	if err != nil {
		return err
	}
	if len(rest) > 1 {
		return fmt.Errorf("audit verify: want at most one INSTANCE_ID, got %q", rest)
	}
	a, err := app.Open(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer a.Close()
	instances := rest
	if len(instances) == 0 {
		if instances, err = a.Store.ChainInstances(ctx); err != nil {
			return err
		}
	}
	signer := eventstore.KeyRingSigner(a.Keys)
	broken := false
	for _, id := range instances {
		began := time.Now()
		lastShown := began
		rep, err := a.Store.VerifyChain(ctx, id, signer, func(n int64) {
			if time.Since(lastShown) >= time.Second {
				lastShown = time.Now()
				fmt.Fprintf(stderr, "instance %s: %d events verified…\n", id, n)
			}
		})
		if err != nil {
			return err
		}
		took := time.Since(began)
		rate := float64(rep.Events) / max(took.Seconds(), 1e-9)
		fmt.Fprintf(stdout, "instance %s: %d events and %d signed checkpoints verified in %s (%.0f events/s)",
			id, rep.Events, rep.Checkpoints, took.Round(time.Millisecond), rate)
		if rep.Archived > 0 {
			fmt.Fprintf(stdout, "; the %d events before them are archived", rep.Archived)
		}
		if rep.Unchained > 0 {
			fmt.Fprintf(stdout, "; %d newest events not chained yet", rep.Unchained)
		}
		if rep.Break != nil {
			broken = true
			fmt.Fprintf(stdout, "\n  BROKEN at %v\n", rep.Break)
			continue
		}
		fmt.Fprintln(stdout, ": intact")
	}
	if broken {
		return errChainBroken
	}
	return nil
}

func auditArchive(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, rest, err := loadConfig(args, stderr, "audit archive [INSTANCE_ID]")
	if err != nil {
		return err
	}
	if len(rest) > 1 {
		return fmt.Errorf("audit archive: want at most one INSTANCE_ID, got %q", rest)
	}
	a, err := app.Open(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer a.Close()
	instance := ""
	if len(rest) == 1 {
		instance = rest[0]
	}
	done, err := a.ArchiveEvents(ctx, instance, time.Now())
	for _, d := range done {
		fmt.Fprintf(stdout, "instance %s: archived %d events created %s to %s in %s\n", d.InstanceID, d.Events,
			d.From.Format(time.RFC3339), d.To.Format(time.RFC3339), d.File)
	}
	if err == nil && len(done) == 0 {
		fmt.Fprintf(stdout, "nothing to archive: no signed checkpoint is older than audit.retention (%s)\n", cfg.Audit.Retention)
	}
	return err
}

func auditArchiveFile(ctx context.Context, command string, args []string, stdout, stderr io.Writer) error {
	cfg, rest, err := loadConfig(args, stderr, "audit "+command+" FILE")
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return fmt.Errorf("audit %s: want one FILE, got %q", command, rest)
	}
	a, err := app.Open(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer a.Close()
	file, err := os.Open(rest[0])
	if err != nil {
		return fmt.Errorf("audit %s: %w", command, err)
	}
	defer file.Close()
	f, err := eventstore.ReadArchive(file, eventstore.KeyRingSigner(a.Keys))
	var brk *eventstore.ChainBreak
	if errors.As(err, &brk) {
		fmt.Fprintf(stdout, "%s: BROKEN at %v\n", rest[0], brk)
		return errChainBroken
	}
	if err != nil {
		return fmt.Errorf("audit %s: %w", command, err)
	}
	h := f.Header
	fmt.Fprintf(stdout, "%s: instance %s, links %d to %d (%d events, created %s to %s), %d signed checkpoints: intact\n",
		rest[0], h.InstanceID, h.After.Count+1, h.Until.Count, f.Events(), h.Range[0].Format(time.RFC3339), h.Range[1].Format(time.RFC3339), f.Checkpoints)
	if command == "verify-archive" {
		return nil
	}
	if err := a.Store.Restore(ctx, f); err != nil {
		return fmt.Errorf("audit restore: %w", err)
	}
	fmt.Fprintf(stdout, "restored %d events of instance %s\n", f.Events(), h.InstanceID)
	return nil
}
