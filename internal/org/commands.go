package org

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/id"
	"github.com/castellan-iam/castellan/internal/metadata"
)

// Unique value kinds organizations claim in the event store.
const (
	uniqueName           = "org_name"        // per instance, case-insensitive
	uniqueDomain         = "org_domain"      // per organization
	uniqueVerifiedDomain = "verified_domain" // per instance
)

// Commands change organizations.
type Commands struct {
	store    *eventstore.Store
	verifier *Verifier
}

// NewCommands returns the organization commands.
func NewCommands(store *eventstore.Store, verifier *Verifier) *Commands {
	return &Commands{store: store, verifier: verifier}
}

func validName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return "", failure.InvalidArgument("name", "an organization name has 1 to 200 characters")
	}
	return name, nil
}

// Creation returns the append that creates organization orgID, for callers
// that create it together with other objects (first start).
func Creation(instanceID, orgID, name string) (eventstore.Append, error) {
	name, err := validName(name)
	if err != nil {
		return eventstore.Append{}, err
	}
	return eventstore.Append{
		Aggregate:        eventstore.Aggregate{InstanceID: instanceID, Type: AggregateType, ID: orgID, Owner: orgID},
		ExpectedSequence: eventstore.NewAggregate,
		Events:           []eventstore.Payload{&Added{Name: name}},
		Unique:           []eventstore.Unique{{Kind: uniqueName, Value: name, Field: "name", FoldCase: true}},
	}, nil
}

// Create adds an active organization and returns its id.
func (c *Commands) Create(ctx context.Context, editor eventstore.Editor, instanceID, name string) (string, error) {
	orgID := id.New()
	a, err := Creation(instanceID, orgID, name)
	if err != nil {
		return "", err
	}
	_, err = c.store.Push(ctx, editor, a)
	return orgID, err
}

func (c *Commands) push(ctx context.Context, editor eventstore.Editor, instanceID string, m *writeModel, unique []eventstore.Unique, events ...eventstore.Payload) error {
	_, err := c.store.Push(ctx, editor, eventstore.Append{
		Aggregate: m.aggregate(instanceID), ExpectedSequence: m.Sequence, Events: events, Unique: unique,
	})
	return err
}

// Rename changes the name; renaming to the current name changes nothing.
func (c *Commands) Rename(ctx context.Context, editor eventstore.Editor, instanceID, orgID, name string) error {
	name, err := validName(name)
	if err != nil {
		return err
	}
	m, err := load(ctx, c.store, instanceID, orgID)
	if err != nil || m.Name == name {
		return err
	}
	unique := []eventstore.Unique{
		{Kind: uniqueName, Value: m.Name, Remove: true, FoldCase: true},
		{Kind: uniqueName, Value: name, Field: "name", FoldCase: true},
	}
	return c.push(ctx, editor, instanceID, m, unique, &Renamed{Name: name})
}

// Deactivate suspends an active organization.
func (c *Commands) Deactivate(ctx context.Context, editor eventstore.Editor, instanceID, orgID string) error {
	m, err := load(ctx, c.store, instanceID, orgID)
	if err != nil {
		return err
	}
	if m.State != StateActive {
		return failure.FailedPrecondition("organization %s is not active", orgID)
	}
	return c.push(ctx, editor, instanceID, m, nil, &Deactivated{})
}

// Reactivate ends a deactivation.
func (c *Commands) Reactivate(ctx context.Context, editor eventstore.Editor, instanceID, orgID string) error {
	m, err := load(ctx, c.store, instanceID, orgID)
	if err != nil {
		return err
	}
	if m.State != StateInactive {
		return failure.FailedPrecondition("organization %s is not inactive", orgID)
	}
	return c.push(ctx, editor, instanceID, m, nil, &Reactivated{})
}

// Remove deletes the organization and releases its name and domains.
func (c *Commands) Remove(ctx context.Context, editor eventstore.Editor, instanceID, orgID string) error {
	m, err := load(ctx, c.store, instanceID, orgID)
	if err != nil {
		return err
	}
	unique := []eventstore.Unique{{Kind: uniqueName, Value: m.Name, Remove: true, FoldCase: true}}
	for _, d := range m.Domains {
		unique = append(unique, domainReleases(orgID, d)...)
	}
	return c.push(ctx, editor, instanceID, m, unique, &Removed{})
}

func domainReleases(orgID string, d *Domain) []eventstore.Unique {
	u := []eventstore.Unique{{Kind: uniqueDomain, Scope: orgID, Value: d.Name, Remove: true}}
	if d.Verified {
		u = append(u, eventstore.Unique{Kind: uniqueVerifiedDomain, Value: d.Name, Remove: true})
	}
	return u
}

// ValidateDomain normalizes a domain name and checks it: lower-case labels
// of letters, digits and hyphens, at least two labels, at most 253
// characters.
func ValidateDomain(domain string) (string, error) {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
	labels := strings.Split(d, ".")
	if len(d) > 253 || len(labels) < 2 {
		return "", failure.InvalidArgument("domain", "%q is not a domain name with at least two labels", domain)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", failure.InvalidArgument("domain", "%q has an invalid label", domain)
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return "", failure.InvalidArgument("domain", "%q may hold only letters, digits, hyphens and dots", domain)
			}
		}
	}
	return d, nil
}

// AddDomain claims a domain for the organization, unverified.
func (c *Commands) AddDomain(ctx context.Context, editor eventstore.Editor, instanceID, orgID, domain string) error {
	d, err := ValidateDomain(domain)
	if err != nil {
		return err
	}
	m, err := load(ctx, c.store, instanceID, orgID)
	if err != nil {
		return err
	}
	unique := []eventstore.Unique{{Kind: uniqueDomain, Scope: orgID, Value: d, Field: "domain"}}
	return c.push(ctx, editor, instanceID, m, unique, &DomainAdded{Domain: d})
}

func (m *writeModel) domain(name string) (*Domain, error) {
	d, err := ValidateDomain(name)
	if err != nil {
		return nil, err
	}
	dom := m.Domains[d]
	if dom == nil {
		return nil, failure.NotFound("organization %s has no domain %s", m.ID, d)
	}
	return dom, nil
}

// RequestDomainVerification issues the challenge that proves a domain:
// method "dns" or "http". It returns the token to publish.
func (c *Commands) RequestDomainVerification(ctx context.Context, editor eventstore.Editor, instanceID, orgID, domain, method string) (string, error) {
	if method != MethodDNS && method != MethodHTTP {
		return "", failure.InvalidArgument("method", "verification method must be %q or %q", MethodDNS, MethodHTTP)
	}
	m, err := load(ctx, c.store, instanceID, orgID)
	if err != nil {
		return "", err
	}
	d, err := m.domain(domain)
	if err != nil {
		return "", err
	}
	if d.Verified {
		return "", failure.FailedPrecondition("domain %s is already verified", d.Name)
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	return token, c.push(ctx, editor, instanceID, m, nil, &DomainVerificationRequested{Domain: d.Name, Method: method, Token: token})
}

// VerifyDomain checks the published challenge and, when it is there, marks
// the domain verified — claiming it across the instance.
func (c *Commands) VerifyDomain(ctx context.Context, editor eventstore.Editor, instanceID, orgID, domain string) error {
	m, err := load(ctx, c.store, instanceID, orgID)
	if err != nil {
		return err
	}
	d, err := m.domain(domain)
	if err != nil {
		return err
	}
	if d.Verified {
		return nil
	}
	if d.Token == "" {
		return failure.FailedPrecondition("request a verification of %s first", d.Name)
	}
	if err := c.verifier.Verify(ctx, d.Name, d.Method, d.Token); err != nil {
		return err
	}
	unique := []eventstore.Unique{{Kind: uniqueVerifiedDomain, Value: d.Name, Field: "domain"}}
	return c.push(ctx, editor, instanceID, m, unique, &DomainVerified{Domain: d.Name})
}

// SetPrimaryDomain makes a verified domain the primary one.
func (c *Commands) SetPrimaryDomain(ctx context.Context, editor eventstore.Editor, instanceID, orgID, domain string) error {
	m, err := load(ctx, c.store, instanceID, orgID)
	if err != nil {
		return err
	}
	d, err := m.domain(domain)
	if err != nil {
		return err
	}
	if !d.Verified {
		return failure.FailedPrecondition("domain %s is not verified", d.Name)
	}
	if d.Primary {
		return nil
	}
	return c.push(ctx, editor, instanceID, m, nil, &PrimaryDomainSet{Domain: d.Name})
}

// RemoveDomain gives a domain up. The primary domain cannot be removed.
func (c *Commands) RemoveDomain(ctx context.Context, editor eventstore.Editor, instanceID, orgID, domain string) error {
	m, err := load(ctx, c.store, instanceID, orgID)
	if err != nil {
		return err
	}
	d, err := m.domain(domain)
	if err != nil {
		return err
	}
	if d.Primary {
		return failure.FailedPrecondition("domain %s is primary: make another domain primary first", d.Name)
	}
	return c.push(ctx, editor, instanceID, m, domainReleases(orgID, d), &DomainRemoved{Domain: d.Name})
}

// SetMetadata sets key to value.
func (c *Commands) SetMetadata(ctx context.Context, editor eventstore.Editor, instanceID, orgID, key string, value []byte) error {
	if err := metadata.Check(key, value); err != nil {
		return err
	}
	m, err := load(ctx, c.store, instanceID, orgID)
	if err != nil {
		return err
	}
	if err := metadata.CheckSet(m.Metadata, key, value); err != nil {
		return err
	}
	return c.push(ctx, editor, instanceID, m, nil, &MetadataSet{Key: key, Value: value})
}

// RemoveMetadata removes key.
func (c *Commands) RemoveMetadata(ctx context.Context, editor eventstore.Editor, instanceID, orgID, key string) error {
	m, err := load(ctx, c.store, instanceID, orgID)
	if err != nil {
		return err
	}
	if _, ok := m.Metadata[key]; !ok {
		return failure.NotFound("organization %s has no metadata %q", orgID, key)
	}
	return c.push(ctx, editor, instanceID, m, nil, &MetadataRemoved{Key: key})
}

// SetDomainPolicy sets whether new login names of the organization's users
// must end with "@" and one of its verified domains. Turning it on needs a
// primary domain, which a login name without "@" is completed with.
// Existing login names are not changed.
func (c *Commands) SetDomainPolicy(ctx context.Context, editor eventstore.Editor, instanceID, orgID string, loginNameMustBeDomain bool) error {
	m, err := load(ctx, c.store, instanceID, orgID)
	if err != nil {
		return err
	}
	if m.LoginNameMustBeDomain == loginNameMustBeDomain {
		return nil
	}
	if loginNameMustBeDomain {
		primary := false
		for _, d := range m.Domains {
			primary = primary || d.Primary
		}
		if !primary {
			return failure.FailedPrecondition("organization %s needs a verified primary domain first", orgID)
		}
	}
	return c.push(ctx, editor, instanceID, m, nil, &DomainPolicySet{LoginNameMustBeDomain: loginNameMustBeDomain})
}
