package authz

import "testing"

func TestCovers(t *testing.T) {
	owner := Caller{InstanceID: "i", UserID: "owner", InstanceRoles: []string{"instance.owner"}, OrgRoles: map[string][]string{}}
	viewer := Caller{InstanceID: "i", UserID: "viewer", InstanceRoles: []string{"instance.viewer"}, OrgRoles: map[string][]string{}}
	managerA := Caller{InstanceID: "i", UserID: "mgr", OrgRoles: map[string][]string{"a": {"org.user_manager"}}}
	ownerA := Caller{InstanceID: "i", UserID: "own", OrgRoles: map[string][]string{"a": {"org.owner"}}}
	viewerB := Caller{InstanceID: "i", UserID: "vb", OrgRoles: map[string][]string{"b": {"org.viewer"}}}
	plain := Caller{InstanceID: "i", UserID: "plain", OrgRoles: map[string][]string{}}
	elsewhere := Caller{InstanceID: "j", UserID: "plain", OrgRoles: map[string][]string{}}
	for _, tc := range []struct {
		name           string
		caller, target Caller
		want           bool
	}{
		{"ok/owner covers everyone", owner, ownerA, true},
		{"ok/anyone covers a user without roles", managerA, plain, true},
		{"ok/a caller covers itself", viewer, viewer, true},
		{"ok/org owner covers the org's user manager", ownerA, managerA, true},
		{"fail/user manager does not cover the instance owner", managerA, owner, false},
		{"fail/user manager does not cover an instance viewer", managerA, viewer, false},
		{"fail/instance viewer does not cover an org's user manager (user.write)", viewer, managerA, false},
		{"fail/user manager does not cover its org's owner", managerA, ownerA, false},
		{"fail/org owner does not cover a viewer of another org", ownerA, viewerB, false},
		{"fail/nobody covers across instances", owner, elsewhere, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.caller.Covers(tc.target); got != tc.want {
				t.Fatalf("Covers = %v, want %v", got, tc.want)
			}
			if err := tc.caller.RequireCovers(tc.target); (err == nil) != tc.want {
				t.Fatalf("RequireCovers = %v", err)
			}
		})
	}
}

func TestProjectScopes(t *testing.T) {
	grant := ProjectGrant("g1", "caos")
	project := Project("p1", "digitec")
	caosOwner := Caller{InstanceID: "i", UserID: "co", OrgRoles: map[string][]string{"caos": {"org.owner"}}}
	digitecOwner := Caller{InstanceID: "i", UserID: "do", OrgRoles: map[string][]string{"digitec": {"org.owner"}}}
	grantOwner := Caller{InstanceID: "i", UserID: "go", OrgRoles: map[string][]string{}, Scoped: []Membership{{Scope: grant, Roles: []string{"project_grant.owner"}}}}
	projectViewer := Caller{InstanceID: "i", UserID: "pv", OrgRoles: map[string][]string{}, Scoped: []Membership{{Scope: project, Roles: []string{"project.viewer"}}}}
	for _, tc := range []struct {
		name   string
		caller Caller
		p      Permission
		s      Scope
		want   bool
	}{
		{"ok/the granted organization's owner authorizes under the grant", caosOwner, AuthorizationWrite, grant, true},
		{"ok/a grant owner authorizes under its grant", grantOwner, AuthorizationWrite, grant, true},
		{"ok/the owning organization's owner writes its project", digitecOwner, ProjectWrite, project, true},
		{"ok/a project viewer reads its project", projectViewer, ProjectRead, project, true},
		{"fail/the project's owner does not authorize under a grant it gave", digitecOwner, AuthorizationWrite, grant, false},
		{"fail/the granted organization does not write the project", caosOwner, ProjectWrite, project, false},
		{"fail/a project viewer does not write it", projectViewer, ProjectWrite, project, false},
		{"fail/a grant owner holds nothing on another grant", grantOwner, AuthorizationWrite, ProjectGrant("g2", "caos2"), false},
		{"fail/a grant owner holds nothing on the organization", grantOwner, UserRead, Org("caos"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.caller.Can(tc.p, tc.s); got != tc.want {
				t.Fatalf("Can(%s, %s) = %v, want %v", tc.p, tc.s, got, tc.want)
			}
		})
	}
	if !caosOwner.Covers(grantOwner) {
		t.Fatal("the granted organization's owner should cover the grant's owner")
	}
	if digitecOwner.Covers(grantOwner) {
		t.Fatal("the project's owner must not cover a grant owner of another organization")
	}
	if grantOwner.Covers(caosOwner) {
		t.Fatal("a grant owner must not cover the organization's owner")
	}
}
