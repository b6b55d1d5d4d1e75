package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/eventstore"
)

const auditVerifyUsage = "audit verify [INSTANCE_ID]"

// errChainBroken fails the command when verification found a broken link.
var errChainBroken = errors.New("audit verify: the event log does not match its hash chain")

// audit holds the commands that work on the event log's tamper evidence,
// in the server's database with the server's keys.
func audit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		return errors.New("audit: want " + auditVerifyUsage)
	}
	cfg, rest, err := loadConfig(args[1:], stderr, auditVerifyUsage)
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
