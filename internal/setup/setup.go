// Package setup performs Castellan's first start: when the database holds no
// instance yet, it creates the default instance with its domain, the
// default user types, a first organization and a first administrator (an instance owner), in a single
// atomic append. On every later start it changes nothing. Replicas starting
// together against one PostgreSQL agree through the instance domain's unique
// constraint: one creates, the others find it created.
package setup

import (
	"context"
	"fmt"

	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/id"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/password"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// FirstInstance describes what the first start creates.
type FirstInstance struct {
	Name           string
	Domain         string
	OrgName        string
	AdminLoginName string
	AdminEmail     string
	// AdminPassword, when empty, is generated and returned once in Result.
	AdminPassword string
}

// Result reports what Run did.
type Result struct {
	Created    bool
	InstanceID string
	OrgID      string
	AdminID    string
	AdminLogin string
	// GeneratedPassword is the administrator's initial password when it was
	// generated; the administrator must change it at first sign-in.
	GeneratedPassword string
}

// Run creates the first instance unless one exists.
func Run(ctx context.Context, store *eventstore.Store, hasher *password.Hasher, fi FirstInstance) (Result, error) {
	if n, err := instance.Count(ctx, store.DB()); err != nil || n > 0 {
		return Result{}, err
	}
	res, err := CreateInstance(ctx, store, hasher, fi)
	if failure.Is(err, failure.KindAlreadyExists) || failure.Is(err, failure.KindConflict) {
		// Another replica created the first instance at the same moment.
		if n, cerr := instance.Count(ctx, store.DB()); cerr == nil && n > 0 {
			return Result{}, nil
		}
	}
	return res, err
}

// CreateInstance creates an instance with its domain, default user types,
// first organization and administrator, in one append. Its domain must be
// free across the deployment.
func CreateInstance(ctx context.Context, store *eventstore.Store, hasher *password.Hasher, fi FirstInstance) (Result, error) {
	res := Result{Created: true, InstanceID: id.New(), OrgID: id.New(), AdminID: id.New(), AdminLogin: fi.AdminLoginName}
	secret := fi.AdminPassword
	if secret == "" {
		var err error
		if secret, err = password.Generate(20); err != nil {
			return Result{}, err
		}
		res.GeneratedPassword = secret
	}
	hash, err := hasher.Hash(ctx, secret)
	if err != nil {
		return Result{}, fmt.Errorf("setup: hash administrator password: %w", err)
	}
	inst, err := instance.Create(res.InstanceID, fi.Name, fi.Domain)
	if err != nil {
		return Result{}, err
	}
	o, err := org.Creation(res.InstanceID, res.OrgID, fi.OrgName)
	if err != nil {
		return Result{}, err
	}
	types, err := usertype.DefaultCreations(res.InstanceID)
	if err != nil {
		return Result{}, err
	}
	human, err := userschema.Compile(types[0].ID, 1, userschema.Human)
	if err != nil {
		return Result{}, err
	}
	admin, err := user.Creation(res.InstanceID, res.AdminID, "human", human, user.New{
		OrgID: res.OrgID, LoginName: fi.AdminLoginName, Email: fi.AdminEmail,
		PasswordHash: hash, ChangeRequired: res.GeneratedPassword != "",
	})
	if err != nil {
		return Result{}, err
	}
	appends := append([]eventstore.Append{inst, o}, types...)
	appends = append(appends, admin, instance.AddMember(res.InstanceID, res.AdminID, authz.InstanceOwner))
	if _, err = store.Push(ctx, eventstore.SystemEditor, appends...); err != nil {
		return Result{}, fmt.Errorf("setup: create instance %s: %w", fi.Domain, err)
	}
	return res, nil
}
