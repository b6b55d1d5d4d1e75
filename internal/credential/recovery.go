package credential

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// Recovery codes stand in for a lost second factor, each once. A set is
// recoveryCodeCount codes of recoveryCodeLength characters from Crockford's
// base32 alphabet (no i, l, o or u, so nothing reads as another
// character), 5 bits each: 50 bits per code, shown as xxxxx-xxxxx.
const (
	recoveryCodeCount    = 10
	recoveryCodeLength   = 10
	recoveryCodeAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	// maxRecoveryCodeInput bounds what normalizeRecoveryCode reads.
	maxRecoveryCodeInput = 64
)

// newRecoveryCode returns a fresh code in its display form. A random byte
// masked to 5 bits is uniform over the 32 characters.
func newRecoveryCode() (string, error) {
	var b [recoveryCodeLength]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	out := make([]byte, 0, recoveryCodeLength+1)
	for i, x := range b {
		if i == recoveryCodeLength/2 {
			out = append(out, '-')
		}
		out = append(out, recoveryCodeAlphabet[x&31])
	}
	return string(out), nil
}

// normalizeRecoveryCode turns a code as a person types it into the
// canonical form that is hashed: hyphens and spaces dropped, letters in
// lower case, and the letters Crockford's base32 reads as digits mapped to
// them (o to 0, i and l to 1). ok is false unless exactly
// recoveryCodeLength characters of the alphabet remain.
func normalizeRecoveryCode(s string) (canonical string, ok bool) {
	if len(s) > maxRecoveryCodeInput {
		return "", false
	}
	out := make([]byte, 0, recoveryCodeLength)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-' || c == ' ' || c == '\t':
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		switch c {
		case 'o':
			c = '0'
		case 'i', 'l':
			c = '1'
		}
		if strings.IndexByte(recoveryCodeAlphabet, c) < 0 || len(out) == recoveryCodeLength {
			return "", false
		}
		out = append(out, c)
	}
	if len(out) != recoveryCodeLength {
		return "", false
	}
	return string(out), true
}

// recoveryCodeHash is what is stored of a code. SHA-256 suffices, where a
// password needs argon2id: a code is 50 random bits, not a human choice
// that a dictionary guesses, and it is of use only through the sign-in,
// which locks after Policy.MaxOTPAttempts wrong codes. The hash is
// prefixed with the instance and user, so that codes are not guessed
// against every user's hashes at once, nor moved between users.
func recoveryCodeHash(user eventstore.Aggregate, canonical string) string {
	sum := sha256.Sum256([]byte("castellan/recovery-code/" + user.InstanceID + "/" + user.ID + "/" + canonical))
	return hex.EncodeToString(sum[:])
}

// GenerateRecoveryCodes gives the user a new set of recovery codes,
// replacing any earlier set, and returns them: they are shown this once;
// only their hashes are stored (RecoveryCodesGenerated).
func (c *Commands) GenerateRecoveryCodes(ctx context.Context, editor eventstore.Editor, user eventstore.Aggregate) ([]string, error) {
	m, pol, err := c.loadUnderPolicy(ctx, user)
	if err != nil {
		return nil, err
	}
	if err := pol.requireAllowed(AuthRecoveryCodes); err != nil {
		return nil, err
	}
	codes := make([]string, recoveryCodeCount)
	hashes := make([]string, recoveryCodeCount)
	for i := range codes {
		if codes[i], err = newRecoveryCode(); err != nil {
			return nil, err
		}
		canonical, _ := normalizeRecoveryCode(codes[i])
		hashes[i] = recoveryCodeHash(user, canonical)
	}
	if _, err := c.store.Push(ctx, editor, eventstore.Append{Aggregate: user, ExpectedSequence: m.sequence,
		Events: []eventstore.Payload{&RecoveryCodesGenerated{Hashes: hashes}}}); err != nil {
		return nil, err
	}
	return codes, nil
}

// RemoveRecoveryCodes removes all of the user's recovery codes.
func (c *Commands) RemoveRecoveryCodes(ctx context.Context, editor eventstore.Editor, user eventstore.Aggregate) error {
	return c.decideAndPush(ctx, editor, user, func(m *model, _ Policy) ([]eventstore.Payload, error) {
		if len(m.recoveryHashes) == 0 {
			return nil, failure.FailedPrecondition("the user has no recovery codes")
		}
		return []eventstore.Payload{&RecoveryCodesRemoved{}}, nil
	})
}

// CheckRecoveryCode is the recovery-code step of a sign-in of the user,
// which the caller has found and knows to be active. A code is accepted
// once (RecoveryCodeUsed names its hash); a wrong one is an event
// (RecoveryCodeCheckFailed) and counts towards the OTP lock. Every failure
// is the same failure.Unauthenticated.
func (c *Commands) CheckRecoveryCode(ctx context.Context, user eventstore.Aggregate, code string) error {
	canonical, wellFormed := normalizeRecoveryCode(code)
	presented := []byte(recoveryCodeHash(user, canonical))
	return c.signInCheck(ctx, user, func(m *model, pol Policy) ([]eventstore.Payload, error) {
		if len(m.recoveryHashes) == 0 || m.otpLocked || !pol.Allows(AuthRecoveryCodes) {
			return nil, errWrongCode()
		}
		match := ""
		for _, h := range m.recoveryHashes {
			if subtle.ConstantTimeCompare(presented, []byte(h)) == 1 {
				match = h
			}
		}
		if !wellFormed || match == "" {
			return failedOTP(pol, m, &RecoveryCodeCheckFailed{}), errWrongCode()
		}
		return []eventstore.Payload{&RecoveryCodeUsed{Hash: match}}, nil
	})
}
