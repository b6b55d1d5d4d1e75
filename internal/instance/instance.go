package instance

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// Instance is a tenant as the read model holds it.
type Instance struct {
	ID            string
	Name          string
	PrimaryDomain string
}

// NormalizeDomain turns a Host header or configured domain into the form
// instances are looked up by: lower case, without port, brackets or trailing
// dot. A value that is not a host name or IP address yields "".
func NormalizeDomain(host string) string {
	host = strings.TrimSpace(host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimRight(strings.Trim(strings.ToLower(host), "[]"), ".")
	if host == "" || len(host) > 253 {
		return ""
	}
	for _, c := range host {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':') {
			return ""
		}
	}
	if strings.Contains(host, ":") && net.ParseIP(host) == nil {
		return ""
	}
	return host
}

// Create returns the appends that create an instance with its primary
// domain. The caller pushes them, usually together with the instance's
// first organization and administrator.
func Create(id, name, domain string) (eventstore.Append, error) {
	domain = NormalizeDomain(domain)
	switch {
	case strings.TrimSpace(name) == "":
		return eventstore.Append{}, failure.InvalidArgument("name", "an instance needs a name")
	case domain == "":
		return eventstore.Append{}, failure.InvalidArgument("domain", "an instance needs a domain")
	}
	return eventstore.Append{
		Aggregate:        eventstore.Aggregate{InstanceID: id, Type: AggregateType, ID: id},
		ExpectedSequence: eventstore.NewAggregate,
		Events:           []eventstore.Payload{&Added{Name: name}, &DomainAdded{Domain: domain, Primary: true}},
		Unique:           []eventstore.Unique{{Kind: "instance_domain", Value: domain, Field: "domain", Global: true}},
	}, nil
}

// AddMember returns the append that makes userID an instance administrator.
func AddMember(instanceID, userID string, roles ...string) eventstore.Append {
	return eventstore.Append{
		Aggregate:        eventstore.Aggregate{InstanceID: instanceID, Type: AggregateType, ID: instanceID},
		ExpectedSequence: eventstore.AnySequence,
		Events:           []eventstore.Payload{&MemberAdded{UserID: userID, Roles: roles}},
	}
}

// Resolver finds the instance that serves a host.
type Resolver struct {
	db *database.DB
}

// NewResolver returns a Resolver reading the instance read model.
func NewResolver(db *database.DB) *Resolver { return &Resolver{db: db} }

// ByHost returns the instance serving host (a Host header, port allowed).
// It returns failure.NotFound when no instance has the domain.
func (r *Resolver) ByHost(ctx context.Context, host string) (Instance, error) {
	domain := NormalizeDomain(host)
	var inst Instance
	err := r.db.Reader().QueryRowContext(ctx, `SELECT i.id, i.name, COALESCE(p.domain, '')
FROM instance_domains d JOIN instances i ON i.id = d.instance_id
LEFT JOIN instance_domains p ON p.instance_id = i.id AND p.is_primary = $2
WHERE d.domain = $1`, domain, true).Scan(&inst.ID, &inst.Name, &inst.PrimaryDomain)
	if errors.Is(err, sql.ErrNoRows) {
		return Instance{}, failure.NotFound("no instance serves the host %q", domain)
	}
	if err != nil {
		return Instance{}, fmt.Errorf("instance: resolve %q: %w", domain, err)
	}
	return inst, nil
}

// Count returns how many instances exist.
func Count(ctx context.Context, db *database.DB) (int, error) {
	var n int
	err := db.Reader().QueryRowContext(ctx, `SELECT count(*) FROM instances`).Scan(&n)
	return n, err
}

type ctxKey struct{}

// IDs returns the ids of every instance.
func IDs(ctx context.Context, db *database.DB) ([]string, error) {
	rows, err := db.Reader().QueryContext(ctx, `SELECT id FROM instances ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("instance: list: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// WithContext returns ctx carrying the request's instance.
func WithContext(ctx context.Context, inst Instance) context.Context {
	return context.WithValue(ctx, ctxKey{}, inst)
}

// FromContext returns the request's instance, set by the server after
// resolving the host.
func FromContext(ctx context.Context) (Instance, bool) {
	inst, ok := ctx.Value(ctxKey{}).(Instance)
	return inst, ok
}

// Sequence is the instance aggregate's current sequence, for appending to
// it with optimistic concurrency.
func Sequence(ctx context.Context, db *database.DB, instanceID string) (int64, error) {
	var seq int64
	err := db.Reader().QueryRowContext(ctx, `SELECT sequence FROM instances WHERE id = $1`, instanceID).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, failure.NotFound("instance %s not found", instanceID)
	}
	return seq, err
}

// Issuer is the instance's own base URL, its OpenID issuer: the scheme and
// port of the server's external URL with the instance's primary domain as
// host, so that each virtual instance is an issuer of its own
// (https://login.example.com for one, https://id.customer.example for
// another, on the same server). A default port is left out.
func (i Instance) Issuer(externalURL string) string {
	u, err := url.Parse(externalURL)
	if err != nil || u.Scheme == "" {
		u = &url.URL{Scheme: "https"}
	}
	host := i.PrimaryDomain
	if port := u.Port(); port != "" && !(u.Scheme == "https" && port == "443") && !(u.Scheme == "http" && port == "80") {
		host = net.JoinHostPort(host, port)
	}
	return (&url.URL{Scheme: u.Scheme, Host: host}).String()
}

// ByID returns an instance by its id, with its primary domain; an unknown
// id is failure.NotFound.
func ByID(ctx context.Context, db *database.DB, instanceID string) (Instance, error) {
	var inst Instance
	err := db.Reader().QueryRowContext(ctx, `SELECT i.id, i.name, COALESCE(p.domain, '')
FROM instances i LEFT JOIN instance_domains p ON p.instance_id = i.id AND p.is_primary = $2
WHERE i.id = $1`, instanceID, true).Scan(&inst.ID, &inst.Name, &inst.PrimaryDomain)
	if errors.Is(err, sql.ErrNoRows) {
		return Instance{}, failure.NotFound("instance %s not found", instanceID)
	}
	if err != nil {
		return Instance{}, fmt.Errorf("instance: %s: %w", instanceID, err)
	}
	return inst, nil
}
