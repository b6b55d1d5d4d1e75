package credential

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"time"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// Sign-in links ("magic links") sign a user in by a link sent to its
// verified email address, when the login settings allow it
// (settings.Login.MagicLinkAllowed; the caller checks them). The link
// carries a token of 256 random bits; only its SHA-256 hash is recorded
// (EmailLinkSent), as with session tokens: a high-entropy secret needs no
// slow hash. A link is valid for EmailLinkLifetime, once: its use is an
// event (EmailLinkUsed) appended with optimistic concurrency, so two
// requests with the same link cannot both succeed. Sending a new link
// voids the earlier one. Sends count in their own history against
// Policy.CodeSends per CodeWindow (the limit per account).

// EmailLinkLifetime is how long a sign-in link is valid.
const EmailLinkLifetime = 15 * time.Minute

// emailLinkHistory keeps the sends of sign-in links apart from those of
// codes.
const emailLinkHistory = "sign-in-link/email"

// maxEmailLinkToken bounds the token a check is given (its encoding is 43
// characters).
const maxEmailLinkToken = 128

// LinkSender delivers the token of a sign-in link: the caller makes the
// link of it and mails it.
type LinkSender func(ctx context.Context, token string) error

func emailLinkHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// SendEmailLink records a fresh sign-in link of the user, replacing any
// earlier one, and gives its token to send. The caller has found the user
// active with a verified email address. Too many links within CodeWindow
// are failure.ResourceExhausted.
func (c *Commands) SendEmailLink(ctx context.Context, user eventstore.Aggregate, send LinkSender) error {
	m, pol, err := c.loadUnderPolicy(ctx, user)
	if err != nil {
		return err
	}
	if h := m.historyOf(emailLinkHistory); pol.CodeSends > 0 && countSince(h.sent, c.now().Add(-pol.CodeWindow)) >= pol.CodeSends {
		return failure.ResourceExhausted("%d sign-in links were sent within %s; wait before asking for another", pol.CodeSends, pol.CodeWindow)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	sent := &EmailLinkSent{TokenHash: emailLinkHash(token), ExpiresAt: c.now().Add(EmailLinkLifetime).UTC()}
	if _, err := c.store.Push(ctx, signInEditor(user), eventstore.Append{Aggregate: user, ExpectedSequence: m.sequence, Events: []eventstore.Payload{sent}}); err != nil {
		return err
	}
	return send(ctx, token)
}

// CheckEmailLink is the sign-in-link step of a sign-in of the user, which
// the caller has found and knows to be active and allowed to sign in by
// link. The latest link is accepted once, before it expires; every
// failure — wrong, used, replaced or expired — is the one
// failure.Unauthenticated, and records nothing (a 256-bit token is not
// guessed, so wrong ones count towards no lock).
func (c *Commands) CheckEmailLink(ctx context.Context, user eventstore.Aggregate, token string) error {
	if token == "" || len(token) > maxEmailLinkToken {
		return errWrongLink()
	}
	hash := emailLinkHash(token)
	return c.signInCheck(ctx, user, func(m *model, _ Policy) ([]eventstore.Payload, error) {
		l := m.emailLink
		if l == nil || !c.now().Before(l.expiresAt) || subtle.ConstantTimeCompare([]byte(l.hash), []byte(hash)) != 1 {
			return nil, errWrongLink()
		}
		return []eventstore.Payload{&EmailLinkUsed{}}, nil
	})
}

func errWrongLink() error { return failure.Unauthenticated("the sign-in link is not valid") }

// pendingLink is the latest sign-in link of a user, until used.
type pendingLink struct {
	hash      string
	expiresAt time.Time
}

// EmailLinkSent records a sign-in link sent to the user's email address:
// the SHA-256 hash of its token, never the token.
type EmailLinkSent struct {
	TokenHash string    `json:"tokenHash"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// EmailLinkUsed records that the latest sign-in link signed the user in;
// it is void from then on.
type EmailLinkUsed struct{}

func (EmailLinkSent) EventType() string { return "user.signin_link.sent" }
func (EmailLinkUsed) EventType() string { return "user.signin_link.used" }
