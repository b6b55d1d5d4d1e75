package user

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/id"
	"github.com/castellan-iam/castellan/internal/metadata"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/password"
	"github.com/castellan-iam/castellan/internal/userschema"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// Unique value kinds users claim in the event store.
const (
	uniqueLoginName = "login_name" // per instance, by LoginNameKey
	uniqueTrait     = "user_trait" // + "/" + schema id + pointer; per org or instance
)

// New describes a user to create.
type New struct {
	OrgID string
	// Type is the user type's name ("human", "machine", …).
	Type          string
	LoginName     string
	Traits        json.RawMessage
	Email         string
	EmailVerified bool
	Phone         string
	PhoneVerified bool
	// Password is hashed with argon2id; PasswordHash is an already hashed
	// password (import). At most one is set.
	Password       string
	PasswordHash   string
	ChangeRequired bool
}

var phoneNumber = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

func validateContact(email, phone string) error {
	if email != "" {
		local, domain, ok := strings.Cut(email, "@")
		if !ok || local == "" || !strings.Contains(domain, ".") || strings.ContainsAny(email, " \t\r\n<>") || strings.Count(email, "@") != 1 || len(email) > 254 {
			return failure.InvalidArgument("email", "%q is not an email address", email)
		}
	}
	if phone != "" && !phoneNumber.MatchString(phone) {
		return failure.InvalidArgument("phone", "a phone number is in E.164 form, like +41791234567")
	}
	return nil
}

// traitUniques returns the unique claims (or releases) for the unique
// fields of schema present in traits.
func traitUniques(schema *userschema.Schema, orgID string, traits json.RawMessage, remove bool) ([]eventstore.Unique, error) {
	values, err := schema.UniqueValues(traits)
	if err != nil {
		return nil, err
	}
	out := make([]eventstore.Unique, 0, len(values))
	for _, v := range values {
		scope := ""
		if v.Scope == userschema.UniqueOrg {
			scope = orgID
		}
		out = append(out, eventstore.Unique{Kind: uniqueTrait + "/" + schema.ID() + v.Pointer, Scope: scope, Value: v.Value,
			Field: "traits" + v.Pointer, Remove: remove})
	}
	return out, nil
}

// Creation returns the append that creates user userID of the compiled
// schema (the latest revision of type typeName). The password must already
// be hashed into n.PasswordHash.
func Creation(instanceID, userID, typeName string, schema *userschema.Schema, n New) (eventstore.Append, error) {
	if n.OrgID == "" {
		return eventstore.Append{}, failure.InvalidArgument("orgId", "a user belongs to an organization")
	}
	login, err := ParseLoginName(n.LoginName)
	if err != nil {
		return eventstore.Append{}, err
	}
	n.LoginName = login.Display
	if err := validateContact(n.Email, n.Phone); err != nil {
		return eventstore.Append{}, err
	}
	traits := n.Traits
	if len(traits) == 0 {
		traits = json.RawMessage(`{}`)
	}
	if err := schema.Validate(traits); err != nil {
		return eventstore.Append{}, err
	}
	unique, err := traitUniques(schema, n.OrgID, traits, false)
	if err != nil {
		return eventstore.Append{}, err
	}
	unique = append(unique, eventstore.Unique{Kind: uniqueLoginName, Value: login.Key, Field: "loginName"})
	initial := slices.Contains(schema.Authenticators(), "password") && n.PasswordHash == "" && !n.EmailVerified
	events := []eventstore.Payload{&Added{
		SchemaID: schema.ID(), SchemaType: typeName, SchemaRevision: schema.Revision(), LoginName: n.LoginName, Traits: compactJSON(traits),
		Email: n.Email, EmailVerified: n.EmailVerified, Phone: n.Phone, PhoneVerified: n.PhoneVerified, Initial: initial,
	}}
	if n.PasswordHash != "" {
		events = append(events, &credential.PasswordSet{Hash: n.PasswordHash, ChangeRequired: n.ChangeRequired})
	}
	return eventstore.Append{
		Aggregate:        eventstore.Aggregate{InstanceID: instanceID, Type: AggregateType, ID: userID, Owner: n.OrgID},
		ExpectedSequence: eventstore.NewAggregate,
		Events:           events,
		Unique:           unique,
	}, nil
}

func compactJSON(raw json.RawMessage) json.RawMessage {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return raw
	}
	b, _ := json.Marshal(v)
	return b
}

// Commands change users.
type Commands struct {
	store  *eventstore.Store
	hasher *password.Hasher
	// creds checks and hashes the passwords of new users.
	creds *credential.Commands
	now   func() time.Time
	// loginNames are the rules for new login names (WithLoginNameRules).
	loginNames LoginNameRules
}

// NewCommands returns the user commands under credential.DefaultPolicy
// (see WithPolicy).
func NewCommands(store *eventstore.Store, hasher *password.Hasher) *Commands {
	return &Commands{store: store, hasher: hasher, creds: credential.NewCommands(store, hasher), now: time.Now}
}

// WithPolicy returns the commands under the credential policies of src.
func (c *Commands) WithPolicy(src credential.PolicySource) *Commands {
	cp := *c
	cp.creds = c.creds.WithPolicy(src)
	return &cp
}

// Credentials are the credential commands under the same policies, for
// the passwords and contact codes of existing users.
func (c *Commands) Credentials() *credential.Commands { return c.creds }

// WithClock returns the commands with another clock (tests).
func (c *Commands) WithClock(now func() time.Time) *Commands {
	cp := *c
	cp.now = now
	cp.creds = c.creds.WithClock(now)
	return &cp
}

func (c *Commands) db() *database.DB { return c.store.DB() }

// Create adds a user and returns its id.
func (c *Commands) Create(ctx context.Context, editor eventstore.Editor, instanceID string, n New) (string, error) {
	t, err := c.newUsers(instanceID).check(ctx, &n)
	if err != nil {
		return "", err
	}
	if n.Password != "" {
		if n.PasswordHash, err = c.hasher.Hash(ctx, n.Password); err != nil {
			return "", err
		}
	}
	userID := id.New()
	a, err := Creation(instanceID, userID, t.name, t.schema, n)
	if err != nil {
		return "", err
	}
	if _, err := c.store.Push(ctx, editor, a); err != nil {
		return "", err
	}
	return userID, nil
}

// orgLoginName applies the organization's domain policy to a new login
// name: completed with the primary domain when it has no "@", and refused
// when its domain is not one of the organization's verified domains.
func orgLoginName(o org.Org, name string) (string, error) {
	if !o.LoginNameMustBeDomain {
		return name, nil
	}
	at := strings.LastIndex(name, "@")
	if at < 0 {
		return name + "@" + o.PrimaryDomain, nil
	}
	for _, d := range o.Domains {
		if d.Verified && strings.EqualFold(d.Name, name[at+1:]) {
			return name, nil
		}
	}
	return "", failure.InvalidArgument("loginName", "login names of this organization end with @ and one of its verified domains, such as @%s", o.PrimaryDomain)
}

// Patch is a partial update. Traits is an RFC 7396 merge patch; nil
// pointers leave a field unchanged.
type Patch struct {
	Traits    json.RawMessage
	LoginName *string
	Email     *string
	Phone     *string
}

// Update applies a partial update as role: an administrator, or the user
// itself (userschema.Self), who may change only the fields its schema lets
// it write. Traits are validated against the latest revision of the type.
func (c *Commands) Update(ctx context.Context, editor eventstore.Editor, instanceID, userID string, role userschema.Role, p Patch) error {
	m, err := load(ctx, c.store, instanceID, userID)
	if err != nil {
		return err
	}
	var events []eventstore.Payload
	var unique []eventstore.Unique
	if len(p.Traits) > 0 {
		t, err := usertype.Get(ctx, c.db(), instanceID, m.SchemaID)
		if err != nil {
			return err
		}
		latest, err := t.Schema()
		if err != nil {
			return err
		}
		merged, err := userschema.MergePatch(m.Traits, p.Traits)
		if err != nil {
			return failure.InvalidArgument("traits", "not a JSON merge patch: %v", err)
		}
		if err := latest.CheckWritable(m.Traits, merged, role); err != nil {
			return err
		}
		if err := latest.Validate(merged); err != nil {
			return err
		}
		old := latest
		if m.SchemaRevision != t.Revision {
			if old, err = usertype.Compiled(ctx, c.db(), instanceID, m.SchemaID, m.SchemaRevision); err != nil {
				return err
			}
		}
		release, err := traitUniques(old, m.OrgID, m.Traits, true)
		if err != nil {
			return err
		}
		claim, err := traitUniques(latest, m.OrgID, merged, false)
		if err != nil {
			return err
		}
		unique = append(append(unique, release...), claim...)
		events = append(events, &TraitsUpdated{SchemaRevision: latest.Revision(), Traits: compactJSON(merged)})
	}
	if p.LoginName != nil && *p.LoginName != m.LoginName {
		if role != userschema.Admin {
			return failure.PermissionDenied("only an administrator changes login names")
		}
		o, err := org.Get(ctx, c.db(), instanceID, m.OrgID)
		if err != nil {
			return err
		}
		name, err := c.loginName(o, *p.LoginName)
		if err != nil {
			return err
		}
		claimed, err := c.claimedLoginName(ctx, instanceID, userID, m.LoginName)
		if err != nil {
			return err
		}
		if name != m.LoginName { // "Ａda" is "Ada" typed wide
			unique = append(unique,
				eventstore.Unique{Kind: uniqueLoginName, Value: claimed, Remove: true},
				eventstore.Unique{Kind: uniqueLoginName, Value: LoginNameKey(name), Field: "loginName"})
			events = append(events, &LoginNameChanged{LoginName: name})
		}
	}
	if p.Email != nil && *p.Email != m.Email {
		if err := validateContact(*p.Email, ""); err != nil {
			return err
		}
		events = append(events, &EmailChanged{Email: *p.Email, Verified: false})
	}
	if p.Phone != nil && *p.Phone != m.Phone {
		if err := validateContact("", *p.Phone); err != nil {
			return err
		}
		events = append(events, &PhoneChanged{Phone: *p.Phone, Verified: false})
	}
	if len(events) == 0 {
		return nil
	}
	_, err = c.store.Push(ctx, editor, eventstore.Append{Aggregate: m.aggregate(instanceID), ExpectedSequence: m.Sequence, Events: events, Unique: unique})
	return err
}

func (c *Commands) transition(ctx context.Context, editor eventstore.Editor, instanceID, userID string, from []State, e eventstore.Payload, unique func(*writeModel) ([]eventstore.Unique, error)) error {
	m, err := load(ctx, c.store, instanceID, userID)
	if err != nil {
		return err
	}
	allowed := false
	for _, s := range from {
		allowed = allowed || m.State == s
	}
	if !allowed {
		return failure.FailedPrecondition("user %s is %s", userID, m.State)
	}
	var u []eventstore.Unique
	if unique != nil {
		if u, err = unique(m); err != nil {
			return err
		}
	}
	_, err = c.store.Push(ctx, editor, eventstore.Append{Aggregate: m.aggregate(instanceID), ExpectedSequence: m.Sequence, Events: []eventstore.Payload{e}, Unique: u,
		ErasePersonal: e.EventType() == (Deleted{}).EventType()})
	return err
}

// Lock blocks sign-in of an active user.
func (c *Commands) Lock(ctx context.Context, editor eventstore.Editor, instanceID, userID string) error {
	return c.transition(ctx, editor, instanceID, userID, []State{StateActive}, &Locked{}, nil)
}

// Unlock lifts a lock.
func (c *Commands) Unlock(ctx context.Context, editor eventstore.Editor, instanceID, userID string) error {
	return c.transition(ctx, editor, instanceID, userID, []State{StateLocked}, &Unlocked{}, nil)
}

// Deactivate suspends a user that is not already inactive.
func (c *Commands) Deactivate(ctx context.Context, editor eventstore.Editor, instanceID, userID string) error {
	return c.transition(ctx, editor, instanceID, userID, []State{StateInitial, StateActive, StateLocked}, &Deactivated{}, nil)
}

// Reactivate ends a suspension.
func (c *Commands) Reactivate(ctx context.Context, editor eventstore.Editor, instanceID, userID string) error {
	return c.transition(ctx, editor, instanceID, userID, []State{StateInactive}, &Reactivated{}, nil)
}

// Delete removes the user for good: it releases the login name and unique
// trait values, and erases the user's personal data from the event log
// (GDPR Art. 17) by destroying its key; who did what and when stays.
func (c *Commands) Delete(ctx context.Context, editor eventstore.Editor, instanceID, userID string) (err error) {
	defer c.scrubAfterErasure(ctx, userID, &err) // erase_files.go
	return c.transition(ctx, editor, instanceID, userID, []State{StateInitial, StateActive, StateInactive, StateLocked}, &Deleted{},
		func(m *writeModel) ([]eventstore.Unique, error) {
			claimed, err := c.claimedLoginName(ctx, instanceID, userID, m.LoginName)
			if err != nil {
				return nil, err
			}
			u := []eventstore.Unique{{Kind: uniqueLoginName, Value: claimed, Remove: true}}
			if m.SchemaID == "" {
				return u, nil
			}
			schema, err := usertype.Compiled(ctx, c.db(), instanceID, m.SchemaID, m.SchemaRevision)
			if err != nil {
				return nil, err
			}
			traits, err := traitUniques(schema, m.OrgID, m.Traits, true)
			return append(u, traits...), err
		})
}

// SetMetadata sets key to value.
func (c *Commands) SetMetadata(ctx context.Context, editor eventstore.Editor, instanceID, userID, key string, value []byte) error {
	if err := metadata.Check(key, value); err != nil {
		return err
	}
	m, err := load(ctx, c.store, instanceID, userID)
	if err != nil {
		return err
	}
	if err := metadata.CheckSet(m.Metadata, key, value); err != nil {
		return err
	}
	_, err = c.store.Push(ctx, editor, eventstore.Append{Aggregate: m.aggregate(instanceID), ExpectedSequence: m.Sequence,
		Events: []eventstore.Payload{&MetadataSet{Key: key, Value: value}}})
	return err
}

// RemoveMetadata removes key.
func (c *Commands) RemoveMetadata(ctx context.Context, editor eventstore.Editor, instanceID, userID, key string) error {
	m, err := load(ctx, c.store, instanceID, userID)
	if err != nil {
		return err
	}
	if _, ok := m.Metadata[key]; !ok {
		return failure.NotFound("user %s has no metadata %q", userID, key)
	}
	_, err = c.store.Push(ctx, editor, eventstore.Append{Aggregate: m.aggregate(instanceID), ExpectedSequence: m.Sequence,
		Events: []eventstore.Payload{&MetadataRemoved{Key: key}}})
	return err
}
