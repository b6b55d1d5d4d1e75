package client

import (
	"context"
	"crypto/x509"
	"log/slog"
	"sync"
	"time"

	"github.com/castellan-iam/castellan/internal/eventstore"
)

// RefusalAggregate is the aggregate of a client's refused certificates:
// its id is the application's, its owner the application's organization.
// It is apart from the project so that refusals never conflict with
// changes to the application.
const RefusalAggregate = "oauth_client"

// CertificateRefused records that a client's certificate authentication
// failed, and why: the audit trail of RFC 8705 client authentication.
// Subject, Issuer and Serial describe the certificate presented (empty
// when none was); Thumbprint is its x5t#S256.
type CertificateRefused struct {
	AppID      string `json:"appId"`
	ClientID   string `json:"clientId"`
	Method     string `json:"method"`
	Reason     string `json:"reason"`
	Subject    string `json:"subject,omitempty"`
	Issuer     string `json:"issuer,omitempty"`
	Serial     string `json:"serial,omitempty"`
	Thumbprint string `json:"thumbprint,omitempty"`
}

func (CertificateRefused) EventType() string { return "oauth_client.certificate.refused" }

// RefusalAudit logs every certificate refusal with its reason and records
// it as a CertificateRefused event — at most one per client and
// refusalInterval, so that a client retrying in a loop cannot fill the
// event log; the ones left out are counted in the log record of the next.
type RefusalAudit struct {
	store *eventstore.Store
	log   *slog.Logger
	now   func() time.Time

	mu      sync.Mutex
	last    map[string]time.Time
	skipped map[string]int
}

const (
	refusalInterval = time.Second
	maxRefusalKeys  = 10000
)

// NewRefusalAudit returns the audit of refusals.
func NewRefusalAudit(store *eventstore.Store, log *slog.Logger) *RefusalAudit {
	return &RefusalAudit{store: store, log: log, now: time.Now, last: map[string]time.Time{}, skipped: map[string]int{}}
}

// Report logs and records a refusal; it fits Clients.WithCertificates.
func (a *RefusalAudit) Report(ctx context.Context, instanceID string, app Application, cert *x509.Certificate, reason string) {
	e := &CertificateRefused{AppID: app.ID, ClientID: app.ClientID, Method: app.AuthMethod, Reason: reason}
	if cert != nil {
		e.Subject, e.Issuer, e.Serial, e.Thumbprint = cert.Subject.String(), cert.Issuer.String(), cert.SerialNumber.String(), Thumbprint(cert)
	}
	key := instanceID + "\x00" + app.ID
	now := a.now()
	a.mu.Lock()
	record := now.Sub(a.last[key]) >= refusalInterval
	skipped := a.skipped[key]
	if record {
		if len(a.last) >= maxRefusalKeys {
			a.last, a.skipped = map[string]time.Time{}, map[string]int{}
		}
		a.last[key] = now
		delete(a.skipped, key)
	} else {
		a.skipped[key]++
	}
	a.mu.Unlock()
	a.log.Warn("client certificate refused", "instance", instanceID, "client_id", app.ClientID, "method", app.AuthMethod, "reason", reason,
		"subject", e.Subject, "serial", e.Serial, "x5t#S256", e.Thumbprint, "unrecorded_before", skipped)
	if !record {
		return
	}
	_, err := a.store.Push(context.WithoutCancel(ctx), eventstore.SystemEditor, eventstore.Append{
		Aggregate:        eventstore.Aggregate{InstanceID: instanceID, Type: RefusalAggregate, ID: app.ID, Owner: app.OrgID},
		ExpectedSequence: eventstore.AnySequence, Events: []eventstore.Payload{e},
	})
	if err != nil {
		a.log.Warn("could not record a refused client certificate", "instance", instanceID, "client_id", app.ClientID, "err", err)
	}
}
