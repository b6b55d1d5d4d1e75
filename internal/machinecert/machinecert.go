package machinecert

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/id"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/oauth/trustset"
)

// Authenticator is the name user types list to allow certificates.
const AuthenticatorName = "client_certificate"

// Limits.
const (
	// MaxPerUser bounds the registrations of a user.
	MaxPerUser = 10
	maxPEM     = 16 << 10
	// uniqueThumbprint claims a registered certificate per instance.
	uniqueThumbprint = "machine_certificate_thumbprint"
)

// Added records a registration: Certificate (PEM) or Subject.
type Added struct {
	CertificateID string                `json:"certificateId"`
	Certificate   string                `json:"certificate,omitempty"`
	Subject       *client.TLSClientAuth `json:"subject,omitempty"`
	Thumbprint    string                `json:"thumbprint,omitempty"`
	NotAfter      *time.Time            `json:"notAfter,omitempty"`
}

// Removed ends a registration at once.
type Removed struct {
	CertificateID string `json:"certificateId"`
}

// Refused records a refused authentication of the user with a
// certificate, and why (the audit trail; the client saw invalid_client).
type Refused struct {
	Reason     string `json:"reason"`
	Subject    string `json:"subject,omitempty"`
	Issuer     string `json:"issuer,omitempty"`
	Serial     string `json:"serial,omitempty"`
	Thumbprint string `json:"thumbprint,omitempty"`
}

func (Added) EventType() string   { return "user.client_certificate.added" }
func (Removed) EventType() string { return "user.client_certificate.removed" }
func (Refused) EventType() string { return "user.client_certificate.refused" }

// RegisterEvents adds the events to r.
func RegisterEvents(r *eventstore.Registry) {
	eventstore.Register[Added](r, 1)
	eventstore.Register[Removed](r, 1)
	eventstore.Register[Refused](r, 1)
}

// Certificate is a registration of a machine user.
type Certificate struct {
	ID     string
	UserID string
	// PEM is the registered certificate; "" for a subject.
	PEM        string
	Thumbprint string
	// NotAfter is the registered certificate's end; zero for a subject.
	NotAfter time.Time
	// Subject is what a certificate chaining to a trust set must carry;
	// nil for a registered certificate.
	Subject   *client.TLSClientAuth
	CreatedAt time.Time
}

// check validates a registration: a PEM certificate (one, valid now) or
// a subject, not both.
func check(pemText string, subject *client.TLSClientAuth, now time.Time) (*x509.Certificate, error) {
	switch {
	case pemText != "" && subject != nil:
		return nil, failure.InvalidArgument("certificate", "register a certificate or a subject, not both")
	case pemText == "" && subject == nil:
		return nil, failure.InvalidArgument("certificate", "register a certificate (PEM) or a subject (a trust set and one subject value)")
	case subject != nil:
		return nil, subject.Validate()
	case len(pemText) > maxPEM:
		return nil, failure.InvalidArgument("certificate", "at most %d bytes", maxPEM)
	}
	certs, err := trustset.ParseCertificates("certificate", pemText, 1)
	if err != nil {
		return nil, err
	}
	if len(certs) != 1 {
		return nil, failure.InvalidArgument("certificate", "must be exactly one PEM certificate")
	}
	c := certs[0]
	if !now.Before(c.NotAfter) {
		return nil, failure.InvalidArgument("certificate", "expired at %s", c.NotAfter.UTC().Format(time.RFC3339))
	}
	return c, nil
}

// Commands register and remove certificates. Whether the caller may, and
// whether the user's type allows certificates, is decided before.
type Commands struct {
	store *eventstore.Store
	now   func() time.Time
}

// NewCommands returns the commands; now may be nil (time.Now).
func NewCommands(store *eventstore.Store, now func() time.Time) *Commands {
	if now == nil {
		now = time.Now
	}
	return &Commands{store: store, now: now}
}

// Add registers a certificate (PEM) or a subject for user. A subject's
// trust set must exist (failure.InvalidArgument otherwise); a certificate
// registered before in the instance is failure.AlreadyExists.
func (c *Commands) Add(ctx context.Context, editor eventstore.Editor, user eventstore.Aggregate, pemText string, subject *client.TLSClientAuth) (Certificate, error) {
	cert, err := check(pemText, subject, c.now())
	if err != nil {
		return Certificate{}, err
	}
	db := c.store.DB()
	existing, err := List(ctx, db, user.InstanceID, user.ID)
	if err != nil {
		return Certificate{}, err
	}
	if len(existing) >= MaxPerUser {
		return Certificate{}, failure.FailedPrecondition("user %s has %d certificates already; remove one first", user.ID, len(existing))
	}
	out := Certificate{ID: id.New(), UserID: user.ID, Subject: subject}
	add := &Added{CertificateID: out.ID, Subject: subject}
	var unique []eventstore.Unique
	if subject != nil {
		if subject.TrustSetID != "" {
			_, err = trustset.Get(ctx, db, user.InstanceID, subject.TrustSetID)
		} else {
			_, err = trustset.Default(ctx, db, user.InstanceID)
		}
		if failure.Is(err, failure.KindNotFound) {
			return Certificate{}, failure.InvalidArgument("subject.trustSetId", "no trust set %.64q in the instance (an empty id names the default set, which must exist)", subject.TrustSetID)
		}
		if err != nil {
			return Certificate{}, err
		}
	} else {
		out.PEM = strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))) + "\n"
		out.Thumbprint, out.NotAfter = client.Thumbprint(cert), cert.NotAfter.UTC()
		add.Certificate, add.Thumbprint, add.NotAfter = out.PEM, out.Thumbprint, &out.NotAfter
		unique = []eventstore.Unique{{Kind: uniqueThumbprint, Value: out.Thumbprint, Field: "certificate"}}
	}
	stored, err := c.store.Push(ctx, editor, eventstore.Append{Aggregate: user, ExpectedSequence: eventstore.AnySequence,
		Events: []eventstore.Payload{add}, Unique: unique})
	if err != nil {
		return Certificate{}, err
	}
	out.CreatedAt = stored[0].CreatedAt.UTC().Truncate(time.Second)
	return out, nil
}

// Remove ends a registration of user at once; another user's, or none, is
// failure.NotFound.
func (c *Commands) Remove(ctx context.Context, editor eventstore.Editor, user eventstore.Aggregate, certificateID string) error {
	var n int
	err := c.store.DB().Reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM machine_certificates WHERE instance_id = $1 AND user_id = $2 AND certificate_id = $3`,
		user.InstanceID, user.ID, certificateID).Scan(&n)
	if err != nil {
		return fmt.Errorf("machinecert: remove: %w", err)
	}
	if n == 0 {
		return failure.NotFound("user %s has no certificate %.64q", user.ID, certificateID)
	}
	_, err = c.store.Push(ctx, editor, eventstore.Append{Aggregate: user, ExpectedSequence: eventstore.AnySequence,
		Events: []eventstore.Payload{&Removed{CertificateID: certificateID}}})
	return err
}

// Migrations create the read model.
var Migrations = []database.Migration{{
	Name: "machinecert/0001_certificates",
	SQLite: `CREATE TABLE machine_certificates (instance_id TEXT NOT NULL, certificate_id TEXT NOT NULL, user_id TEXT NOT NULL,
	certificate TEXT NOT NULL, subject TEXT NOT NULL, thumbprint TEXT NOT NULL, not_after INTEGER NOT NULL, created_at INTEGER NOT NULL,
	PRIMARY KEY (instance_id, certificate_id));
CREATE INDEX machine_certificates_user ON machine_certificates (instance_id, user_id);`,
	Postgres: `CREATE TABLE machine_certificates (instance_id TEXT NOT NULL, certificate_id TEXT NOT NULL, user_id TEXT NOT NULL,
	certificate TEXT NOT NULL, subject TEXT NOT NULL, thumbprint TEXT NOT NULL, not_after BIGINT NOT NULL, created_at BIGINT NOT NULL,
	PRIMARY KEY (instance_id, certificate_id));
CREATE INDEX machine_certificates_user ON machine_certificates (instance_id, user_id);`,
}}

// Projection keeps machine_certificates.
type Projection struct{}

func (Projection) Name() string { return "machine_certificates" }
func (Projection) EventTypes() []string {
	return eventstore.TypesOf(&Added{}, &Removed{})
}

func (Projection) Reset(ctx context.Context, tx *database.Tx) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM machine_certificates`)
	return err
}

func (Projection) Reduce(ctx context.Context, tx *database.Tx, e *eventstore.Event) error {
	var err error
	switch p := e.Payload.(type) {
	case *Added:
		subject := ""
		if p.Subject != nil {
			b, _ := json.Marshal(p.Subject)
			subject = string(b)
		}
		var notAfter int64
		if p.NotAfter != nil {
			notAfter = p.NotAfter.Unix()
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO machine_certificates (instance_id, certificate_id, user_id, certificate, subject, thumbprint, not_after, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, e.Aggregate.InstanceID, p.CertificateID, e.Aggregate.ID, p.Certificate, subject, p.Thumbprint, notAfter, e.CreatedAt.Unix())
	case *Removed:
		_, err = tx.ExecContext(ctx, `DELETE FROM machine_certificates WHERE instance_id = $1 AND certificate_id = $2 AND user_id = $3`,
			e.Aggregate.InstanceID, p.CertificateID, e.Aggregate.ID)
	default:
		err = fmt.Errorf("unexpected payload %T", e.Payload)
	}
	return err
}

// List returns a user's registrations, oldest first.
func List(ctx context.Context, db *database.DB, instanceID, userID string) ([]Certificate, error) {
	rows, err := db.Reader().QueryContext(ctx, `SELECT certificate_id, certificate, subject, thumbprint, not_after, created_at FROM machine_certificates
WHERE instance_id = $1 AND user_id = $2 ORDER BY created_at, certificate_id`, instanceID, userID)
	if err != nil {
		return nil, fmt.Errorf("machinecert: list: %w", err)
	}
	defer rows.Close()
	var out []Certificate
	for rows.Next() {
		c := Certificate{UserID: userID}
		var subject string
		var notAfter, created int64
		if err := rows.Scan(&c.ID, &c.PEM, &subject, &c.Thumbprint, &notAfter, &created); err != nil {
			return nil, fmt.Errorf("machinecert: list: %w", err)
		}
		if subject != "" {
			c.Subject = new(client.TLSClientAuth)
			if err := json.Unmarshal([]byte(subject), c.Subject); err != nil {
				return nil, fmt.Errorf("machinecert: subject of %s: %w", c.ID, err)
			}
		}
		if notAfter != 0 {
			c.NotAfter = time.Unix(notAfter, 0).UTC()
		}
		c.CreatedAt = time.Unix(created, 0).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("machinecert: list: %w", err)
	}
	return out, nil
}
