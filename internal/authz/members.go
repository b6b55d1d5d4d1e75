package authz

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/user"
)

// OrgMemberAdded gives a user roles on an organization (or changes them).
type OrgMemberAdded struct {
	UserID string   `json:"userId"`
	Roles  []string `json:"roles"`
}

// OrgMemberRemoved takes all of a user's roles on an organization.
type OrgMemberRemoved struct {
	UserID string `json:"userId"`
}

func (OrgMemberAdded) EventType() string   { return "org.member.added" }
func (OrgMemberRemoved) EventType() string { return "org.member.removed" }

// RegisterEvents adds the member events of organizations to r. (Instance
// member events belong to package instance.)
func RegisterEvents(r *eventstore.Registry) {
	eventstore.Register[OrgMemberAdded](r, 1)
	eventstore.Register[OrgMemberRemoved](r, 1)
}

// Migrations create the members table.
var Migrations = []database.Migration{{
	Name: "authz/0001_members",
	SQLite: `CREATE TABLE members (instance_id TEXT NOT NULL, scope TEXT NOT NULL, scope_id TEXT NOT NULL, user_id TEXT NOT NULL, roles TEXT NOT NULL,
	PRIMARY KEY (instance_id, user_id, scope, scope_id));`,
	Postgres: `CREATE TABLE members (instance_id TEXT NOT NULL, scope TEXT NOT NULL, scope_id TEXT NOT NULL, user_id TEXT NOT NULL, roles TEXT NOT NULL,
	PRIMARY KEY (instance_id, user_id, scope, scope_id));`,
}}

// Projection keeps the members table from instance and organization
// member events; removing an organization or deleting a user drops their
// memberships.
type Projection struct{}

func (Projection) Name() string { return "members" }

func (Projection) EventTypes() []string {
	return []string{"instance.member.added", "instance.member.removed", "org.member.added", "org.member.removed", "org.removed", "user.deleted"}
}

func (Projection) Reset(ctx context.Context, tx *database.Tx) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM members`)
	return err
}

func (Projection) Reduce(ctx context.Context, tx *database.Tx, e *eventstore.Event) error {
	upsert := func(scope, userID string, roles []string) error {
		b, _ := json.Marshal(roles)
		_, err := tx.ExecContext(ctx, `INSERT INTO members (instance_id, scope, scope_id, user_id, roles) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (instance_id, user_id, scope, scope_id) DO UPDATE SET roles = excluded.roles`,
			e.Aggregate.InstanceID, scope, e.Aggregate.ID, userID, string(b))
		return err
	}
	switch p := e.Payload.(type) {
	case *instance.MemberAdded:
		return upsert("instance", p.UserID, p.Roles)
	case *OrgMemberAdded:
		return upsert("org", p.UserID, p.Roles)
	case *instance.MemberRemoved:
		_, err := tx.ExecContext(ctx, `DELETE FROM members WHERE instance_id = $1 AND scope = 'instance' AND user_id = $2`, e.Aggregate.InstanceID, p.UserID)
		return err
	case *org.Removed:
		_, err := tx.ExecContext(ctx, `DELETE FROM members WHERE instance_id = $1 AND scope = 'org' AND scope_id = $2`, e.Aggregate.InstanceID, e.Aggregate.ID)
		return err
	case *user.Deleted:
		_, err := tx.ExecContext(ctx, `DELETE FROM members WHERE instance_id = $1 AND user_id = $2`, e.Aggregate.InstanceID, e.Aggregate.ID)
		return err
	case *OrgMemberRemoved:
		_, err := tx.ExecContext(ctx, `DELETE FROM members WHERE instance_id = $1 AND scope = 'org' AND scope_id = $2 AND user_id = $3`,
			e.Aggregate.InstanceID, e.Aggregate.ID, p.UserID)
		return err
	}
	return fmt.Errorf("unexpected payload %T", e.Payload)
}

// AddOrgMember returns the append that gives userID roles on orgID.
func AddOrgMember(instanceID, orgID, userID string, roles []string) (eventstore.Append, error) {
	if bad := ValidRoles("org", roles); bad != "" {
		return eventstore.Append{}, failure.InvalidArgument("roles", "%q is not an organization role", bad)
	}
	return eventstore.Append{
		Aggregate:        eventstore.Aggregate{InstanceID: instanceID, Type: "org", ID: orgID, Owner: orgID},
		ExpectedSequence: eventstore.AnySequence,
		Events:           []eventstore.Payload{&OrgMemberAdded{UserID: userID, Roles: roles}},
	}, nil
}

// RemoveOrgMember returns the append that takes userID's roles on orgID;
// a user without roles there is failure.NotFound.
func RemoveOrgMember(ctx context.Context, db *database.DB, instanceID, orgID, userID string) (eventstore.Append, error) {
	members, err := Members(ctx, db, instanceID, "org", orgID)
	if err != nil {
		return eventstore.Append{}, err
	}
	if !slices.ContainsFunc(members, func(m Member) bool { return m.UserID == userID }) {
		return eventstore.Append{}, failure.NotFound("user %s is not a member of organization %s", userID, orgID)
	}
	return eventstore.Append{
		Aggregate:        eventstore.Aggregate{InstanceID: instanceID, Type: "org", ID: orgID, Owner: orgID},
		ExpectedSequence: eventstore.AnySequence,
		Events:           []eventstore.Payload{&OrgMemberRemoved{UserID: userID}},
	}, nil
}

// Caller is an authenticated user with the roles it holds in its instance.
type Caller struct {
	InstanceID    string
	UserID        string
	InstanceRoles []string
	OrgRoles      map[string][]string
}

// LoadCaller reads the roles of userID in an instance.
func LoadCaller(ctx context.Context, db *database.DB, instanceID, userID string) (Caller, error) {
	c := Caller{InstanceID: instanceID, UserID: userID, OrgRoles: map[string][]string{}}
	rows, err := db.Reader().QueryContext(ctx, `SELECT scope, scope_id, roles FROM members WHERE instance_id = $1 AND user_id = $2`, instanceID, userID)
	if err != nil {
		return Caller{}, fmt.Errorf("authz: load caller: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var scope, scopeID, rolesJSON string
		if err := rows.Scan(&scope, &scopeID, &rolesJSON); err != nil {
			return Caller{}, err
		}
		var roles []string
		if err := json.Unmarshal([]byte(rolesJSON), &roles); err != nil {
			return Caller{}, fmt.Errorf("authz: roles of %s: %w", userID, err)
		}
		if scope == "instance" {
			c.InstanceRoles = append(c.InstanceRoles, roles...)
		} else {
			c.OrgRoles[scopeID] = append(c.OrgRoles[scopeID], roles...)
		}
	}
	return c, rows.Err()
}

// Can reports whether the caller holds p on orgID (or on the instance when
// orgID is empty).
func (c Caller) Can(p Permission, orgID string) bool {
	if grants(c.InstanceRoles, p) {
		return true
	}
	return orgID != "" && grants(c.OrgRoles[orgID], p)
}

// Require is Can as an error: failure.PermissionDenied naming the
// permission.
func (c Caller) Require(p Permission, orgID string) error {
	if c.Can(p, orgID) {
		return nil
	}
	if orgID == "" {
		return failure.PermissionDenied("missing permission %s on the instance", p)
	}
	return failure.PermissionDenied("missing permission %s on organization %s", p, orgID)
}

// CanAnywhere reports whether the caller holds p on the instance or on any
// organization — for instance-wide objects that organization administrators
// may read, such as user types.
func (c Caller) CanAnywhere(p Permission) bool {
	if grants(c.InstanceRoles, p) {
		return true
	}
	for _, roles := range c.OrgRoles {
		if grants(roles, p) {
			return true
		}
	}
	return false
}

// Member is a user with roles on a scope.
type Member struct {
	UserID string
	Roles  []string
}

// Members lists the members of the instance (scope "instance", scopeID the
// instance id) or of an organization (scope "org"), by user id.
func Members(ctx context.Context, db *database.DB, instanceID, scope, scopeID string) ([]Member, error) {
	rows, err := db.Reader().QueryContext(ctx, `SELECT user_id, roles FROM members WHERE instance_id = $1 AND scope = $2 AND scope_id = $3 ORDER BY user_id`,
		instanceID, scope, scopeID)
	if err != nil {
		return nil, fmt.Errorf("authz: members: %w", err)
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		var m Member
		var roles string
		if err := rows.Scan(&m.UserID, &roles); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(roles), &m.Roles); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// instanceSequence is the instance aggregate's sequence, for appending
// membership changes with optimistic concurrency.
func instanceSequence(ctx context.Context, db *database.DB, instanceID string) (int64, error) {
	var seq int64
	err := db.Reader().QueryRowContext(ctx, `SELECT sequence FROM instances WHERE id = $1`, instanceID).Scan(&seq)
	return seq, err
}

// owners counts the instance owners other than userID.
func otherOwners(members []Member, userID string) int {
	n := 0
	for _, m := range members {
		if m.UserID != userID && slices.Contains(m.Roles, instance.OwnerRole) {
			n++
		}
	}
	return n
}

// SetInstanceMember returns the append that gives userID instance roles.
// Taking instance.owner from the last owner is refused.
func SetInstanceMember(ctx context.Context, db *database.DB, instanceID, userID string, roles []string) (eventstore.Append, error) {
	if bad := ValidRoles("instance", roles); bad != "" {
		return eventstore.Append{}, failure.InvalidArgument("roles", "%q is not an instance role", bad)
	}
	return instanceMemberChange(ctx, db, instanceID, userID, !slices.Contains(roles, instance.OwnerRole), &instance.MemberAdded{UserID: userID, Roles: roles})
}

// RemoveInstanceMember returns the append that takes userID's instance
// roles. Removing the last owner is refused; a user without instance roles
// is failure.NotFound.
func RemoveInstanceMember(ctx context.Context, db *database.DB, instanceID, userID string) (eventstore.Append, error) {
	return instanceMemberChange(ctx, db, instanceID, userID, true, &instance.MemberRemoved{UserID: userID})
}

func instanceMemberChange(ctx context.Context, db *database.DB, instanceID, userID string, losesOwner bool, e eventstore.Payload) (eventstore.Append, error) {
	seq, err := instanceSequence(ctx, db, instanceID)
	if err != nil {
		return eventstore.Append{}, fmt.Errorf("authz: instance %s: %w", instanceID, err)
	}
	members, err := Members(ctx, db, instanceID, "instance", instanceID)
	if err != nil {
		return eventstore.Append{}, err
	}
	isMember, isOwner := false, false
	for _, m := range members {
		if m.UserID == userID {
			isMember, isOwner = true, slices.Contains(m.Roles, instance.OwnerRole)
		}
	}
	if _, removing := e.(*instance.MemberRemoved); removing && !isMember {
		return eventstore.Append{}, failure.NotFound("user %s is not an instance member", userID)
	}
	if losesOwner && isOwner && otherOwners(members, userID) == 0 {
		return eventstore.Append{}, failure.FailedPrecondition("user %s is the last instance owner", userID)
	}
	if losesOwner && isOwner {
		if err := RequireOwnerRemains(ctx, db, instanceID, Leaving{UserID: userID}); err != nil {
			return eventstore.Append{}, err
		}
	}
	// The instance's sequence makes two concurrent changes conflict, so two
	// owners cannot remove each other at once.
	return eventstore.Append{
		Aggregate:        eventstore.Aggregate{InstanceID: instanceID, Type: instance.AggregateType, ID: instanceID},
		ExpectedSequence: seq,
		Events:           []eventstore.Payload{e},
	}, nil
}
