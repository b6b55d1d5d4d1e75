package machinecert

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/oauth/trustset"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
)

// Rejection is why a certificate did not authenticate a user: precise,
// for the log and the audit trail, never for the client.
type Rejection struct{ Reason string }

func (r *Rejection) Error() string { return "machinecert: " + r.Reason }

func reject(format string, args ...any) error {
	return &Rejection{Reason: fmt.Sprintf(format, args...)}
}

// Authenticated is a machine user its certificate authenticated.
type Authenticated struct {
	UserID string
	OrgID  string
	// Certificate is the leaf it authenticated with: tokens are bound
	// to it.
	Certificate *x509.Certificate
}

// Authenticator authenticates machine users by their TLS client
// certificates. It is safe for concurrent use.
type Authenticator struct {
	db        *database.DB
	trustSets client.CertificateVerifier
	now       func() time.Time
	audit     *audit
}

// NewAuthenticator returns the authenticator: trustSets verifies chains
// for subjects; store and log record refusals (at most one event per user
// and second); now may be nil (time.Now).
func NewAuthenticator(db *database.DB, trustSets client.CertificateVerifier, store *eventstore.Store, log *slog.Logger, now func() time.Time) *Authenticator {
	if now == nil {
		now = time.Now
	}
	return &Authenticator{db: db, trustSets: trustSets, now: now, audit: &audit{store: store, log: log, last: map[string]time.Time{}}}
}

// Authenticate authenticates the user userID with the request's
// certificate chain (leaf first). A refusal is a *Rejection (reported to
// the log and the audit trail here); other errors are the database's.
func (a *Authenticator) Authenticate(ctx context.Context, instanceID, userID string, chain []*x509.Certificate) (Authenticated, error) {
	out, err := a.authenticate(ctx, instanceID, userID, chain)
	var r *Rejection
	if errors.As(err, &r) {
		a.audit.report(ctx, instanceID, out.OrgID, userID, chain, r.Reason)
	}
	return out, err
}

func (a *Authenticator) authenticate(ctx context.Context, instanceID, userID string, chain []*x509.Certificate) (Authenticated, error) {
	if len(chain) == 0 {
		return Authenticated{}, reject("no client certificate was presented")
	}
	if userID == "" || len(userID) > 200 {
		return Authenticated{}, reject("no user id")
	}
	u, err := user.Get(ctx, a.db, instanceID, userID, userschema.Admin)
	if failure.Is(err, failure.KindNotFound) {
		return Authenticated{}, reject("no user %.64q", userID)
	}
	if err != nil {
		return Authenticated{}, err
	}
	out := Authenticated{UserID: u.ID, OrgID: u.OrgID}
	standing, err := user.StandingOf(ctx, a.db, instanceID, u.ID)
	if err != nil {
		return out, err
	}
	if !standing.Active {
		return out, reject("the user, or its organization, is not active")
	}
	ok, err := user.MayUse(ctx, a.db, u, AuthenticatorName)
	if err != nil {
		return out, err
	}
	if !ok {
		return out, reject("users of type %s do not authenticate with certificates", u.Type)
	}
	regs, err := List(ctx, a.db, instanceID, u.ID)
	if err != nil {
		return out, err
	}
	if len(regs) == 0 {
		return out, reject("the user registered no certificate")
	}
	leaf, now := chain[0], a.now()
	var reasons []string
	for _, reg := range regs {
		reason, err := a.accepts(ctx, instanceID, reg, chain, now)
		if err != nil {
			return out, err
		}
		if reason == "" {
			out.Certificate = leaf
			return out, nil
		}
		reasons = append(reasons, reason)
	}
	return out, reject("certificate %s (serial %s, x5t#S256 %s): %v", leaf.Subject, leaf.SerialNumber, client.Thumbprint(leaf), reasons)
}

// accepts says why reg does not accept chain, "" when it does.
func (a *Authenticator) accepts(ctx context.Context, instanceID string, reg Certificate, chain []*x509.Certificate, now time.Time) (string, error) {
	leaf := chain[0]
	if reg.Subject == nil {
		certs, err := trustset.ParseCertificates("certificate", reg.PEM, 1)
		if err != nil {
			return "registered certificate " + reg.ID + " does not parse", nil
		}
		switch {
		case !bytes.Equal(certs[0].Raw, leaf.Raw):
			return "not registered certificate " + reg.ID, nil
		case now.Before(leaf.NotBefore):
			return "not valid before " + leaf.NotBefore.UTC().Format(time.RFC3339), nil
		case now.After(leaf.NotAfter):
			return "expired at " + leaf.NotAfter.UTC().Format(time.RFC3339), nil
		}
		return "", nil
	}
	if a.trustSets == nil {
		return "no trust sets are configured", nil
	}
	if err := a.trustSets.Verify(ctx, instanceID, reg.Subject.TrustSetID, chain); err != nil {
		r := new(trustset.Refused)
		if !errors.As(err, &r) {
			return "", err
		}
		return "subject " + reg.ID + ": " + r.Reason, nil
	}
	if reason, ok := reg.Subject.Match(leaf); !ok {
		return "subject " + reg.ID + ": " + reason, nil
	}
	return "", nil
}

// audit logs every refusal and records it as a Refused event on the
// user, at most one per user and second.
type audit struct {
	store *eventstore.Store
	log   *slog.Logger

	mu   sync.Mutex
	last map[string]time.Time
}

func (a *audit) report(ctx context.Context, instanceID, orgID, userID string, chain []*x509.Certificate, reason string) {
	e := &Refused{Reason: reason}
	if len(chain) > 0 {
		c := chain[0]
		e.Subject, e.Issuer, e.Serial, e.Thumbprint = c.Subject.String(), c.Issuer.String(), c.SerialNumber.String(), client.Thumbprint(c)
	}
	if a.log != nil {
		a.log.Warn("machine user certificate refused", "instance", instanceID, "user", userID, "reason", reason, "x5t#S256", e.Thumbprint)
	}
	if a.store == nil || orgID == "" {
		return // no such user: nothing to record it on
	}
	key, now := instanceID+"\x00"+userID, time.Now()
	a.mu.Lock()
	record := now.Sub(a.last[key]) >= time.Second
	if record {
		if len(a.last) >= 10000 {
			a.last = map[string]time.Time{}
		}
		a.last[key] = now
	}
	a.mu.Unlock()
	if !record {
		return
	}
	_, err := a.store.Push(context.WithoutCancel(ctx), eventstore.SystemEditor, eventstore.Append{
		Aggregate:        eventstore.Aggregate{InstanceID: instanceID, Type: user.AggregateType, ID: userID, Owner: orgID},
		ExpectedSequence: eventstore.AnySequence, Events: []eventstore.Payload{e},
	})
	if err != nil && a.log != nil {
		a.log.Warn("could not record a refused machine user certificate", "instance", instanceID, "user", userID, "err", err)
	}
}
