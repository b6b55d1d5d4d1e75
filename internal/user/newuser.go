package user

import (
	"context"

	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/userschema"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// newUsers is the one validation path of users to create, for Create (one
// user) and Import (many): it reads each user type and organization once,
// however many users share them.
type newUsers struct {
	c          *Commands
	instanceID string
	types      map[string]newUserType
	orgs       map[string]newUserOrg
}

// newUserType is a user type as new users see it: compiled, or the error
// every user of the type fails with.
type newUserType struct {
	name   string
	schema *userschema.Schema
	err    error
}

type newUserOrg struct {
	org org.Org
	err error
}

func (c *Commands) newUsers(instanceID string) *newUsers {
	return &newUsers{c: c, instanceID: instanceID, types: map[string]newUserType{}, orgs: map[string]newUserOrg{}}
}

// check validates n as a new user and completes it: its type exists and is
// active, its organization exists and is active (a deactivated
// organization takes no users), a plaintext password meets the policy, an
// imported hash is of a supported kind within the cost bounds, and the
// login name is valid and follows the organization's domain policy (it may
// be completed with the primary domain). Errors that are *failure.Error of
// kinds other than internal and unavailable concern this user only.
func (nu *newUsers) check(ctx context.Context, n *New) (newUserType, error) {
	if n.Type == "" {
		return newUserType{}, failure.InvalidArgument("type", "a user needs a type, e.g. human or machine")
	}
	t, err := nu.userType(ctx, n.Type)
	if err != nil {
		return newUserType{}, err
	}
	if t.err != nil {
		return newUserType{}, t.err
	}
	o, err := nu.org(ctx, n.OrgID)
	if err != nil {
		return newUserType{}, err
	}
	switch {
	case n.Password != "" && n.PasswordHash != "":
		return newUserType{}, failure.InvalidArgument("password", "give a password or a password hash, not both")
	case n.Password != "":
		if err := nu.c.creds.CheckNewPassword(ctx, nu.instanceID, n.OrgID, n.Password); err != nil {
			return newUserType{}, err
		}
	case n.PasswordHash != "":
		if _, err := credential.ImportedPassword(n.PasswordHash, n.ChangeRequired); err != nil {
			return newUserType{}, err
		}
	}
	if n.LoginName, err = nu.c.loginName(o, n.LoginName); err != nil {
		return newUserType{}, err
	}
	return t, nil
}

// userType returns the type named name, compiled once.
func (nu *newUsers) userType(ctx context.Context, name string) (newUserType, error) {
	if t, ok := nu.types[name]; ok {
		return t, nil
	}
	t, err := usertype.ByName(ctx, nu.c.db(), nu.instanceID, name)
	var it newUserType
	switch {
	case failure.Is(err, failure.KindNotFound):
		it.err = failure.InvalidArgument("type", "no user type named %q", name)
	case err != nil:
		return newUserType{}, err
	case t.State != usertype.StateActive:
		it.err = failure.FailedPrecondition("user type %s is deactivated", t.Name)
	default:
		it.name = t.Name
		if it.schema, err = t.Schema(); err != nil {
			return newUserType{}, err
		}
	}
	nu.types[name] = it
	return it, nil
}

// org returns the active organization orgID, read once.
func (nu *newUsers) org(ctx context.Context, orgID string) (org.Org, error) {
	if o, ok := nu.orgs[orgID]; ok {
		return o.org, o.err
	}
	var r newUserOrg
	if orgID == "" {
		r.err = failure.InvalidArgument("organizationId", "a user belongs to an organization")
	} else {
		o, err := org.Get(ctx, nu.c.db(), nu.instanceID, orgID)
		switch {
		case failure.Is(err, failure.KindNotFound):
			r.err = failure.InvalidArgument("organizationId", "no organization %s", orgID)
		case err != nil:
			return org.Org{}, err
		case o.State != org.StateActive:
			r.err = failure.FailedPrecondition("organization %s is %s", orgID, o.State)
		default:
			r.org = o
		}
	}
	nu.orgs[orgID] = r
	return r.org, r.err
}
