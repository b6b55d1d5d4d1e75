package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/setup"
)

const adminRecoverUsage = "admin recover LOGIN_NAME [ORG_ID]"

// admin holds the break-glass commands for operators with the server's
// database and keys.
func admin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "recover" {
		return errors.New("admin: want " + adminRecoverUsage)
	}
	cfg, rest, err := loadConfig(args[1:], stderr, adminRecoverUsage)
	if err != nil {
		return err
	}
	if len(rest) < 1 || len(rest) > 2 {
		return errors.New("admin recover: want LOGIN_NAME and optionally the ORG_ID to create the user in")
	}
	a, err := app.Open(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer a.Close()
	inst, err := instance.NewResolver(a.DB).ByHost(ctx, cfg.FirstInstance.Domain)
	if err != nil {
		return fmt.Errorf("admin recover: the instance of %s: %w", cfg.FirstInstance.Domain, err)
	}
	r := setup.Recovery{InstanceID: inst.ID, LoginName: rest[0]}
	if len(rest) == 2 {
		r.OrgID = rest[1]
	}
	got, err := setup.Recover(ctx, a.Store, a.UserCommands(), r, time.Now())
	if err != nil {
		return fmt.Errorf("admin recover: %w", err)
	}
	what := "restored"
	if got.Created {
		what = "created"
	}
	_, err = fmt.Fprintf(stdout, `Instance owner %s: %s (user %s, organization %s, instance %s)
One-time password (must be changed at sign-in): %s
Personal access token (valid %s): %s
`, what, got.LoginName, got.UserID, got.OrgID, inst.Name, got.Password, setup.RecoveryTokenLifetime, got.Token)
	return err
}
