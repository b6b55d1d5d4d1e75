package credential

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/keyring"
)

// TOTP (RFC 6238) with the parameters every authenticator app understands
// (those of Google Authenticator): HMAC-SHA1, six digits, 30-second steps,
// a 160-bit seed (RFC 4226 section 4 recommends it). A code is accepted in
// its own step and the one before and after (RFC 6238 section 5.2: one
// step of clock drift or typing time either way).
const (
	totpPeriod   = 30
	totpDigits   = otp.DigitsSix
	totpSkew     = 1
	totpSeedSize = 20
	// totpQRSize is the width and height of the QR code, in pixels.
	totpQRSize = 256
)

var totpAlgorithm = otp.AlgorithmSHA1

// TOTPRegistration is what a user needs to set up its authenticator app,
// shown once: the seed in base32 (to type in), the otpauth:// URI and the
// URI as a PNG QR code (to scan).
type TOTPRegistration struct {
	Secret string
	URI    string
	QRCode []byte
}

// totpAD binds a sealed seed to its instance and user: it cannot be moved
// to another user's events.
func totpAD(user eventstore.Aggregate) []byte {
	return []byte("castellan/totp-seed/" + user.InstanceID + "/" + user.ID)
}

var base32NoPadding = base32.StdEncoding.WithPadding(base32.NoPadding)

// AddTOTP starts a TOTP registration of the user: a new seed, sealed with
// keys in the event, replacing any registration still pending. It becomes
// the user's TOTP authenticator when VerifyTOTP sees a code of it. issuer
// and account label the entry in the authenticator app (the instance's
// name, the login name). A user with an active TOTP must remove it first.
func (c *Commands) AddTOTP(ctx context.Context, editor eventstore.Editor, user eventstore.Aggregate, issuer, account string, keys *keyring.Ring) (*TOTPRegistration, error) {
	if strings.TrimSpace(issuer) == "" {
		return nil, failure.InvalidArgument("issuer", "required")
	}
	if strings.TrimSpace(account) == "" {
		return nil, failure.InvalidArgument("account", "required")
	}
	m, pol, err := c.loadUnderPolicy(ctx, user)
	if err != nil {
		return nil, err
	}
	if err := pol.requireAllowed(AuthTOTP); err != nil {
		return nil, err
	}
	if m.totpSeed != nil {
		return nil, failure.FailedPrecondition("the user already has a TOTP authenticator; remove it before adding another")
	}
	seed := make([]byte, totpSeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, Period: totpPeriod, Secret: seed,
		Digits: totpDigits, Algorithm: totpAlgorithm})
	if err != nil {
		return nil, failure.Internal(err, "TOTP key of %s", user.ID)
	}
	img, err := key.Image(totpQRSize, totpQRSize)
	if err != nil {
		return nil, failure.Internal(err, "TOTP QR code of %s", user.ID)
	}
	var qr bytes.Buffer
	if err := png.Encode(&qr, img); err != nil {
		return nil, failure.Internal(err, "TOTP QR code of %s", user.ID)
	}
	sealed, err := keys.Encrypt(seed, totpAD(user))
	if err != nil {
		return nil, err
	}
	if _, err := c.store.Push(ctx, editor, eventstore.Append{Aggregate: user, ExpectedSequence: m.sequence,
		Events: []eventstore.Payload{&TOTPAdded{Seed: sealed}}}); err != nil {
		return nil, err
	}
	return &TOTPRegistration{Secret: key.Secret(), URI: key.URL(), QRCode: qr.Bytes()}, nil
}

// normalizeTOTPCode drops the spaces apps show in the middle of a code;
// ok is false unless six digits remain.
func normalizeTOTPCode(code string) (string, bool) {
	code = strings.Join(strings.Fields(code), "")
	if len(code) != totpDigits.Length() {
		return "", false
	}
	for _, r := range code {
		if r < '0' || r > '9' {
			return "", false
		}
	}
	return code, true
}

// totpStep returns the latest time step within the window around now
// whose code is code, comparing in constant time; ok is false when none.
func totpStep(seed []byte, code string, now time.Time) (step int64, ok bool) {
	secret := base32NoPadding.EncodeToString(seed)
	current := now.Unix() / totpPeriod
	for s := current - totpSkew; s <= current+totpSkew; s++ {
		want, err := hotp.GenerateCodeCustom(secret, uint64(s), hotp.ValidateOpts{Digits: totpDigits, Algorithm: totpAlgorithm})
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			step, ok = s, true
		}
	}
	return step, ok
}

// VerifyTOTP proves the pending registration with a code of the app and
// makes it the user's TOTP authenticator. A wrong code counts towards the
// lock like one at sign-in (Policy.MaxOTPAttempts) and fails with an
// invalid argument naming "code".
func (c *Commands) VerifyTOTP(ctx context.Context, editor eventstore.Editor, user eventstore.Aggregate, code string, keys *keyring.Ring) error {
	digits, wellFormed := normalizeTOTPCode(code)
	if !wellFormed {
		return failure.InvalidArgument("code", "a code is %d digits", totpDigits.Length())
	}
	return c.decideAndPush(ctx, editor, user, func(m *model, pol Policy) ([]eventstore.Payload, error) {
		if m.totpPending == nil {
			return nil, failure.FailedPrecondition("no TOTP registration is pending; add one first")
		}
		if err := pol.requireAllowed(AuthTOTP); err != nil {
			return nil, err
		}
		if m.otpLocked {
			return nil, failure.FailedPrecondition("the user is locked after too many wrong codes")
		}
		seed, err := keys.Decrypt(m.totpPending, totpAD(user))
		if err != nil {
			return nil, failure.Internal(err, "open the TOTP seed of %s", user.ID)
		}
		step, ok := totpStep(seed, digits, c.now())
		if !ok {
			return failedOTP(pol, m, &TOTPCheckFailed{Registration: true}), failure.InvalidArgument("code", "the code is wrong")
		}
		return []eventstore.Payload{&TOTPVerified{Step: step}}, nil
	})
}

// RemoveTOTP removes the user's TOTP authenticator, active or pending.
func (c *Commands) RemoveTOTP(ctx context.Context, editor eventstore.Editor, user eventstore.Aggregate) error {
	return c.decideAndPush(ctx, editor, user, func(m *model, _ Policy) ([]eventstore.Payload, error) {
		if m.totpSeed == nil && m.totpPending == nil {
			return nil, failure.FailedPrecondition("the user has no TOTP authenticator")
		}
		return []eventstore.Payload{&TOTPRemoved{}}, nil
	})
}

// CheckTOTP is the TOTP step of a sign-in of the user, which the caller
// has found and knows to be active. A code is accepted within one step of
// now, and only if its step comes after the last accepted one: a code,
// once used, cannot be replayed, nor can an older one. The outcome is an
// event (TOTPCheckSucceeded with the step, or TOTPCheckFailed); one wrong
// code too many in a row locks the user (OTPLocked). A user without an
// active TOTP, or locked by OTPLocked, is refused without an event. Every
// failure is the same failure.Unauthenticated.
func (c *Commands) CheckTOTP(ctx context.Context, user eventstore.Aggregate, code string, keys *keyring.Ring) error {
	return c.signInCheck(ctx, user, func(m *model, pol Policy) ([]eventstore.Payload, error) {
		if m.totpSeed == nil || m.otpLocked || !pol.Allows(AuthTOTP) {
			return nil, errWrongCode()
		}
		seed, err := keys.Decrypt(m.totpSeed, totpAD(user))
		if err != nil {
			return nil, failure.Internal(err, "open the TOTP seed of %s", user.ID)
		}
		digits, wellFormed := normalizeTOTPCode(code)
		step, ok := totpStep(seed, digits, c.now())
		switch {
		case wellFormed && ok && step > m.totpLastStep:
			return []eventstore.Payload{&TOTPCheckSucceeded{Step: step}}, nil
		case wellFormed && ok:
			return failedOTP(pol, m, &TOTPCheckFailed{Replayed: true}), errWrongCode()
		default:
			return failedOTP(pol, m, &TOTPCheckFailed{}), errWrongCode()
		}
	})
}
