package authz

import (
	"context"
	"encoding/json"
	"fmt"

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
	return []string{"instance.member.added", "org.member.added", "org.member.removed", "org.removed", "user.deleted"}
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
