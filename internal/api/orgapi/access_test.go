package orgapi_test

import (
	"slices"
	"testing"

	"connectrpc.com/connect"

	orgv1 "github.com/castellan-iam/castellan/gen/castellan/org/v1"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/user"
)

// newUser creates a user of orgID without roles and returns its id.
func (f *fixture) newUser(t *testing.T, orgID, login string) string {
	t.Helper()
	id, err := user.NewCommands(f.App.Store, f.App.Hasher).Create(ctx, eventstore.SystemEditor, f.InstanceID, user.New{OrgID: orgID, Type: "human", LoginName: login, Password: "member-password-1"})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestCallersReachOnlyWhatTheirRolesAllow(t *testing.T) {
	f := start(t)
	admin := f.AdminToken
	orgA, orgB := f.create(t, "A"), f.create(t, "B")
	alice := f.newUser(t, orgA, "alice")
	if _, err := f.c.AddOrganizationMember(ctx, as(admin, &orgv1.AddOrganizationMemberRequest{
		OrganizationId: orgA, UserId: alice, Roles: []string{"org.user_manager"},
	})); err != nil {
		t.Fatal(err)
	}
	aliceToken := f.Token(t, alice, orgA)
	loner := f.Token(t, f.newUser(t, orgA, "loner"), orgA)

	for _, tc := range []struct {
		name  string
		token string
		call  func(token string) error
		code  connect.Code // 0: succeeds
	}{
		{"fail/no token", "", func(tok string) error {
			_, err := f.c.GetOrganization(ctx, as(tok, &orgv1.GetOrganizationRequest{OrganizationId: orgA}))
			return err
		}, connect.CodeUnauthenticated},
		{"fail/no token lists nothing", "", func(tok string) error {
			_, err := f.c.ListOrganizations(ctx, as(tok, &orgv1.ListOrganizationsRequest{}))
			return err
		}, connect.CodeUnauthenticated},
		{"fail/invalid token", "cas_not-a-token", func(tok string) error {
			_, err := f.c.CreateOrganization(ctx, as(tok, &orgv1.CreateOrganizationRequest{Name: "X"}))
			return err
		}, connect.CodeUnauthenticated},
		{"ok/user manager reads its organization", aliceToken, func(tok string) error {
			_, err := f.c.GetOrganization(ctx, as(tok, &orgv1.GetOrganizationRequest{OrganizationId: orgA}))
			return err
		}, 0},
		{"fail/user manager renames its organization", aliceToken, func(tok string) error {
			_, err := f.c.UpdateOrganization(ctx, as(tok, &orgv1.UpdateOrganizationRequest{OrganizationId: orgA, Name: "Mine"}))
			return err
		}, connect.CodePermissionDenied},
		{"fail/user manager reads another organization", aliceToken, func(tok string) error {
			_, err := f.c.GetOrganization(ctx, as(tok, &orgv1.GetOrganizationRequest{OrganizationId: orgB}))
			return err
		}, connect.CodePermissionDenied},
		{"fail/user manager probes a missing organization", aliceToken, func(tok string) error {
			_, err := f.c.GetOrganization(ctx, as(tok, &orgv1.GetOrganizationRequest{OrganizationId: "missing"}))
			return err
		}, connect.CodePermissionDenied},
		{"fail/user manager creates an organization", aliceToken, func(tok string) error {
			_, err := f.c.CreateOrganization(ctx, as(tok, &orgv1.CreateOrganizationRequest{Name: "Alice Inc"}))
			return err
		}, connect.CodePermissionDenied},
		{"fail/user manager deletes its organization", aliceToken, func(tok string) error {
			_, err := f.c.DeleteOrganization(ctx, as(tok, &orgv1.DeleteOrganizationRequest{OrganizationId: orgA}))
			return err
		}, connect.CodePermissionDenied},
		{"fail/user manager adds a domain", aliceToken, func(tok string) error {
			_, err := f.c.AddOrganizationDomain(ctx, as(tok, &orgv1.AddOrganizationDomainRequest{OrganizationId: orgA, Domain: "a.example"}))
			return err
		}, connect.CodePermissionDenied},
		{"fail/user manager promotes itself", aliceToken, func(tok string) error {
			_, err := f.c.AddOrganizationMember(ctx, as(tok, &orgv1.AddOrganizationMemberRequest{OrganizationId: orgA, UserId: alice, Roles: []string{"org.owner"}}))
			return err
		}, connect.CodePermissionDenied},
		{"fail/user manager lists members", aliceToken, func(tok string) error {
			_, err := f.c.ListOrganizationMembers(ctx, as(tok, &orgv1.ListOrganizationMembersRequest{OrganizationId: orgA}))
			return err
		}, connect.CodePermissionDenied},
		{"fail/user without roles reads its own organization", loner, func(tok string) error {
			_, err := f.c.GetOrganization(ctx, as(tok, &orgv1.GetOrganizationRequest{OrganizationId: orgA}))
			return err
		}, connect.CodePermissionDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(tc.token)
			if tc.code == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, tc.code)
		})
	}

	t.Run("ok/lists show only readable organizations", func(t *testing.T) {
		for _, tc := range []struct {
			token string
			want  []string
		}{
			{admin, []string{orgA, orgB, f.OrgID}},
			{aliceToken, []string{orgA}},
			{loner, nil},
		} {
			resp, err := f.c.ListOrganizations(ctx, as(tc.token, &orgv1.ListOrganizationsRequest{}))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range resp.Msg.GetOrganizations() {
				got = append(got, o.GetId())
			}
			slices.Sort(got)
			slices.Sort(tc.want)
			if !slices.Equal(got, tc.want) || int(resp.Msg.GetTotalSize()) != len(tc.want) {
				t.Fatalf("listed %v (total %d), want %v", got, resp.Msg.GetTotalSize(), tc.want)
			}
		}
	})
}

func TestMembersAreAddedListedAndRemoved(t *testing.T) {
	f := start(t)
	admin := f.AdminToken
	orgA, orgB := f.create(t, "A"), f.create(t, "B")
	bob := f.newUser(t, orgA, "bob")

	_, err := f.c.AddOrganizationMember(ctx, as(admin, &orgv1.AddOrganizationMemberRequest{OrganizationId: orgA, UserId: "nobody", Roles: []string{"org.owner"}}))
	wantCode(t, err, connect.CodeNotFound)
	_, err = f.c.AddOrganizationMember(ctx, as(admin, &orgv1.AddOrganizationMemberRequest{OrganizationId: "missing", UserId: bob, Roles: []string{"org.owner"}}))
	wantCode(t, err, connect.CodeNotFound)
	if _, err := f.c.AddOrganizationMember(ctx, as(admin, &orgv1.AddOrganizationMemberRequest{OrganizationId: orgA, UserId: bob, Roles: []string{"org.owner"}})); err != nil {
		t.Fatal(err)
	}

	// An org.owner manages its own organization's members, and only those.
	bobToken := f.Token(t, bob, orgA)
	carol := f.newUser(t, orgB, "carol")
	if _, err := f.c.AddOrganizationMember(ctx, as(bobToken, &orgv1.AddOrganizationMemberRequest{OrganizationId: orgA, UserId: carol, Roles: []string{"org.viewer", "org.user_manager"}})); err != nil {
		t.Fatal(err)
	}
	_, err = f.c.AddOrganizationMember(ctx, as(bobToken, &orgv1.AddOrganizationMemberRequest{OrganizationId: orgB, UserId: carol, Roles: []string{"org.viewer"}}))
	wantCode(t, err, connect.CodePermissionDenied)

	resp, err := f.c.ListOrganizationMembers(ctx, as(bobToken, &orgv1.ListOrganizationMembersRequest{OrganizationId: orgA}))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, m := range resp.Msg.GetMembers() {
		got[m.GetUserId()] = m.GetRoles()
	}
	if len(got) != 2 || !slices.Equal(got[bob], []string{"org.owner"}) || !slices.Equal(got[carol], []string{"org.viewer", "org.user_manager"}) {
		t.Fatalf("members: %v", got)
	}

	if _, err := f.c.RemoveOrganizationMember(ctx, as(bobToken, &orgv1.RemoveOrganizationMemberRequest{OrganizationId: orgA, UserId: carol})); err != nil {
		t.Fatal(err)
	}
	_, err = f.c.RemoveOrganizationMember(ctx, as(bobToken, &orgv1.RemoveOrganizationMemberRequest{OrganizationId: orgA, UserId: carol}))
	wantCode(t, err, connect.CodeNotFound)
	// Removing its own membership takes effect on the next request.
	if _, err := f.c.RemoveOrganizationMember(ctx, as(bobToken, &orgv1.RemoveOrganizationMemberRequest{OrganizationId: orgA, UserId: bob})); err != nil {
		t.Fatal(err)
	}
	_, err = f.c.ListOrganizationMembers(ctx, as(bobToken, &orgv1.ListOrganizationMembersRequest{OrganizationId: orgA}))
	wantCode(t, err, connect.CodePermissionDenied)
	resp, err = f.c.ListOrganizationMembers(ctx, as(admin, &orgv1.ListOrganizationMembersRequest{OrganizationId: orgA}))
	if err != nil || len(resp.Msg.GetMembers()) != 0 {
		t.Fatalf("members after removals: %v %v", resp, err)
	}
}
