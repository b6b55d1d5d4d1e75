package credential

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// outbox records the codes sent, as the notifiers would deliver them.
type outbox struct {
	mu   sync.Mutex
	sent []string // channel:to:code
}

func (o *outbox) send(_ context.Context, c OutgoingCode) error {
	if c.Purpose != PurposeSignIn {
		return fmt.Errorf("a sign-in code sent for %q", c.Purpose)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent = append(o.sent, c.Channel+":"+c.To+":"+c.Code)
	return nil
}

// last returns the code last sent to channel:to.
func (o *outbox) last(t *testing.T, channel, to string) string {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.sent) - 1; i >= 0; i-- {
		if code, ok := strings.CutPrefix(o.sent[i], channel+":"+to+":"); ok {
			return code
		}
	}
	t.Fatalf("no code sent to %s %s", channel, to)
	return ""
}

// TestOTPLockout: wrong TOTP, sign-in and recovery codes count together
// towards one lock; a success or an unlock ends the run.
func TestOTPLockout(t *testing.T) {
	pol := DefaultPolicy
	pol.MaxOTPAttempts = 3
	each(t, pol, func(t *testing.T, f *fixture) {
		secret := registerTOTP(t, f)
		codes, err := f.cmds.GenerateRecoveryCodes(ctx, eventstore.SystemEditor, f.user)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.cmds.AddSignInCodeFactor(ctx, eventstore.SystemEditor, f.user, ChannelEmail); err != nil {
			t.Fatal(err)
		}
		var out outbox
		if err := f.cmds.SendSignInCode(ctx, f.user, ChannelEmail, "ada@example.com", f.keys, out.send); err != nil {
			t.Fatal(err)
		}
		f.given(t)
		f.clock.advance(time.Minute)
		wrongTOTP := func() error {
			return f.cmds.CheckTOTP(ctx, f.user, otherCode(codeAt(t, secret, f.clock.now())), f.keys)
		}

		// Two wrong codes, then a success: the run is over.
		wantWrongCode(t, wrongTOTP())
		wantWrongCode(t, f.cmds.CheckRecoveryCode(ctx, f.user, "zzzzz-zzzzz"))
		if err := f.cmds.CheckTOTP(ctx, f.user, codeAt(t, secret, f.clock.now()), f.keys); err != nil {
			t.Fatal(err)
		}
		f.then(t, &TOTPCheckFailed{}, &RecoveryCodeCheckFailed{}, &TOTPCheckSucceeded{Step: step(f.clock.now())})

		// Three wrong ones of three kinds in a row lock.
		f.clock.advance(time.Minute)
		wantWrongCode(t, f.cmds.CheckRecoveryCode(ctx, f.user, "zzzzz-zzzzz"))
		wantWrongCode(t, wrongTOTP())
		f.then(t, &RecoveryCodeCheckFailed{}, &TOTPCheckFailed{})
		wantWrongCode(t, f.cmds.CheckSignInCode(ctx, f.user, ChannelEmail, otherCode(out.last(t, ChannelEmail, "ada@example.com")), f.keys))
		f.then(t, &SignInCodeCheckFailed{Channel: ChannelEmail}, &OTPLocked{})

		// Locked: even right codes fail, and nothing more is recorded.
		wantWrongCode(t, f.cmds.CheckTOTP(ctx, f.user, codeAt(t, secret, f.clock.now()), f.keys))
		wantWrongCode(t, f.cmds.CheckRecoveryCode(ctx, f.user, codes[0]))
		wantWrongCode(t, f.cmds.CheckSignInCode(ctx, f.user, ChannelEmail, out.last(t, ChannelEmail, "ada@example.com"), f.keys))
		f.then(t)

		// An administrator's unlock gives the attempts back.
		f.push(t, &unlocked{})
		wantWrongCode(t, wrongTOTP())
		wantWrongCode(t, wrongTOTP())
		f.then(t, &TOTPCheckFailed{}, &TOTPCheckFailed{})
		if err := f.cmds.CheckRecoveryCode(ctx, f.user, codes[0]); err != nil {
			t.Fatal(err)
		}
		f.appended(t)
		wantWrongCode(t, wrongTOTP())
		wantWrongCode(t, wrongTOTP())
		f.then(t, &TOTPCheckFailed{}, &TOTPCheckFailed{})

		// A failed registration counts too.
		if err := f.cmds.RemoveTOTP(ctx, eventstore.SystemEditor, f.user); err != nil {
			t.Fatal(err)
		}
		if _, err := f.cmds.AddTOTP(ctx, eventstore.SystemEditor, f.user, "Acme", "ada", f.keys); err != nil {
			t.Fatal(err)
		}
		f.given(t)
		wantKind(t, f.cmds.VerifyTOTP(ctx, eventstore.SystemEditor, f.user, "000000", f.keys), failure.KindInvalidArgument)
		f.then(t, &TOTPCheckFailed{Registration: true}, &OTPLocked{})
	})
}

var recoveryCodeForm = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$`)

func TestRecoveryCodes(t *testing.T) {
	each(t, DefaultPolicy, func(t *testing.T, f *fixture) {
		wantWrongCode(t, f.cmds.CheckRecoveryCode(ctx, f.user, "abcde-fghjk"))
		f.then(t) // no codes: nothing to count
		wantKind(t, f.cmds.RemoveRecoveryCodes(ctx, eventstore.SystemEditor, f.user), failure.KindFailedPrecondition)

		codes, err := f.cmds.GenerateRecoveryCodes(ctx, eventstore.SystemEditor, f.user)
		if err != nil {
			t.Fatal(err)
		}
		if len(codes) != 10 {
			t.Fatalf("%d codes", len(codes))
		}
		for i, c := range codes {
			if !recoveryCodeForm.MatchString(c) || slices.Contains(codes[:i], c) {
				t.Fatalf("code %q is malformed or repeated", c)
			}
		}
		events := f.appended(t)
		generated, ok := events[0].Payload.(*RecoveryCodesGenerated)
		if len(events) != 1 || !ok || len(generated.Hashes) != 10 {
			t.Fatalf("appended %v", events)
		}
		stored := storedPayload(t, f, "user.recovery_codes.generated")
		for _, c := range codes {
			if strings.Contains(stored, c) || strings.Contains(stored, strings.ReplaceAll(c, "-", "")) {
				t.Fatalf("the stored event holds the code %s in clear", c)
			}
		}
		if a, _ := f.cmds.Authenticators(ctx, f.user); a.RecoveryCodesLeft != 10 {
			t.Fatalf("left: %d", a.RecoveryCodesLeft)
		}

		// As typed from paper: upper case, no hyphen, O for 0 and L for 1.
		typed := strings.NewReplacer("0", "O", "1", "L", "-", " ").Replace(strings.ToUpper(codes[3]))
		if err := f.cmds.CheckRecoveryCode(ctx, f.user, typed); err != nil {
			t.Fatalf("%q (%q): %v", typed, codes[3], err)
		}
		f.then(t, &RecoveryCodeUsed{Hash: generated.Hashes[3]})
		wantWrongCode(t, f.cmds.CheckRecoveryCode(ctx, f.user, codes[3]))
		f.then(t, &RecoveryCodeCheckFailed{})
		if a, _ := f.cmds.Authenticators(ctx, f.user); a.RecoveryCodesLeft != 9 {
			t.Fatalf("left: %d", a.RecoveryCodesLeft)
		}
		// A code of one user is nothing to another.
		other := f.user
		other.ID = "u2"
		f.user = other
		f.push(t, &userAdded{})
		if _, err := f.cmds.GenerateRecoveryCodes(ctx, eventstore.SystemEditor, other); err != nil {
			t.Fatal(err)
		}
		f.given(t)
		wantWrongCode(t, f.cmds.CheckRecoveryCode(ctx, other, codes[4]))
		f.then(t, &RecoveryCodeCheckFailed{})
		f.user.ID = "u1"

		// Generating again replaces every code.
		fresh, err := f.cmds.GenerateRecoveryCodes(ctx, eventstore.SystemEditor, f.user)
		if err != nil {
			t.Fatal(err)
		}
		f.given(t)
		wantWrongCode(t, f.cmds.CheckRecoveryCode(ctx, f.user, codes[5]))
		f.then(t, &RecoveryCodeCheckFailed{})
		if err := f.cmds.CheckRecoveryCode(ctx, f.user, fresh[5]); err != nil {
			t.Fatal(err)
		}
		f.appended(t)
		if err := f.cmds.RemoveRecoveryCodes(ctx, eventstore.SystemEditor, f.user); err != nil {
			t.Fatal(err)
		}
		f.then(t, &RecoveryCodesRemoved{})
		wantWrongCode(t, f.cmds.CheckRecoveryCode(ctx, f.user, fresh[6]))
		f.then(t)
	})
}

func TestNormalizeRecoveryCode(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"abcde-fghjk", "abcdefghjk"},
		{" ABCDE FGHJK ", "abcdefghjk"},
		{"oooooiiiii", "0000011111"},
		{"LLLLL-lllll", "1111111111"},
		{"abcde-fghj", ""},                           // too short
		{"abcde-fghjkm", ""},                         // too long
		{"abcde-fghju", ""},                          // u is not in the alphabet
		{"abcde_fghjk", ""},                          // nor is _
		{"abcdé-fghjk", ""},                          // nor anything beyond ASCII
		{strings.Repeat("-", 65) + "abcdefghjk", ""}, // too much input
	} {
		got, ok := normalizeRecoveryCode(tc.in)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("normalizeRecoveryCode(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}

func FuzzNormalizeRecoveryCode(f *testing.F) {
	for _, s := range []string{"abcde-fghjk", "ABCDE FGHJK", "oooooIIIII", "", "-----", "abcdé-fghjk", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := normalizeRecoveryCode(s)
		if !ok {
			if got != "" {
				t.Fatalf("refused %q but returned %q", s, got)
			}
			return
		}
		if len(got) != recoveryCodeLength {
			t.Fatalf("%q normalized to %q", s, got)
		}
		for i := 0; i < len(got); i++ {
			if !strings.Contains(recoveryCodeAlphabet, got[i:i+1]) {
				t.Fatalf("%q normalized to %q, outside the alphabet", s, got)
			}
		}
		if again, ok := normalizeRecoveryCode(got); !ok || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, got, again)
		}
		display := strings.ToUpper(got[:5]) + "-" + got[5:]
		if back, ok := normalizeRecoveryCode(display); !ok || back != got {
			t.Fatalf("display form %q of %q normalizes to %q", display, got, back)
		}
	})
}

func TestSignInCodes(t *testing.T) {
	pol := DefaultPolicy
	pol.CodeSends, pol.CodeAttempts = 3, 2
	each(t, pol, func(t *testing.T, f *fixture) {
		var out outbox
		const to = "ada@example.com"
		// Not opted in: nothing is sent, and a code proves nothing.
		wantKind(t, f.cmds.SendSignInCode(ctx, f.user, ChannelEmail, to, f.keys, out.send), failure.KindFailedPrecondition)
		wantWrongCode(t, f.cmds.CheckSignInCode(ctx, f.user, ChannelEmail, "123456", f.keys))
		f.then(t)
		wantKind(t, f.cmds.AddSignInCodeFactor(ctx, eventstore.SystemEditor, f.user, "fax"), failure.KindInvalidArgument)
		if err := f.cmds.AddSignInCodeFactor(ctx, eventstore.SystemEditor, f.user, ChannelEmail); err != nil {
			t.Fatal(err)
		}
		f.then(t, &SignInCodeFactorAdded{Channel: ChannelEmail})
		wantKind(t, f.cmds.AddSignInCodeFactor(ctx, eventstore.SystemEditor, f.user, ChannelEmail), failure.KindAlreadyExists)
		if a, _ := f.cmds.Authenticators(ctx, f.user); !a.SignInCodeEmail || a.SignInCodeSMS {
			t.Fatalf("%+v", a)
		}

		if err := f.cmds.SendSignInCode(ctx, f.user, ChannelEmail, to, f.keys, out.send); err != nil {
			t.Fatal(err)
		}
		code := out.last(t, ChannelEmail, to)
		if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
			t.Fatalf("code %q", code)
		}
		events := f.appended(t)
		sent, ok := events[0].Payload.(*SignInCodeSent)
		if len(events) != 1 || !ok || sent.To != to || !sent.ExpiresAt.Equal(f.clock.now().Add(5*time.Minute)) {
			t.Fatalf("appended %v", events)
		}
		if strings.Contains(storedPayload(t, f, "user.signin_code.sent"), code) {
			t.Fatal("the stored event holds the code in clear")
		}
		// A contact code is no sign-in code.
		if err := f.cmds.SendContactCode(ctx, eventstore.SystemEditor, f.user, ChannelEmail, to, f.keys, func(context.Context, OutgoingCode) error { return nil }); err != nil {
			t.Fatal(err)
		}
		f.given(t)
		wantWrongCode(t, f.cmds.CheckSignInCode(ctx, f.user, ChannelEmail, otherCode(code), f.keys))
		f.then(t, &SignInCodeCheckFailed{Channel: ChannelEmail})
		if err := f.cmds.CheckSignInCode(ctx, f.user, ChannelEmail, code, f.keys); err != nil {
			t.Fatal(err)
		}
		f.then(t, &SignInCodeCheckSucceeded{Channel: ChannelEmail})
		wantWrongCode(t, f.cmds.CheckSignInCode(ctx, f.user, ChannelEmail, code, f.keys))
		f.then(t, &SignInCodeCheckFailed{Channel: ChannelEmail})

		// Expired after five minutes.
		if err := f.cmds.SendSignInCode(ctx, f.user, ChannelEmail, to, f.keys, out.send); err != nil {
			t.Fatal(err)
		}
		f.given(t)
		f.clock.advance(5 * time.Minute)
		wantWrongCode(t, f.cmds.CheckSignInCode(ctx, f.user, ChannelEmail, out.last(t, ChannelEmail, to), f.keys))
		f.then(t, &SignInCodeCheckFailed{Channel: ChannelEmail})

		// Void after CodeAttempts wrong ones.
		if err := f.cmds.SendSignInCode(ctx, f.user, ChannelEmail, to, f.keys, out.send); err != nil {
			t.Fatal(err)
		}
		code = out.last(t, ChannelEmail, to)
		for range 2 {
			wantWrongCode(t, f.cmds.CheckSignInCode(ctx, f.user, ChannelEmail, otherCode(code), f.keys))
		}
		wantWrongCode(t, f.cmds.CheckSignInCode(ctx, f.user, ChannelEmail, code, f.keys))

		// Three sends within the hour, then no more until it has passed.
		wantKind(t, f.cmds.SendSignInCode(ctx, f.user, ChannelEmail, to, f.keys, out.send), failure.KindResourceExhausted)
		f.clock.advance(time.Hour)
		if err := f.cmds.SendSignInCode(ctx, f.user, ChannelEmail, to, f.keys, out.send); err != nil {
			t.Fatal(err)
		}

		// Opting out voids the code sent.
		code = out.last(t, ChannelEmail, to)
		if err := f.cmds.RemoveSignInCodeFactor(ctx, eventstore.SystemEditor, f.user, ChannelEmail); err != nil {
			t.Fatal(err)
		}
		f.given(t)
		wantWrongCode(t, f.cmds.CheckSignInCode(ctx, f.user, ChannelEmail, code, f.keys))
		f.then(t)
		wantKind(t, f.cmds.RemoveSignInCodeFactor(ctx, eventstore.SystemEditor, f.user, ChannelEmail), failure.KindFailedPrecondition)
	})
}

// TestLoginPolicyAllowsAuthenticators: an authenticator the policy does
// not allow cannot be added, and does not sign in.
func TestLoginPolicyAllowsAuthenticators(t *testing.T) {
	for _, tc := range []struct {
		allowed []string
		name    string
		want    bool
	}{
		{nil, AuthTOTP, true},
		{[]string{}, AuthRecoveryCodes, true},
		{[]string{AuthPassword, AuthTOTP}, AuthTOTP, true},
		{[]string{AuthPassword, AuthTOTP}, AuthOTPEmail, false},
		{[]string{AuthPassword, AuthTOTP}, AuthRecoveryCodes, true},
		{[]string{AuthPassword, AuthPasskey}, AuthRecoveryCodes, true},
		{[]string{AuthPassword}, AuthRecoveryCodes, false},
	} {
		if got := (Policy{AllowedAuthenticators: tc.allowed}).Allows(tc.name); got != tc.want {
			t.Errorf("%v allows %s: %v, want %v", tc.allowed, tc.name, got, tc.want)
		}
	}

	each(t, DefaultPolicy, func(t *testing.T, f *fixture) {
		secret := registerTOTP(t, f)
		strict := DefaultPolicy
		strict.AllowedAuthenticators = []string{AuthPassword}
		cmds := f.cmds.WithPolicy(FixedPolicy(strict))
		for _, err := range []error{
			cmds.AddSignInCodeFactor(ctx, eventstore.SystemEditor, f.user, ChannelPhone),
			func() error { _, err := cmds.GenerateRecoveryCodes(ctx, eventstore.SystemEditor, f.user); return err }(),
			func() error {
				_, err := cmds.AddTOTP(ctx, eventstore.SystemEditor, f.user, "Acme", "ada", f.keys)
				return err
			}(),
		} {
			fe := wantKind(t, err, failure.KindFailedPrecondition)
			if !strings.Contains(fe.Message, "otp_sms") && !strings.Contains(fe.Message, "recovery_codes") && !strings.Contains(fe.Message, "totp") {
				t.Fatalf("%q names no authenticator", fe.Message)
			}
		}
		f.clock.advance(time.Minute)
		wantWrongCode(t, cmds.CheckTOTP(ctx, f.user, codeAt(t, secret, f.clock.now()), f.keys))
		f.then(t)
		if err := f.cmds.CheckTOTP(ctx, f.user, codeAt(t, secret, f.clock.now()), f.keys); err != nil {
			t.Fatal(err)
		}
	})
}
