package orgapi_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"connectrpc.com/connect"

	instancev1 "github.com/castellan-iam/castellan/gen/castellan/instance/v1"
	"github.com/castellan-iam/castellan/gen/castellan/instance/v1/instancev1connect"
	orgv1 "github.com/castellan-iam/castellan/gen/castellan/org/v1"
	"github.com/castellan-iam/castellan/gen/castellan/org/v1/orgv1connect"
	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/api/instanceapi"
	"github.com/castellan-iam/castellan/internal/api/orgapi"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/org"
)

// admins runs the organization and instance services, with projects from
// package client and one project grant ("grant-1", of the first project
// created, to the organization grants["grant-1"] names) standing in for
// package project's.
type admins struct {
	*fixture
	inst   instancev1connect.InstanceServiceClient
	grants map[string]string // grant id -> granted organization
}

func startAdmins(t *testing.T) *admins { return startAdminsOn(t, nil) }

// startAdminsOn is startAdmins on src (nil: SQLite).
func startAdminsOn(t *testing.T, src dbtest.Source) *admins {
	a := &admins{grants: map[string]string{}}
	services := func(ap *app.App, auth *authn.Authenticator) []api.Service {
		projects := member.Projects{
			OwnerOf: func(ctx context.Context, instanceID, projectID string) (string, error) {
				p, err := client.GetProject(ctx, ap.DB, instanceID, projectID)
				return p.OrgID, err
			},
			GrantOrg: func(_ context.Context, _, grantID string) (string, string, error) {
				if o, ok := a.grants[grantID]; ok {
					return "granted-project", o, nil
				}
				return "", "", failure.NotFound("project grant %s not found", grantID)
			},
		}
		return []api.Service{orgapi.NewService(ap.Store, org.NewVerifier(), auth).WithProjects(projects), instanceapi.NewService(ap.Store, auth, ap.Tokens().Keys())}
	}
	var env *apitest.Env
	if src == nil {
		env = apitest.Start(t, services)
	} else {
		env = apitest.StartOn(t, src, services)
	}
	a.fixture = &fixture{Env: env, c: orgv1connect.NewOrganizationServiceClient(env.Client, env.URL)}
	a.inst = instancev1connect.NewInstanceServiceClient(env.Client, env.URL)
	return a
}

func (a *admins) project(t *testing.T, orgID, name string) string {
	t.Helper()
	p, err := client.NewCommands(a.App.Store, a.App.Keys, nil).CreateProject(ctx, eventstore.SystemEditor, a.InstanceID, orgID, name)
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}

func (a *admins) orgMember(t *testing.T, token, orgID, userID string, roles ...string) error {
	t.Helper()
	_, err := a.c.AddOrganizationMember(ctx, as(token, &orgv1.AddOrganizationMemberRequest{OrganizationId: orgID, UserId: userID, Roles: roles}))
	return err
}

func (a *admins) defineRole(t *testing.T, token, key, kind string, perms ...string) error {
	t.Helper()
	_, err := a.inst.DefineRole(ctx, as(token, &instancev1.DefineRoleRequest{Key: key, DisplayName: key, Scope: kind, Permissions: perms}))
	return err
}

func (a *admins) orgRoles(t *testing.T, orgID, userID string) []string {
	t.Helper()
	resp, err := a.c.ListOrganizationMembers(ctx, as(a.AdminToken, &orgv1.ListOrganizationMembersRequest{OrganizationId: orgID}))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range resp.Msg.GetMembers() {
		if m.GetUserId() == userID {
			return m.GetRoles()
		}
	}
	return nil
}

// The attacks of an administrator that may change memberships on what it
// may not give.
func TestNobodyGivesOrTakesMoreThanTheyHold(t *testing.T) {
	a := startAdmins(t)
	orgA := a.create(t, "A")
	admin := a.AdminToken
	if err := a.defineRole(t, admin, "custom.helpdesk", "org", "user.read", "user.credential.write", "member.read", "member.write"); err != nil {
		t.Fatal(err)
	}
	mallory := a.newUser(t, orgA, "mallory")
	owner := a.newUser(t, orgA, "owner")
	plain := a.newUser(t, orgA, "plain")
	for _, m := range []struct {
		user  string
		roles []string
	}{{mallory, []string{"org.user_manager", "custom.helpdesk"}}, {owner, []string{"org.owner"}}} {
		if err := a.orgMember(t, admin, orgA, m.user, m.roles...); err != nil {
			t.Fatal(err)
		}
	}
	mt := a.Token(t, mallory, orgA)

	for _, tc := range []struct {
		name string
		call func() error
		code connect.Code // 0: succeeds
	}{
		{"fail/a user manager with member.write gives herself org.owner", func() error { return a.orgMember(t, mt, orgA, mallory, "org.owner") }, connect.CodePermissionDenied},
		{"fail/… or gives org.owner to an accomplice", func() error { return a.orgMember(t, mt, orgA, plain, "org.owner") }, connect.CodePermissionDenied},
		{"fail/… or gives org.viewer, which reads settings she cannot", func() error { return a.orgMember(t, mt, orgA, plain, "org.viewer") }, connect.CodePermissionDenied},
		{"fail/… or takes org.owner from the owner", func() error {
			_, err := a.c.RemoveOrganizationMember(ctx, as(mt, &orgv1.RemoveOrganizationMemberRequest{OrganizationId: orgA, UserId: owner}))
			return err
		}, connect.CodePermissionDenied},
		{"fail/… or demotes the owner to what she holds herself", func() error { return a.orgMember(t, mt, orgA, owner, "custom.helpdesk") }, connect.CodePermissionDenied},
		{"fail/… or gives a role to the instance owner, whom she does not cover", func() error { return a.orgMember(t, mt, orgA, a.AdminID, "custom.helpdesk") }, connect.CodePermissionDenied},
		{"fail/… or gives herself an instance role", func() error {
			_, err := a.inst.AddInstanceMember(ctx, as(mt, &instancev1.AddInstanceMemberRequest{UserId: mallory, Roles: []string{"instance.viewer"}}))
			return err
		}, connect.CodePermissionDenied},
		{"fail/… or defines herself a role", func() error { return a.defineRole(t, mt, "custom.mine", "org", "user.read") }, connect.CodePermissionDenied},
		{"ok/she gives what she holds, to a user she covers", func() error { return a.orgMember(t, mt, orgA, plain, "custom.helpdesk") }, 0},
		{"ok/and takes it again", func() error {
			_, err := a.c.RemoveOrganizationMember(ctx, as(mt, &orgv1.RemoveOrganizationMemberRequest{OrganizationId: orgA, UserId: plain}))
			return err
		}, 0},
		{"ok/she drops a role of her own", func() error { return a.orgMember(t, mt, orgA, mallory, "custom.helpdesk") }, 0},
		{"fail/and cannot take it back", func() error { return a.orgMember(t, mt, orgA, mallory, "custom.helpdesk", "org.user_manager") }, connect.CodePermissionDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if tc.code == 0 && err != nil {
				t.Fatal(err)
			}
			if tc.code != 0 {
				wantCode(t, err, tc.code)
			}
		})
	}
	if got := a.orgRoles(t, orgA, owner); !slices.Equal(got, []string{"org.owner"}) {
		t.Fatalf("the owner's roles changed: %v", got)
	}
}

func TestCustomRoles(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) { testCustomRoles(t, startAdminsOn(t, src)) })
}

func testCustomRoles(t *testing.T, a *admins) {
	admin := a.AdminToken
	orgA := a.create(t, "A")
	eve := a.newUser(t, a.OrgID, "eve")
	helper := a.newUser(t, orgA, "helper")
	both := a.newUser(t, orgA, "both")

	// Bad definitions name the field.
	for _, tc := range []struct {
		req   *instancev1.DefineRoleRequest
		field string
	}{
		{&instancev1.DefineRoleRequest{Key: "helpdesk", DisplayName: "H", Scope: "org", Permissions: []string{"user.read"}}, "key"},
		{&instancev1.DefineRoleRequest{Key: "custom.h", Scope: "org", Permissions: []string{"user.read"}}, "displayName"},
		{&instancev1.DefineRoleRequest{Key: "custom.h", DisplayName: "H", Scope: "team", Permissions: []string{"user.read"}}, "scope"},
		{&instancev1.DefineRoleRequest{Key: "custom.h", DisplayName: "H", Scope: "org", Permissions: []string{"user.fly"}}, "permissions"},
		{&instancev1.DefineRoleRequest{Key: "custom.h", DisplayName: "H", Scope: "org", Permissions: []string{"instance.write"}}, "permissions"},
	} {
		_, err := a.inst.DefineRole(ctx, as(admin, tc.req))
		wantField(t, err, connect.CodeInvalidArgument, tc.field)
	}

	if err := a.defineRole(t, admin, "custom.helpdesk", "org", "user.read", "user.credential.write"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, a.defineRole(t, admin, "custom.helpdesk", "org", "user.read"), connect.CodeAlreadyExists)
	// A role-definer on the instance that holds little.
	if err := a.defineRole(t, admin, "custom.roledef", "instance", "role.write", "member.read"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.inst.AddInstanceMember(ctx, as(admin, &instancev1.AddInstanceMemberRequest{UserId: eve, Roles: []string{"custom.roledef"}})); err != nil {
		t.Fatal(err)
	}
	et := a.Token(t, eve, a.OrgID)
	wantCode(t, a.defineRole(t, et, "custom.power", "org", "user.write"), connect.CodePermissionDenied)
	wantCode(t, a.defineRole(t, et, "custom.power", "instance", "role.write", "member.read", "member.write"), connect.CodePermissionDenied)
	if err := a.defineRole(t, et, "custom.audit", "instance", "member.read"); err != nil {
		t.Fatalf("a definer defines a role from what it holds: %v", err)
	}
	_, err := a.inst.ChangeRole(ctx, as(et, &instancev1.ChangeRoleRequest{Key: "custom.helpdesk", DisplayName: "H", Permissions: []string{"user.read"}}))
	wantCode(t, err, connect.CodePermissionDenied) // the role carries user.credential.write, which eve lacks
	_, err = a.inst.RemoveRole(ctx, as(et, &instancev1.RemoveRoleRequest{Key: "custom.helpdesk"}))
	wantCode(t, err, connect.CodePermissionDenied)
	_, err = a.inst.ChangeRole(ctx, as(et, &instancev1.ChangeRoleRequest{Key: "custom.audit", DisplayName: "Audit", Permissions: []string{"member.read", "event.read"}}))
	wantCode(t, err, connect.CodePermissionDenied) // cannot grow a role beyond what it holds
	_, err = a.inst.ChangeRole(ctx, as(admin, &instancev1.ChangeRoleRequest{Key: "custom.gone", DisplayName: "X", Permissions: []string{"member.read"}}))
	wantCode(t, err, connect.CodeNotFound)

	// The catalogue is published; custom roles are listed after the built-in ones.
	perms, err := a.inst.ListPermissions(ctx, as(et, &instancev1.ListPermissionsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(perms.Msg.GetPermissions()) < 25 || perms.Msg.GetPermissions()[0].GetDescription() == "" {
		t.Fatalf("catalogue: %v", perms.Msg.GetPermissions())
	}
	roles, err := a.inst.ListRoles(ctx, as(et, &instancev1.ListRolesRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range roles.Msg.GetRoles() {
		keys = append(keys, r.GetKey())
		if r.GetKey() == "custom.helpdesk" && (!r.GetCustom() || r.GetScope() != "org" || !slices.Equal(r.GetPermissions(), []string{"user.read", "user.credential.write"})) {
			t.Fatalf("custom.helpdesk listed as %v", r)
		}
	}
	if !slices.Contains(keys, "org.owner") || keys[len(keys)-1] != "custom.roledef" {
		t.Fatalf("roles: %v", keys)
	}
	_, err = a.inst.ListRoles(ctx, as("", &instancev1.ListRolesRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)

	// A change reaches every holder at once; removal takes the role from
	// every membership.
	if err := a.orgMember(t, admin, orgA, helper, "custom.helpdesk"); err != nil {
		t.Fatal(err)
	}
	if err := a.orgMember(t, admin, orgA, both, "custom.helpdesk", "org.viewer"); err != nil {
		t.Fatal(err)
	}
	ht := a.Token(t, helper, orgA)
	if _, err := a.c.GetOrganization(ctx, as(ht, &orgv1.GetOrganizationRequest{OrganizationId: orgA})); code(err) != connect.CodePermissionDenied {
		t.Fatalf("helpdesk reads the organization without org.read: %v", err)
	}
	if _, err := a.inst.ChangeRole(ctx, as(admin, &instancev1.ChangeRoleRequest{Key: "custom.helpdesk", DisplayName: "Helpdesk", Permissions: []string{"user.read", "org.read"}})); err != nil {
		t.Fatal(err)
	}
	if _, err := a.c.GetOrganization(ctx, as(ht, &orgv1.GetOrganizationRequest{OrganizationId: orgA})); err != nil {
		t.Fatalf("the changed role does not grant org.read: %v", err)
	}
	if _, err := a.inst.RemoveRole(ctx, as(admin, &instancev1.RemoveRoleRequest{Key: "custom.helpdesk"})); err != nil {
		t.Fatal(err)
	}
	if got := a.orgRoles(t, orgA, helper); got != nil {
		t.Fatalf("a member holding only the removed role keeps %v", got)
	}
	if got := a.orgRoles(t, orgA, both); !slices.Equal(got, []string{"org.viewer"}) {
		t.Fatalf("the removed role stays in %v", got)
	}
	if _, err := a.c.GetOrganization(ctx, as(ht, &orgv1.GetOrganizationRequest{OrganizationId: orgA})); code(err) != connect.CodePermissionDenied {
		t.Fatalf("the removed role still grants: %v", err)
	}
	events, err := a.App.Store.Query(ctx, eventstore.Filter{InstanceID: a.InstanceID, AggregateIDs: []string{orgA}, EventTypes: []string{"org.member.removed", "org.member.added"}})
	if err != nil {
		t.Fatal(err)
	}
	if last := events[len(events)-1]; last.Editor.UserID != a.AdminID {
		t.Fatalf("the removal's membership events are not the remover's: %+v", last)
	}
	// A removed key is never reused: a membership that still names it
	// (given while it was removed) must not come to mean another role.
	wantCode(t, a.defineRole(t, admin, "custom.helpdesk", "project", "project.read"), connect.CodeAlreadyExists)
}

func TestProjectAndGrantMembers(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) { testProjectAndGrantMembers(t, startAdminsOn(t, src)) })
}

func testProjectAndGrantMembers(t *testing.T, a *admins) {
	admin := a.AdminToken
	owning, granted := a.create(t, "Owning"), a.create(t, "Granted")
	proj, other := a.project(t, owning, "Shop"), a.project(t, owning, "Other")
	a.grants["grant-1"] = granted
	pown := a.newUser(t, owning, "pown")
	dev := a.newUser(t, owning, "dev")
	owningOwner := a.newUser(t, owning, "owning-owner")
	grantedOwner := a.newUser(t, granted, "granted-owner")
	gAdmin := a.newUser(t, granted, "g-admin")
	if err := a.orgMember(t, admin, owning, owningOwner, "org.owner"); err != nil {
		t.Fatal(err)
	}
	if err := a.orgMember(t, admin, granted, grantedOwner, "org.owner"); err != nil {
		t.Fatal(err)
	}
	addP := func(token, project, user string, roles ...string) error {
		_, err := a.c.AddProjectMember(ctx, as(token, &orgv1.AddProjectMemberRequest{ProjectId: project, UserId: user, Roles: roles}))
		return err
	}
	addG := func(token, grant, user string, roles ...string) error {
		_, err := a.c.AddProjectGrantMember(ctx, as(token, &orgv1.AddProjectGrantMemberRequest{GrantId: grant, UserId: user, Roles: roles}))
		return err
	}
	listG := func(token, grant string) ([]*orgv1.ScopedMember, error) {
		resp, err := a.c.ListProjectGrantMembers(ctx, as(token, &orgv1.ListProjectGrantMembersRequest{GrantId: grant}))
		if err != nil {
			return nil, err
		}
		return resp.Msg.GetMembers(), nil
	}

	if err := addP(admin, proj, pown, "project.owner"); err != nil {
		t.Fatal(err)
	}
	pt := a.Token(t, pown, owning)
	wantField(t, addP(pt, proj, dev, "org.viewer"), connect.CodeInvalidArgument, "roles")
	wantField(t, addP(pt, "", dev, "project.viewer"), connect.CodeInvalidArgument, "projectId")
	if err := addP(pt, proj, dev, "project.viewer"); err != nil {
		t.Fatalf("a project owner adds a viewer to its project: %v", err)
	}
	wantCode(t, addP(pt, other, dev, "project.viewer"), connect.CodePermissionDenied)
	wantCode(t, addP(pt, "no-such-project", dev, "project.viewer"), connect.CodePermissionDenied)
	wantCode(t, addP(admin, "no-such-project", dev, "project.viewer"), connect.CodeNotFound)
	// The project's owner does not cover the owning organization's owner.
	wantCode(t, addP(pt, proj, owningOwner, "project.viewer"), connect.CodePermissionDenied)
	resp, err := a.c.ListProjectMembers(ctx, as(a.Token(t, dev, owning), &orgv1.ListProjectMembersRequest{ProjectId: proj}))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Msg.GetMembers()) != 2 {
		t.Fatalf("project members: %v", resp.Msg.GetMembers())
	}
	if _, err := a.c.RemoveProjectMember(ctx, as(pt, &orgv1.RemoveProjectMemberRequest{ProjectId: proj, UserId: dev})); err != nil {
		t.Fatal(err)
	}
	_, err = a.c.RemoveProjectMember(ctx, as(pt, &orgv1.RemoveProjectMemberRequest{ProjectId: proj, UserId: dev}))
	wantCode(t, err, connect.CodeNotFound)

	// Grants: administered by the organization that received them.
	got := a.Token(t, grantedOwner, granted)
	oot := a.Token(t, owningOwner, owning)
	wantCode(t, addG(oot, "grant-1", gAdmin, "project_grant.owner"), connect.CodePermissionDenied)
	wantCode(t, addG(got, "grant-1", dev, "project_grant.owner"), connect.CodeFailedPrecondition)
	if err := addG(got, "grant-1", gAdmin, "project_grant.owner"); err != nil {
		t.Fatal(err)
	}
	if _, err := listG(oot, "grant-1"); code(err) != connect.CodePermissionDenied {
		t.Fatalf("the project's owner lists the grant's administrators: %v", err)
	}
	members, err := listG(a.Token(t, gAdmin, granted), "grant-1")
	if err != nil || len(members) != 1 || members[0].GetUserId() != gAdmin {
		t.Fatalf("grant members: %v, %v", members, err)
	}
	ownEvents, err := a.App.Store.Query(ctx, eventstore.Filter{InstanceID: a.InstanceID, Owner: owning})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ownEvents {
		if e.Type == "org.project_grant.member.added" {
			t.Fatal("the granting organization's stream tells who administers the grant")
		}
	}
	if _, err := a.c.RemoveProjectGrantMember(ctx, as(got, &orgv1.RemoveProjectGrantMemberRequest{GrantId: "grant-1", UserId: gAdmin})); err != nil {
		t.Fatal(err)
	}
	if members, err := listG(admin, "grant-1"); err != nil || len(members) != 0 {
		t.Fatalf("grant members after the removal: %v, %v", members, err)
	}
	_, err = listG(admin, "grant-2")
	wantCode(t, err, connect.CodeNotFound)
}

func code(err error) connect.Code {
	if ce := new(connect.Error); errors.As(err, &ce) {
		return ce.Code()
	}
	return 0
}

// The REST paths of docs/api.md's "Administrators".
func TestAdministratorsOverREST(t *testing.T) {
	a := startAdmins(t)
	orgA := a.create(t, "A")
	proj := a.project(t, orgA, "Shop")
	u := a.newUser(t, orgA, "rest-user")
	status, body := a.rest(t, "POST", "/v1/instance/roles", map[string]any{"key": "custom.helpdesk", "displayName": "Helpdesk", "scope": "org", "permissions": []string{"user.read", "user.credential.write"}})
	if status != 200 || body["role"].(map[string]any)["key"] != "custom.helpdesk" {
		t.Fatalf("define: %d %v", status, body)
	}
	if status, body = a.rest(t, "PUT", "/v1/instance/roles/custom.helpdesk", map[string]any{"displayName": "Help", "permissions": []string{"user.read"}}); status != 200 {
		t.Fatalf("change: %d %v", status, body)
	}
	if status, body = a.rest(t, "POST", "/v1/organizations/"+orgA+"/members", map[string]any{"userId": u, "roles": []string{"custom.helpdesk"}}); status != 200 {
		t.Fatalf("add: %d %v", status, body)
	}
	if status, body = a.rest(t, "POST", "/v1/projects/"+proj+"/members", map[string]any{"userId": u, "roles": []string{"project.viewer"}}); status != 200 {
		t.Fatalf("add project member: %d %v", status, body)
	}
	if status, body = a.rest(t, "GET", "/v1/projects/"+proj+"/members", nil); status != 200 || len(body["members"].([]any)) != 1 {
		t.Fatalf("list project members: %d %v", status, body)
	}
	if status, body = a.rest(t, "DELETE", "/v1/projects/"+proj+"/members/"+u, nil); status != 200 {
		t.Fatalf("remove project member: %d %v", status, body)
	}
	if status, body = a.rest(t, "GET", "/v1/instance/permissions", nil); status != 200 || len(body["permissions"].([]any)) < 25 {
		t.Fatalf("permissions: %d %v", status, body)
	}
	if status, body = a.rest(t, "DELETE", "/v1/instance/roles/custom.helpdesk", nil); status != 200 {
		t.Fatalf("remove: %d %v", status, body)
	}
	if got := a.orgRoles(t, orgA, u); got != nil {
		t.Fatalf("the removed role's only holder keeps %v", got)
	}
	if status, _ = a.rest(t, "GET", "/v1/project_grants/g-9/members", nil); status != 404 {
		t.Fatalf("a missing grant: %d", status)
	}
}
