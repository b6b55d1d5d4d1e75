package user

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/userschema"
)

func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// TestOTPLockLocksTheUser: too many wrong codes lock the user in its
// state and the read model, as too many wrong passwords do; an unlock
// gives the codes back.
func TestOTPLockLocksTheUser(t *testing.T) {
	f := setup(t)
	pol := credential.DefaultPolicy
	pol.MaxOTPAttempts = 2
	f.users = f.users.WithPolicy(credential.FixedPolicy(pol))
	keys := testRing(t, 1)
	id := f.create(t, New{OrgID: "o1", Type: "human", LoginName: "ada", Password: "correct horse battery"})
	reg, err := f.users.AddTOTP(ctx, admin, inst, id, "Acme", keys)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(reg.URI, "Acme:ada") {
		t.Fatalf("the app's entry is not labelled with the issuer and login name: %s", reg.URI)
	}
	if err := f.users.VerifyTOTP(ctx, admin, inst, id, totpCode(t, reg.Secret, time.Now()), keys); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := f.users.CheckTOTP(ctx, inst, id, "000000", keys); !failure.Is(err, failure.KindUnauthenticated) {
			t.Fatalf("wrong code: %v", err)
		}
	}
	u, err := Get(ctx, f.DB(), inst, id, userschema.Admin)
	if err != nil || u.State != StateLocked {
		t.Fatalf("read model: %v %v", u.State, err)
	}
	// The state machine agrees: only a locked user can be unlocked.
	if err := f.users.Unlock(ctx, admin, inst, id); err != nil {
		t.Fatal(err)
	}
	if err := f.users.CheckTOTP(ctx, inst, id, totpCode(t, reg.Secret, time.Now().Add(30*time.Second)), keys); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	// A locked (or inactive) user gets the one answer, whatever the code.
	if err := f.users.Lock(ctx, admin, inst, id); err != nil {
		t.Fatal(err)
	}
	if err := f.users.CheckRecoveryCode(ctx, inst, id, "abcde-fghjk"); !failure.Is(err, failure.KindUnauthenticated) {
		t.Fatalf("locked: %v", err)
	}
}

// TestAuthenticatorsFollowTheUserType: a user type lists what its users
// may have; recovery codes come with any second factor; sign-in codes need
// a verified address.
func TestAuthenticatorsFollowTheUserType(t *testing.T) {
	f := setup(t)
	keys := testRing(t, 1)
	bot := f.create(t, New{OrgID: "o1", Type: "machine", LoginName: "bot", Traits: []byte(`{"name":"bot"}`)})
	_, err := f.users.AddTOTP(ctx, admin, inst, bot, "Acme", keys)
	if fe := wantKind(t, err, failure.KindFailedPrecondition); !strings.Contains(fe.Message, "totp") {
		t.Fatalf("message %q names no authenticator", fe.Message)
	}
	_, err = f.users.GenerateRecoveryCodes(ctx, admin, inst, bot)
	wantKind(t, err, failure.KindFailedPrecondition)
	wantKind(t, f.users.AddSignInCodeFactor(ctx, admin, inst, bot, credential.ChannelEmail), failure.KindFailedPrecondition)

	ada := f.create(t, New{OrgID: "o1", Type: "human", LoginName: "ada", Password: "correct horse battery", Email: "ada@example.com", Phone: "+41791234567", PhoneVerified: true})
	if _, err := f.users.GenerateRecoveryCodes(ctx, admin, inst, ada); err != nil {
		t.Fatal(err)
	}
	wantKind(t, f.users.AddSignInCodeFactor(ctx, admin, inst, ada, "fax"), failure.KindInvalidArgument)
	wantKind(t, f.users.AddSignInCodeFactor(ctx, admin, inst, ada, credential.ChannelEmail), failure.KindFailedPrecondition)
	if err := f.users.AddSignInCodeFactor(ctx, admin, inst, ada, credential.ChannelPhone); err != nil {
		t.Fatal(err)
	}
	var sentInstance, sentTo, sentCode string
	send := func(_ context.Context, c credential.OutgoingCode) error {
		if c.UserID != ada || c.Purpose != credential.PurposeSignIn {
			return fmt.Errorf("a sign-in code sent for user %q, %q", c.UserID, c.Purpose)
		}
		sentInstance, sentTo, sentCode = c.InstanceID, c.To, c.Code
		return nil
	}
	if err := f.users.SendSignInCode(ctx, inst, ada, credential.ChannelPhone, keys, send); err != nil {
		t.Fatal(err)
	}
	if sentInstance != inst || sentTo != "+41791234567" {
		t.Fatalf("sent to %q of instance %q", sentTo, sentInstance)
	}
	if err := f.users.CheckSignInCode(ctx, inst, ada, credential.ChannelPhone, sentCode, keys); err != nil {
		t.Fatal(err)
	}
	got, err := f.users.Authenticators(ctx, inst, ada)
	if err != nil || !got.HasPassword || !got.SignInCodeSMS || got.SignInCodeEmail || got.RecoveryCodesLeft != 10 || got.TOTP {
		t.Fatalf("%+v %v", got, err)
	}
}
