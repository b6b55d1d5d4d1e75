package credential

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"image/png"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// codeAt computes the authenticator app's code at t, as an app would.
func codeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// otherCode is a well-formed code that is not code.
func otherCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

func step(at time.Time) int64 { return at.Unix() / 30 }

// registerTOTP adds and verifies a TOTP, returning its secret.
func registerTOTP(t *testing.T, f *fixture) string {
	t.Helper()
	reg, err := f.cmds.AddTOTP(ctx, eventstore.SystemEditor, f.user, "Acme", "ada@example.com", f.keys)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.cmds.VerifyTOTP(ctx, eventstore.SystemEditor, f.user, codeAt(t, reg.Secret, f.clock.now()), f.keys); err != nil {
		t.Fatal(err)
	}
	f.given(t)
	return reg.Secret
}

func TestTOTPRegistration(t *testing.T) {
	each(t, DefaultPolicy, func(t *testing.T, f *fixture) {
		reg, err := f.cmds.AddTOTP(ctx, eventstore.SystemEditor, f.user, "Acme", "ada@example.com", f.keys)
		if err != nil {
			t.Fatal(err)
		}
		seed, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(reg.Secret)
		if err != nil || len(seed) != 20 {
			t.Fatalf("secret %q is not 160 bits of base32: %v", reg.Secret, err)
		}
		u, err := url.Parse(reg.URI)
		if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Query().Get("secret") != reg.Secret || u.Query().Get("issuer") != "Acme" ||
			u.Query().Get("digits") != "6" || u.Query().Get("algorithm") != "SHA1" || u.Query().Get("period") != "30" {
			t.Fatalf("uri %q", reg.URI)
		}
		img, err := png.Decode(bytes.NewReader(reg.QRCode))
		if err != nil || img.Bounds().Dx() != 256 {
			t.Fatalf("QR code is no 256-pixel PNG: %v", err)
		}

		// The event holds the seed sealed, in no readable form.
		events := f.appended(t)
		if len(events) != 1 {
			t.Fatalf("%d events", len(events))
		}
		added, ok := events[0].Payload.(*TOTPAdded)
		if !ok {
			t.Fatalf("appended %T", events[0].Payload)
		}
		opened, err := f.keys.Decrypt(added.Seed, totpAD(f.user))
		if err != nil || !bytes.Equal(opened, seed) {
			t.Fatalf("the sealed seed does not open to the secret: %v", err)
		}
		stored := storedPayload(t, f, "user.totp.added")
		for _, clear := range []string{reg.Secret, strings.ToLower(reg.Secret), base64.StdEncoding.EncodeToString(seed), hex.EncodeToString(seed)} {
			if strings.Contains(stored, clear) {
				t.Fatalf("the stored event %s holds the seed in clear", stored)
			}
		}

		// Until verified, the registration does not sign in.
		wantWrongCode(t, f.cmds.CheckTOTP(ctx, f.user, codeAt(t, reg.Secret, f.clock.now()), f.keys))
		f.then(t)
		got, err := f.cmds.Authenticators(ctx, f.user)
		if err != nil || got.TOTP || !got.TOTPPending {
			t.Fatalf("pending: %+v %v", got, err)
		}

		fe := wantKind(t, f.cmds.VerifyTOTP(ctx, eventstore.SystemEditor, f.user, "12345", f.keys), failure.KindInvalidArgument)
		if fe.Field != "code" {
			t.Fatalf("field %q", fe.Field)
		}
		f.then(t)
		code := codeAt(t, reg.Secret, f.clock.now())
		fe = wantKind(t, f.cmds.VerifyTOTP(ctx, eventstore.SystemEditor, f.user, otherCode(code), f.keys), failure.KindInvalidArgument)
		if fe.Field != "code" {
			t.Fatalf("field %q", fe.Field)
		}
		f.then(t, &TOTPCheckFailed{Registration: true})
		if err := f.cmds.VerifyTOTP(ctx, eventstore.SystemEditor, f.user, code[:3]+" "+code[3:], f.keys); err != nil {
			t.Fatal(err)
		}
		f.then(t, &TOTPVerified{Step: step(f.clock.now())})
		if got, _ := f.cmds.Authenticators(ctx, f.user); !got.TOTP || got.TOTPPending || !got.SecondFactor() {
			t.Fatalf("active: %+v", got)
		}

		// The code that proved the registration cannot sign in.
		wantWrongCode(t, f.cmds.CheckTOTP(ctx, f.user, code, f.keys))
		f.then(t, &TOTPCheckFailed{Replayed: true})

		_, err = f.cmds.AddTOTP(ctx, eventstore.SystemEditor, f.user, "Acme", "ada@example.com", f.keys)
		wantKind(t, err, failure.KindFailedPrecondition)
		if err := f.cmds.RemoveTOTP(ctx, eventstore.SystemEditor, f.user); err != nil {
			t.Fatal(err)
		}
		f.then(t, &TOTPRemoved{})
		wantKind(t, f.cmds.RemoveTOTP(ctx, eventstore.SystemEditor, f.user), failure.KindFailedPrecondition)
		f.clock.advance(time.Minute)
		wantWrongCode(t, f.cmds.CheckTOTP(ctx, f.user, codeAt(t, reg.Secret, f.clock.now()), f.keys))
		f.then(t)
	})
}

// storedPayload is the payload of the first event of a type as the
// database holds it.
func storedPayload(t *testing.T, f *fixture, eventType string) string {
	t.Helper()
	db := f.store.DB()
	var payload string
	if err := db.Reader().QueryRowContext(ctx, `SELECT payload FROM events WHERE event_type = $1`, eventType).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	return payload
}

// TestTOTPWindowAndReplay: a code is good within one 30-second step of
// now, not two, and only once, and never after a later step was used.
func TestTOTPWindowAndReplay(t *testing.T) {
	each(t, DefaultPolicy, func(t *testing.T, f *fixture) {
		secret := registerTOTP(t, f)
		f.clock.advance(10 * time.Minute)
		now := f.clock.now().Truncate(30 * time.Second).Add(10 * time.Second)
		f.clock.set(now)
		for _, tc := range []struct {
			name   string
			offset time.Duration
			want   eventstore.Payload
		}{
			{"fail/two steps ahead", 60 * time.Second, &TOTPCheckFailed{}},
			{"fail/two steps behind", -60 * time.Second, &TOTPCheckFailed{}},
			{"ok/one step behind", -30 * time.Second, &TOTPCheckSucceeded{Step: step(now) - 1}},
			{"fail/the same code again", -30 * time.Second, &TOTPCheckFailed{Replayed: true}},
			{"ok/the current step", 0, &TOTPCheckSucceeded{Step: step(now)}},
			{"ok/one step ahead", 30 * time.Second, &TOTPCheckSucceeded{Step: step(now) + 1}},
			{"fail/an unused step before the last used", 0, &TOTPCheckFailed{Replayed: true}},
			{"fail/the last used step", 30 * time.Second, &TOTPCheckFailed{Replayed: true}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := f.cmds.CheckTOTP(ctx, f.user, codeAt(t, secret, now.Add(tc.offset)), f.keys)
				if _, ok := tc.want.(*TOTPCheckSucceeded); ok {
					if err != nil {
						t.Fatal(err)
					}
				} else {
					wantWrongCode(t, err)
				}
				f.then(t, tc.want)
			})
		}
		// Malformed codes are wrong codes.
		for _, code := range []string{"", "abcdef", "1234567", "１２３４５６"} {
			wantWrongCode(t, f.cmds.CheckTOTP(ctx, f.user, code, f.keys))
			f.then(t, &TOTPCheckFailed{})
		}
	})
}

// TestTOTPConcurrentReplay: of requests presenting one code at once,
// exactly one is accepted.
func TestTOTPConcurrentReplay(t *testing.T) {
	each(t, DefaultPolicy, func(t *testing.T, f *fixture) {
		secret := registerTOTP(t, f)
		f.clock.advance(time.Minute)
		code := codeAt(t, secret, f.clock.now())
		var wg sync.WaitGroup
		results := make([]error, 8)
		for i := range results {
			wg.Go(func() { results[i] = f.cmds.CheckTOTP(ctx, f.user, code, f.keys) })
		}
		wg.Wait()
		accepted := 0
		for _, err := range results {
			if err == nil {
				accepted++
			} else if !failure.Is(err, failure.KindUnauthenticated) {
				t.Fatalf("unexpected error %v", err)
			}
		}
		if accepted != 1 {
			t.Fatalf("%d of %d requests accepted one code", accepted, len(results))
		}
	})
}
