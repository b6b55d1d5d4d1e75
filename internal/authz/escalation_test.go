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
