package session_test

import (
	"context"
	"crypto/rand"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"golang.org/x/crypto/argon2"

	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/config"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/pairbench"
	"github.com/castellan-iam/castellan/internal/session"
	"github.com/castellan-iam/castellan/internal/settings"
	"github.com/castellan-iam/castellan/internal/setup"
	"github.com/castellan-iam/castellan/internal/user"
)

// benchApp is a Castellan on SQLite with the default configuration
// (argon2id at its default cost) and a user alice with a password.
func benchApp(b *testing.B) (*app.App, setup.Result) {
	b.Helper()
	cfg, err := config.Load([]string{"--data-dir", b.TempDir(), "--listen", "127.0.0.1:1", "--external-url", "http://localhost"},
		func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	a, err := app.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	first, err := setup.Run(ctx, a.Store, a.Hasher, setup.FirstInstance{Name: "Bench", Domain: "localhost", OrgName: "First", AdminLoginName: "admin", AdminPassword: "admin-password-1"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := user.NewCommands(a.Store, a.Hasher).Create(ctx, eventstore.SystemEditor, first.InstanceID,
		user.New{OrgID: first.OrgID, Type: "human", LoginName: "alice", Password: alicePassword}); err != nil {
		b.Fatal(err)
	}
	return a, first
}

// BenchmarkPasswordSessionInProcess creates sessions with a user check and
// the right password through the session commands the Session API and the
// hosted login call, alternating with one raw argon2id verification at the
// configured cost in the same process: what Castellan's own work adds to
// the hash, without HTTP. Run with -cpu 1 for one core.
func BenchmarkPasswordSessionInProcess(b *testing.B) {
	a, first := benchApp(b)
	c := a.Sessions()
	p := a.Config.Passwords.Argon2id
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	pw := alicePassword
	// The process's CPU time of each side too: the machine's other load
	// disturbs it less than wall time.
	var opCPU, refCPU time.Duration
	pairbench.Alternate(b, "session", func(int) error {
		defer addCPU(&opCPU, processCPU())
		_, _, _, err := c.Create(ctx, first.InstanceID, session.Client{}, checks("alice", pw), session.Challenges{})
		return err
	}, "argon2id", func(int) error {
		defer addCPU(&refCPU, processCPU())
		argon2.IDKey([]byte(pw), salt, p.Iterations, p.MemoryKiB, p.Parallelism, 32)
		return nil
	})
	b.ReportMetric(float64(opCPU.Microseconds())/float64(b.N)/1000, "session-cpu-ms")
	b.ReportMetric(float64(refCPU.Microseconds())/float64(b.N)/1000, "argon2id-cpu-ms")
	b.ReportMetric(float64(opCPU)/float64(refCPU), "cpu-ratio")
}

// processCPU is the process's user and system time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func addCPU(sum *time.Duration, since time.Duration) { *sum += processCPU() - since }

// BenchmarkTOTPCheck adds a TOTP check to a session whose password was
// checked (as after the password step of a sign-in with MFA), alternating
// with the bare validation of the same code by the TOTP library: what the
// check costs beyond the arithmetic (reading and unsealing the seed,
// recording the step against replay, the session's event). The clock moves
// 30 s per iteration, so that every code is new.
func BenchmarkTOTPCheck(b *testing.B) {
	a, first := benchApp(b)
	now := time.Now()
	clock := func() time.Time { return now }
	creds := a.UserCommands().Credentials().WithClock(clock)
	alice, err := user.FindByLoginName(ctx, a.DB, first.InstanceID, "alice", "")
	if err != nil {
		b.Fatal(err)
	}
	reg, err := creds.AddTOTP(ctx, eventstore.SystemEditor, alice.Aggregate(), "Bench", "alice", a.Keys)
	if err != nil {
		b.Fatal(err)
	}
	code, _ := totp.GenerateCode(reg.Secret, now)
	if err := creds.VerifyTOTP(ctx, eventstore.SystemEditor, alice.Aggregate(), code, a.Keys); err != nil {
		b.Fatal(err)
	}
	c := session.NewCommands(session.Deps{Store: a.Store, Credentials: creds, OTP: creds, Keys: a.Keys,
		Settings: func(ctx context.Context, instanceID, orgID string) (settings.Settings, error) {
			return settings.Effective(ctx, a.DB, instanceID, orgID)
		}}).WithClock(clock)
	pw := alicePassword
	type pending struct{ id, token, code string }
	sessions := make([]pending, b.N)
	for i := range sessions {
		now = now.Add(30 * time.Second)
		s, token, _, err := c.Create(ctx, first.InstanceID, session.Client{}, checks("alice", pw), session.Challenges{})
		if err != nil {
			b.Fatal(err)
		}
		sessions[i] = pending{id: s.ID, token: token}
	}
	pairbench.Alternate(b, "check", func(i int) error {
		now = now.Add(30 * time.Second)
		code, _ := totp.GenerateCode(reg.Secret, now)
		sessions[i].code = code
		_, _, err := c.Update(ctx, first.InstanceID, sessions[i].id, sessions[i].token, session.Client{}, session.Checks{TOTP: &code}, session.Challenges{})
		return err
	}, "validate", func(i int) error {
		// The library's check of the same code (against the real clock:
		// the cost, not the answer, is what is compared).
		_ = totp.Validate(sessions[i].code, reg.Secret)
		return nil
	})
}
