package user

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/keyring"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/password"
	"github.com/castellan-iam/castellan/internal/userschema"
)

func TestSignInAndLockout(t *testing.T) {
	f := setup(t)
	pol := credential.DefaultPolicy
	pol.MaxPasswordAttempts = 3
	f.users = f.users.WithPolicy(credential.FixedPolicy(pol))
	id := f.create(t, New{OrgID: "o1", Type: "human", LoginName: "Ada", Password: "correct horse battery"})
	if got, err := f.users.CheckPassword(ctx, inst, "ada", "correct horse battery"); err != nil || got != id {
		t.Fatalf("right password: %q %v", got, err)
	}
	for _, tc := range []struct{ login, pw string }{{"ada", "wrong one!"}, {"nobody", "correct horse battery"}, {"ada", ""}} {
		_, err := f.users.CheckPassword(ctx, inst, tc.login, tc.pw)
		if fe := wantKind(t, err, failure.KindUnauthenticated); fe.Message != "the login name or password is wrong" {
			t.Fatalf("%s: message %q reveals more than it should", tc.login, fe.Message)
		}
	}
	// Two failures so far; the third in a row locks.
	f.Given(t)
	_, _ = f.users.CheckPassword(ctx, inst, "ada", "still wrong")
	f.Then(t, &credential.PasswordCheckFailed{}, &credential.PasswordLocked{})
	if _, err := f.users.CheckPassword(ctx, inst, "ada", "correct horse battery"); !failure.Is(err, failure.KindUnauthenticated) {
		t.Fatalf("a locked user signed in: %v", err)
	}
	if err := f.users.Unlock(ctx, admin, inst, id); err != nil {
		t.Fatal(err)
	}
	if _, err := f.users.CheckPassword(ctx, inst, "ada", "correct horse battery"); err != nil {
		t.Fatalf("after unlock: %v", err)
	}

	// An administrator's unlock ends a run of wrong passwords too.
	for range 2 {
		_, _ = f.users.CheckPassword(ctx, inst, "ada", "wrong again")
	}
	if err := f.users.Lock(ctx, admin, inst, id); err != nil {
		t.Fatal(err)
	}
	if err := f.users.Unlock(ctx, admin, inst, id); err != nil {
		t.Fatal(err)
	}
	f.Given(t)
	_, _ = f.users.CheckPassword(ctx, inst, "ada", "one more wrong")
	f.Then(t, &credential.PasswordCheckFailed{})
}

func TestSignInUpgradesTheHash(t *testing.T) {
	f := setup(t)
	id := f.create(t, New{OrgID: "o1", Type: "human", LoginName: "ada", Password: "correct horse battery"})
	old := passwordHash(t, f.DB(), id)
	strongerHasher := password.NewHasher(password.Params{MemoryKiB: 9216, Iterations: 1, Parallelism: 1}, 1)
	stronger := NewCommands(f.Store.Store, strongerHasher)
	if _, err := stronger.CheckPassword(ctx, inst, "ada", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if now := passwordHash(t, f.DB(), id); now == old || strongerHasher.NeedsRehash(now) {
		t.Fatalf("hash not upgraded: %s", now)
	}
}

func TestChangePassword(t *testing.T) {
	f := setup(t)
	pol := credential.DefaultPolicy
	pol.RequireDigit = true
	f.users = f.users.WithPolicy(credential.FixedPolicy(pol))
	id := f.create(t, New{OrgID: "o1", Type: "human", LoginName: "ada", Password: "correct horse 1", ChangeRequired: true})
	wantKind(t, f.users.ChangePassword(ctx, inst, id, "wrong", "new password 2"), failure.KindInvalidArgument)
	fe := wantKind(t, f.users.ChangePassword(ctx, inst, id, "correct horse 1", "no digits here"), failure.KindInvalidArgument)
	if fe.Field != "password" {
		t.Fatalf("complexity error names %q", fe.Field)
	}
	if err := f.users.ChangePassword(ctx, inst, id, "correct horse 1", "new password 2"); err != nil {
		t.Fatal(err)
	}
	u, _ := Get(ctx, f.DB(), inst, id, userschema.Admin)
	if u.PasswordChangeRequired {
		t.Fatal("change still required after a change")
	}
	if _, err := f.users.CheckPassword(ctx, inst, "ada", "new password 2"); err != nil {
		t.Fatal(err)
	}
}

type outbox struct {
	mu   sync.Mutex
	sent map[string]string
}

func (o *outbox) send(_ context.Context, c credential.OutgoingCode) error {
	if c.InstanceID != inst {
		return fmt.Errorf("a code of instance %s sent for instance %s", inst, c.InstanceID)
	}
	if c.UserID == "" || c.Purpose != credential.PurposeVerify {
		return fmt.Errorf("a contact code sent for user %q, %q", c.UserID, c.Purpose)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent[c.Channel+":"+c.To] = c.Code
	return nil
}

func TestContactVerification(t *testing.T) {
	f := setup(t)
	clock := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	f.users = f.users.WithClock(func() time.Time { return clock })
	key, _ := keyring.GenerateKey()
	keys, _ := keyring.New(key)
	box := &outbox{sent: map[string]string{}}
	id := f.create(t, New{OrgID: "o1", Type: "human", LoginName: "ada", Email: "ada@example.com", Phone: "+41791234567"})

	wantKind(t, f.users.VerifyContact(ctx, admin, inst, id, credential.ChannelEmail, "123456", keys), failure.KindFailedPrecondition)
	if err := f.users.SendContactCode(ctx, admin, inst, id, credential.ChannelEmail, keys, box.send); err != nil {
		t.Fatal(err)
	}
	code := box.sent["email:ada@example.com"]
	if len(code) != 6 {
		t.Fatalf("code %q", code)
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	wantKind(t, f.users.VerifyContact(ctx, admin, inst, id, credential.ChannelEmail, wrong, keys), failure.KindInvalidArgument)
	if err := f.users.VerifyContact(ctx, admin, inst, id, credential.ChannelEmail, code, keys); err != nil {
		t.Fatal(err)
	}
	if u, _ := Get(ctx, f.DB(), inst, id, userschema.Admin); !u.EmailVerified || u.PhoneVerified {
		t.Fatalf("verified flags: email %v phone %v", u.EmailVerified, u.PhoneVerified)
	}
	// A used code cannot be used again.
	wantKind(t, f.users.VerifyContact(ctx, admin, inst, id, credential.ChannelEmail, code, keys), failure.KindFailedPrecondition)

	// Phone: attempts run out, then a fresh code expires.
	if err := f.users.SendContactCode(ctx, admin, inst, id, credential.ChannelPhone, keys, box.send); err != nil {
		t.Fatal(err)
	}
	phoneCode := box.sent["phone:+41791234567"]
	for range credential.DefaultPolicy.CodeAttempts {
		_ = f.users.VerifyContact(ctx, admin, inst, id, credential.ChannelPhone, "x", keys)
	}
	wantKind(t, f.users.VerifyContact(ctx, admin, inst, id, credential.ChannelPhone, phoneCode, keys), failure.KindFailedPrecondition)
	if err := f.users.SendContactCode(ctx, admin, inst, id, credential.ChannelPhone, keys, box.send); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(credential.DefaultPolicy.PhoneCodeLifetime)
	wantKind(t, f.users.VerifyContact(ctx, admin, inst, id, credential.ChannelPhone, box.sent["phone:+41791234567"], keys), failure.KindFailedPrecondition)

	// Codes are sealed in the event log, never stored in clear.
	events, err := f.Query(ctx, eventstoreFilter(id))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if p, ok := e.Payload.(*credential.ContactCodeAdded); ok && string(p.Code) == code {
			t.Fatal("a verification code is stored in clear")
		}
	}
	wantKind(t, f.users.SendContactCode(ctx, admin, inst, id, "pigeon", keys, box.send), failure.KindInvalidArgument)
}

func TestUsersOfADeactivatedOrganizationCannotSignIn(t *testing.T) {
	f := setup(t)
	f.create(t, New{OrgID: "o1", Type: "human", LoginName: "ada", Password: "correct horse battery"})
	toggle := func(p eventstore.Payload) {
		t.Helper()
		if _, err := f.Push(ctx, admin, eventstore.Append{Aggregate: eventstore.Aggregate{InstanceID: inst, Type: org.AggregateType, ID: "o1", Owner: "o1"},
			ExpectedSequence: eventstore.AnySequence, Events: []eventstore.Payload{p}}); err != nil {
			t.Fatal(err)
		}
	}
	toggle(&org.Deactivated{})
	if _, err := f.users.CheckPassword(ctx, inst, "ada", "correct horse battery"); !failure.Is(err, failure.KindUnauthenticated) {
		t.Fatalf("sign-in in a deactivated organization: %v", err)
	}
	toggle(&org.Reactivated{})
	if _, err := f.users.CheckPassword(ctx, inst, "ada", "correct horse battery"); err != nil {
		t.Fatalf("after reactivation: %v", err)
	}
}
