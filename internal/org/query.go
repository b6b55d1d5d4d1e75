package org

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
)

// Org is an organization as the read model holds it.
type Org struct {
	InstanceID    string
	ID            string
	Name          string
	State         State
	PrimaryDomain string
	CreatedAt     time.Time
	ChangedAt     time.Time
	Sequence      int64
	Domains       []Domain
	Metadata      map[string][]byte
	// LoginNameMustBeDomain is the domain policy (see SetDomainPolicy).
	LoginNameMustBeDomain bool
}

// Get reads an organization with its domains and metadata. Removed
// organizations are not found.
func Get(ctx context.Context, db *database.DB, instanceID, orgID string) (Org, error) {
	o := Org{InstanceID: instanceID, ID: orgID, Metadata: map[string][]byte{}}
	var state string
	var created, changed int64
	err := db.Reader().QueryRowContext(ctx, `SELECT name, state, primary_domain, created_at, changed_at, sequence, login_name_must_be_domain FROM orgs
WHERE instance_id = $1 AND id = $2 AND state <> $3`, instanceID, orgID, string(StateRemoved)).
		Scan(&o.Name, &state, &o.PrimaryDomain, &created, &changed, &o.Sequence, &o.LoginNameMustBeDomain)
	if errors.Is(err, sql.ErrNoRows) {
		return Org{}, failure.NotFound("organization %s not found", orgID)
	}
	if err != nil {
		return Org{}, err
	}
	o.State, o.CreatedAt, o.ChangedAt = State(state), time.UnixMicro(created).UTC(), time.UnixMicro(changed).UTC()
	rows, err := db.Reader().QueryContext(ctx, `SELECT domain, verified, is_primary, method FROM org_domains
WHERE instance_id = $1 AND org_id = $2 ORDER BY domain`, instanceID, orgID)
	if err != nil {
		return Org{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var d Domain
		if err := rows.Scan(&d.Name, &d.Verified, &d.Primary, &d.Method); err != nil {
			return Org{}, err
		}
		o.Domains = append(o.Domains, d)
	}
	if err := rows.Err(); err != nil {
		return Org{}, err
	}
	meta, err := db.Reader().QueryContext(ctx, `SELECT key, value FROM org_metadata WHERE instance_id = $1 AND org_id = $2`, instanceID, orgID)
	if err != nil {
		return Org{}, err
	}
	defer meta.Close()
	for meta.Next() {
		var k string
		var v []byte
		if err := meta.Scan(&k, &v); err != nil {
			return Org{}, err
		}
		o.Metadata[k] = v
	}
	return o, meta.Err()
}

// StateOf returns an organization's state; a missing or removed
// organization is failure.NotFound.
func StateOf(ctx context.Context, db *database.DB, instanceID, orgID string) (State, error) {
	var state string
	err := db.Reader().QueryRowContext(ctx, `SELECT state FROM orgs WHERE instance_id = $1 AND id = $2`, instanceID, orgID).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) || State(state) == StateRemoved {
		return "", failure.NotFound("organization %s not found", orgID)
	}
	if err != nil {
		return "", fmt.Errorf("org: state of %s: %w", orgID, err)
	}
	return State(state), nil
}

// RequireActive refuses an organization that is not active (missing or
// removed: failure.NotFound; inactive: failure.FailedPrecondition), for
// commands that add something to it.
func RequireActive(ctx context.Context, db *database.DB, instanceID, orgID string) error {
	state, err := StateOf(ctx, db, instanceID, orgID)
	if err != nil {
		return err
	}
	if state != StateActive {
		return failure.FailedPrecondition("organization %s is %s", orgID, state)
	}
	return nil
}

// ByVerifiedDomain returns the organization that verified domain (unique
// in the instance), for discovering an organization from a login name
// such as alice@example.com; none is failure.NotFound.
func ByVerifiedDomain(ctx context.Context, db *database.DB, instanceID, domain string) (string, error) {
	var id string
	err := db.Reader().QueryRowContext(ctx, `SELECT org_id FROM org_domains WHERE instance_id = $1 AND domain = $2 AND verified = $3`,
		instanceID, strings.TrimSuffix(strings.ToLower(domain), "."), true).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", failure.NotFound("no organization verified %s", domain)
	}
	if err != nil {
		return "", fmt.Errorf("org: by domain %s: %w", domain, err)
	}
	return id, nil
}

// PrimaryDomain returns an organization's primary domain ("" without
// one, or for an organization that was removed): one prepared read, for
// the claims of every token.
func PrimaryDomain(ctx context.Context, db *database.DB, instanceID, orgID string) (string, error) {
	var d string
	err := db.ReadQueryRow(ctx, `SELECT primary_domain FROM orgs WHERE instance_id = $1 AND id = $2 AND state <> $3`, instanceID, orgID, string(StateRemoved)).Scan(&d)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return d, err
}
