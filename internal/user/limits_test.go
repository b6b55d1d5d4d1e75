package user

import (
	"context"
	"testing"

	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/keyring"
	"github.com/castellan-iam/castellan/internal/userschema"
)

// TestChangingOwnPasswordCountsTowardsTheLock: the current password asked
// by a password change is a password check like sign-in's, so a holder of
// the user's token cannot guess it without limit.
func TestChangingOwnPasswordCountsTowardsTheLock(t *testing.T) {
	f := setup(t)
	id := f.create(t, New{OrgID: "o1", Type: "human", LoginName: "ada", Password: "correct horse battery"})
	for i := range credential.DefaultPolicy.MaxPasswordAttempts {
		err := f.users.ChangePassword(ctx, inst, id, "guess number "+string(rune('a'+i)), "a brand new password")
		wantKind(t, err, failure.KindInvalidArgument)
	}
	m, err := load(ctx, f.Store.Store, inst, id)
	if err != nil {
		t.Fatal(err)
	}
	if m.State != StateLocked {
		t.Fatalf("state after %d wrong current passwords: %s", credential.DefaultPolicy.MaxPasswordAttempts, m.State)
	}
	if _, err := f.users.CheckPassword(ctx, inst, "ada", "correct horse battery"); !failure.Is(err, failure.KindUnauthenticated) {
		t.Fatalf("a locked user signs in: %v", err)
	}

	// A right one resets the count, as at sign-in.
	other := f.create(t, New{OrgID: "o1", Type: "human", LoginName: "grace", Password: "correct horse battery"})
	for range credential.DefaultPolicy.MaxPasswordAttempts - 1 {
		_ = f.users.ChangePassword(ctx, inst, other, "wrong", "a brand new password")
	}
	if err := f.users.ChangePassword(ctx, inst, other, "correct horse battery", "a brand new password"); err != nil {
		t.Fatal(err)
	}
	_ = f.users.ChangePassword(ctx, inst, other, "wrong", "another new password")
	if m, _ := load(ctx, f.Store.Store, inst, other); m.State != StateActive {
		t.Fatalf("state %s after a success reset the count", m.State)
	}
}

// TestVerificationCodesAreRateLimited: a user receives at most CodeSends
// codes per channel within CodeWindow, and a new code does not reset the
// budget of wrong guesses.
func TestVerificationCodesAreRateLimited(t *testing.T) {
	f := setup(t)
	key, _ := keyring.GenerateKey()
	keys, _ := keyring.New(key)
	box := &outbox{sent: map[string]string{}}
	id := f.create(t, New{OrgID: "o1", Type: "human", LoginName: "ada", Email: "ada@example.com", Phone: "+41791234567"})

	for range credential.DefaultPolicy.CodeSends {
		if err := f.users.SendContactCode(ctx, admin, inst, id, credential.ChannelEmail, keys, box.send); err != nil {
			t.Fatal(err)
		}
	}
	wantKind(t, f.users.SendContactCode(ctx, admin, inst, id, credential.ChannelEmail, keys, box.send), failure.KindResourceExhausted)
	// The other channel has its own budget.
	if err := f.users.SendContactCode(ctx, admin, inst, id, credential.ChannelPhone, keys, box.send); err != nil {
		t.Fatal(err)
	}

	// Guesses spread over two codes add up.
	first := credential.DefaultPolicy.CodeAttempts - 2
	for range first {
		wantKind(t, f.users.VerifyContact(ctx, admin, inst, id, credential.ChannelPhone, "not-a-code", keys), failure.KindInvalidArgument)
	}
	if err := f.users.SendContactCode(ctx, admin, inst, id, credential.ChannelPhone, keys, box.send); err != nil {
		t.Fatal(err)
	}
	for range credential.DefaultPolicy.CodeAttempts - first {
		wantKind(t, f.users.VerifyContact(ctx, admin, inst, id, credential.ChannelPhone, "not-a-code", keys), failure.KindInvalidArgument)
	}
	right := box.sent["phone:+41791234567"]
	wantKind(t, f.users.VerifyContact(ctx, admin, inst, id, credential.ChannelPhone, right, keys), failure.KindResourceExhausted)
}

// TestPolicyIsAskedPerOrganization: the policy comes from a source per
// instance and organization, ready for settings with organization
// overrides.
func TestPolicyIsAskedPerOrganization(t *testing.T) {
	f := setup(t)
	strict := credential.DefaultPolicy
	strict.MinPasswordLength = 20
	f.users = f.users.WithPolicy(func(_ context.Context, instanceID, orgID string) (credential.Policy, error) {
		if instanceID == inst && orgID == "o2" {
			return strict, nil
		}
		return credential.DefaultPolicy, nil
	})
	f.create(t, New{OrgID: "o1", Type: "human", LoginName: "ada", Password: "twelve chars"})
	_, err := f.users.Create(ctx, admin, inst, New{OrgID: "o2", Type: "human", LoginName: "grace", Password: "twelve chars"})
	wantKind(t, err, failure.KindInvalidArgument)
	id := f.create(t, New{OrgID: "o2", Type: "human", LoginName: "grace", Password: "twenty characters long!"})
	wantKind(t, f.users.SetPassword(ctx, admin, inst, id, "twelve chars", false), failure.KindInvalidArgument)
}

// TestACodeProvesOnlyTheAddressItWasSentTo: after the address changes, a
// code sent to the old one verifies nothing.
func TestACodeProvesOnlyTheAddressItWasSentTo(t *testing.T) {
	f := setup(t)
	key, _ := keyring.GenerateKey()
	keys, _ := keyring.New(key)
	box := &outbox{sent: map[string]string{}}
	id := f.create(t, New{OrgID: "o1", Type: "human", LoginName: "ada", Email: "old@example.com"})
	if err := f.users.SendContactCode(ctx, admin, inst, id, credential.ChannelEmail, keys, box.send); err != nil {
		t.Fatal(err)
	}
	email := "new@example.com"
	if err := f.users.Update(ctx, admin, inst, id, userschema.Admin, Patch{Email: &email}); err != nil {
		t.Fatal(err)
	}
	err := f.users.VerifyContact(ctx, admin, inst, id, credential.ChannelEmail, box.sent["email:old@example.com"], keys)
	wantKind(t, err, failure.KindFailedPrecondition)
	if u, _ := Get(ctx, f.DB(), inst, id, userschema.Admin); u.EmailVerified {
		t.Fatal("the new address is verified by the old address's code")
	}
}
