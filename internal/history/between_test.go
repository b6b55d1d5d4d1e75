package history_test

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/access/group"
	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/access/project"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/api/eventapi"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/history"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// moment is a snapshot: the live read model's state of an object right
// after a change, and a moment between that change and the next.
type moment struct {
	at    time.Time
	state any
}

// series changes an object step by step and keeps a snapshot after each
// step, read from the live read models by read.
type series struct {
	t       *testing.T
	read    func() (any, error)
	moments []moment
	// quiet are the steps the state does not show (a secret's rotation).
	quiet map[int]bool
}

// quietStep is a step the state must not show.
func (s *series) quietStep(change error) {
	s.t.Helper()
	if s.quiet == nil {
		s.quiet = map[int]bool{}
	}
	s.quiet[len(s.moments)] = true
	s.step(change)
}

func (s *series) step(change error) {
	s.t.Helper()
	if change != nil {
		s.t.Fatal(change)
	}
	state, err := s.read()
	if err != nil {
		s.t.Fatal(err)
	}
	s.moments = append(s.moments, moment{pause(), state})
}

// checkPairs asks diff for pairs of moments — every pair when there are
// few, otherwise each with its successor, the first and the last — and
// requires the same changes as those between the snapshots. It returns
// the changes between the first moment and the last.
func (s *series) checkPairs(diff func(from, to time.Time) ([]history.Change, error)) []history.Change {
	t := s.t
	t.Helper()
	n := len(s.moments)
	type pair struct{ i, j int }
	var pairs []pair
	for i := range n {
		for j := i; j < n; j++ {
			if n <= 8 || j == i+1 || i == 0 || j == n-1 {
				pairs = append(pairs, pair{i, j})
			}
		}
	}
	var whole []history.Change
	for _, p := range pairs {
		want, err := history.Diff(s.moments[p.i].state, s.moments[p.j].state, eventapi.Sensitive)
		if err != nil {
			t.Fatal(err)
		}
		got, err := diff(s.moments[p.i].at, s.moments[p.j].at)
		if err != nil {
			t.Fatalf("diff from moment %d to %d: %v", p.i, p.j, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("diff from moment %d to %d:\n got %s\nwant %s", p.i, p.j, show(got), show(want))
		}
		if p.j == p.i+1 && (len(got) == 0) != s.quiet[p.j] {
			t.Fatalf("step %d (quiet: %v) changed %s", p.j, s.quiet[p.j], show(got))
		}
		if p.i == 0 && p.j == n-1 {
			whole = got
		}
	}
	return whole
}

func show(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// changeAt returns the change at path, failing without one.
func changeAt(t *testing.T, changes []history.Change, path string) history.Change {
	t.Helper()
	for _, c := range changes {
		if c.Path == path {
			return c
		}
	}
	var paths []string
	for _, c := range changes {
		paths = append(paths, c.Path)
	}
	t.Fatalf("no change at %s among %v", path, paths)
	return history.Change{}
}

// TestDiffOrg renames an organization, adds, verifies and removes domains,
// sets and removes metadata, and deactivates it; the
// diff between any two moments equals the difference of the live read
// model's snapshots, domains named by name and metadata by key.
func TestDiffOrg(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		env := apitest.StartOn(t, src, noServices)
		ctx := context.Background()
		a := env.App
		orgs := org.NewCommands(a.Store, org.NewVerifier())
		id, err := orgs.Create(ctx, editor, env.InstanceID, "Initech")
		if err != nil {
			t.Fatal(err)
		}
		created := time.Now()
		s := &series{t: t, read: func() (any, error) { return org.Get(ctx, a.DB, env.InstanceID, id) }}
		s.step(nil)
		s.step(orgs.Rename(ctx, editor, env.InstanceID, id, "Initrode"))
		s.step(orgs.AddDomain(ctx, editor, env.InstanceID, id, "initrode.example"))
		s.step(orgs.AddDomain(ctx, editor, env.InstanceID, id, "initech.example"))
		s.step(orgs.SetMetadata(ctx, editor, env.InstanceID, id, "tier", []byte("gold")))
		s.step(orgs.SetMetadata(ctx, editor, env.InstanceID, id, "region", []byte("eu")))
		s.step(orgs.SetMetadata(ctx, editor, env.InstanceID, id, "tier", []byte("silver")))
		s.step(orgs.RemoveDomain(ctx, editor, env.InstanceID, id, "initech.example"))
		s.step(orgs.RemoveMetadata(ctx, editor, env.InstanceID, id, "region"))
		s.step(orgs.Deactivate(ctx, editor, env.InstanceID, id))
		s.step(orgs.Reactivate(ctx, editor, env.InstanceID, id))
		s.step(orgs.Rename(ctx, editor, env.InstanceID, id, "Initech"))
		h := a.History()
		diff := func(from, to time.Time) ([]history.Change, error) {
			return h.DiffOrg(ctx, env.InstanceID, id, from, to, eventapi.Sensitive)
		}
		whole := s.checkPairs(diff)
		if c := changeAt(t, whole, "/Domains/initrode.example"); c.Kind != history.Added {
			t.Fatalf("the domain kept: %+v", c)
		}
		if c := changeAt(t, whole, "/Metadata/tier"); c.Kind != history.Added || c.After != "c2lsdmVy" {
			t.Fatalf("the metadata kept: %+v", c)
		}
		if slices.ContainsFunc(whole, func(c history.Change) bool {
			return strings.HasPrefix(c.Path, "/Name") || strings.Contains(c.Path, "initech.example") || strings.Contains(c.Path, "region")
		}) {
			t.Fatalf("the changes undone show in the whole: %s", show(whole))
		}
		// Before the organization existed, it is absent: it appears whole.
		appear, err := diff(created.Add(-time.Hour), s.moments[1].at)
		if err != nil || len(appear) != 1 || appear[0].Path != "" || appear[0].Kind != history.Added {
			t.Fatalf("appearing: %+v %v", appear, err)
		}
		if _, err := diff(created.Add(-time.Hour), created.Add(-time.Minute)); !failure.Is(err, failure.KindNotFound) {
			t.Fatalf("before it existed at both moments: %v", err)
		}
		if _, err := diff(s.moments[2].at, s.moments[1].at); !failure.Is(err, failure.KindInvalidArgument) || !strings.Contains(err.Error(), "before from") {
			t.Fatalf("moments in the wrong order: %v", err)
		}
		if _, err := diff(time.Time{}, s.moments[1].at); !failure.Is(err, failure.KindInvalidArgument) {
			t.Fatalf("no from: %v", err)
		}
	})
}

// TestDiffUserType revises a user type's schema and deactivates it.
func TestDiffUserType(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		env := apitest.StartOn(t, src, noServices)
		ctx := context.Background()
		a := env.App
		types := usertype.NewCommands(a.Store)
		doc := func(fields ...string) []byte {
			props := map[string]any{}
			for _, f := range fields {
				props[f] = map[string]any{"type": "string"}
			}
			b, _ := json.Marshal(map[string]any{"type": "object", "permission": map[string]any{"self": "r", "admin": "rw"}, "properties": props})
			return b
		}
		id, err := types.Create(ctx, editor, env.InstanceID, "contractor", doc("agency"))
		if err != nil {
			t.Fatal(err)
		}
		s := &series{t: t, read: func() (any, error) { return usertype.Get(ctx, a.DB, env.InstanceID, id) }}
		s.step(nil)
		update := func(fields ...string) error {
			_, err := types.Update(ctx, editor, env.InstanceID, id, doc(fields...))
			return err
		}
		s.step(update("agency", "badge"))
		s.step(update("agency_name", "badge"))
		s.step(types.Deactivate(ctx, editor, env.InstanceID, id))
		s.step(types.Reactivate(ctx, editor, env.InstanceID, id))
		s.step(update("agency_name"))
		h := a.History()
		whole := s.checkPairs(func(from, to time.Time) ([]history.Change, error) {
			return h.DiffUserType(ctx, env.InstanceID, id, from, to, eventapi.Sensitive)
		})
		changeAt(t, whole, "/Revision")
		if c := changeAt(t, whole, "/Document/properties/agency"); c.Kind != history.Removed {
			t.Fatalf("the field renamed: %+v", c)
		}
		changeAt(t, whole, "/Document/properties/agency_name")
	})
}

// TestDiffProject changes a project's roles, settings, grants and
// applications (redirect URIs, scopes, secrets) many times: the diff names
// each element by its identity, equals the difference of snapshots, and
// never holds a secret.
func TestDiffProject(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		env := apitest.StartOn(t, src, noServices)
		ctx := context.Background()
		a := env.App
		apps := client.NewCommands(a.Store, a.Keys, nil)
		access := project.NewCommands(a.Store)
		p, err := apps.CreateProject(ctx, editor, env.InstanceID, env.OrgID, "Portal")
		if err != nil {
			t.Fatal(err)
		}
		other, err := org.NewCommands(a.Store, org.NewVerifier()).Create(ctx, editor, env.InstanceID, "Globex")
		if err != nil {
			t.Fatal(err)
		}
		s := &series{t: t, read: func() (any, error) { return history.ProjectOf(ctx, a.DB, env.InstanceID, p.ID) }}
		s.step(nil)
		s.step(access.AddRole(ctx, editor, env.InstanceID, p.ID, project.Role{Key: "admin", DisplayName: "Admin"}))
		s.step(access.AddRole(ctx, editor, env.InstanceID, p.ID, project.Role{Key: "viewer", DisplayName: "Viewer"}))
		s.step(access.AddRole(ctx, editor, env.InstanceID, p.ID, project.Role{Key: "editor"}))
		s.step(access.ChangeRole(ctx, editor, env.InstanceID, p.ID, project.Role{Key: "admin", DisplayName: "Administrators", Group: "staff"}))
		s.step(access.SetSettings(ctx, editor, env.InstanceID, p.ID, project.Settings{AssertRoles: true}))
		grant, err := access.AddGrant(ctx, editor, env.InstanceID, p.ID, other, []string{"viewer"})
		s.step(err)
		s.step(access.ChangeGrant(ctx, editor, env.InstanceID, p.ID, grant.ID, []string{"viewer", "editor"}))
		web, secret, err := apps.CreateApplication(ctx, editor, env.InstanceID, p.ID, client.ApplicationSpec{Name: "web",
			GrantTypes: []string{oauth.GrantAuthorizationCode}, Redirects: client.Redirects{RedirectURIs: []string{"https://portal.example/cb"}}})
		s.step(err)
		secrets := []string{secret}
		_, err = apps.SetRedirects(ctx, editor, env.InstanceID, web.ID, client.Redirects{RedirectURIs: []string{"https://portal.example/cb", "https://portal.example/cb2"},
			PostLogoutRedirectURIs: []string{"https://portal.example/"}})
		s.step(err)
		_, secret, err = apps.AddSecret(ctx, editor, env.InstanceID, web.ID, 0)
		secrets = append(secrets, secret)
		s.quietStep(err)
		name := "Web portal"
		_, err = apps.UpdateApplication(ctx, editor, env.InstanceID, web.ID, client.ApplicationUpdate{Name: &name, Scopes: []string{"openid", "email"}, SetScopes: true})
		s.step(err)
		_, secret, err = apps.CreateApplication(ctx, editor, env.InstanceID, p.ID, client.ApplicationSpec{Name: "worker", GrantTypes: []string{oauth.GrantClientCredentials}})
		secrets = append(secrets, secret)
		s.step(err)
		s.step(access.RemoveRole(ctx, editor, env.InstanceID, p.ID, "editor"))
		s.step(access.RemoveGrant(ctx, editor, env.InstanceID, p.ID, grant.ID))
		h := a.History()
		whole := s.checkPairs(func(from, to time.Time) ([]history.Change, error) {
			return h.DiffProject(ctx, env.InstanceID, p.ID, from, to, eventapi.Sensitive)
		})
		// A grant's roles and an application's redirect URIs, by identity.
		mid, err := h.DiffProject(ctx, env.InstanceID, p.ID, s.moments[6].at, s.moments[7].at, eventapi.Sensitive)
		if err != nil {
			t.Fatal(err)
		}
		if c := changeAt(t, mid, "/Grants/"+grant.ID+"/Roles/editor"); c.Kind != history.Added || c.After != "editor" {
			t.Fatalf("a role added to the grant: %+v", c)
		}
		app, err := h.DiffProject(ctx, env.InstanceID, p.ID, s.moments[8].at, s.moments[11].at, eventapi.Sensitive)
		if err != nil {
			t.Fatal(err)
		}
		mid = append(mid, app...)
		if c := changeAt(t, app, "/Applications/"+web.ID+"/redirectUris/"+history.Escape("https://portal.example/cb2")); c.Kind != history.Added {
			t.Fatalf("a redirect URI added: %+v", c)
		}
		if c := changeAt(t, app, "/Applications/"+web.ID+"/Scopes/email"); c.Kind != history.Added {
			t.Fatalf("a scope added: %+v", c)
		}
		if c := changeAt(t, app, "/Applications/"+web.ID+"/Name"); c.After != "Web portal" {
			t.Fatalf("the application renamed: %+v", c)
		}
		if c := changeAt(t, whole, "/Roles/admin"); c.Kind != history.Added {
			t.Fatalf("a role added: %+v", c)
		}
		roles, err := h.DiffProject(ctx, env.InstanceID, p.ID, s.moments[3].at, s.moments[len(s.moments)-1].at, eventapi.Sensitive)
		if err != nil {
			t.Fatal(err)
		}
		if c := changeAt(t, roles, "/Roles/admin/DisplayName"); c.Before != "Admin" || c.After != "Administrators" {
			t.Fatalf("a role renamed: %+v", c)
		}
		if c := changeAt(t, roles, "/Roles/editor"); c.Kind != history.Removed {
			t.Fatalf("a role removed: %+v", c)
		}
		gone, err := h.DiffProject(ctx, env.InstanceID, p.ID, s.moments[7].at, s.moments[len(s.moments)-1].at, eventapi.Sensitive)
		if err != nil {
			t.Fatal(err)
		}
		if c := changeAt(t, gone, "/Grants/"+grant.ID); c.Kind != history.Removed {
			t.Fatalf("a grant removed: %+v", c)
		}
		// No secret, nor anything derived from one, in any diff.
		all := show(whole) + show(mid) + show(roles)
		for _, sec := range secrets {
			if sec == "" || strings.Contains(all, sec) {
				t.Fatalf("a client secret (%q) in a diff", sec)
			}
		}
		if strings.Contains(all, "Secrets\":[{") || strings.Contains(strings.ToLower(all), "hash") {
			t.Fatalf("secret material in a diff: %s", all)
		}
	})
}

// TestDiffAccess gives a user authorizations, its own and through a
// group, changes and removes them, and makes it an administrator and not;
// the diffs of its authorizations (by id) and memberships (by scope)
// equal the difference of snapshots.
func TestDiffAccess(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		env := apitest.StartOn(t, src, noServices)
		ctx := context.Background()
		a := env.App
		p, err := client.NewCommands(a.Store, a.Keys, nil).CreateProject(ctx, editor, env.InstanceID, env.OrgID, "Portal")
		if err != nil {
			t.Fatal(err)
		}
		access := project.NewCommands(a.Store)
		for _, r := range []string{"admin", "viewer", "editor"} {
			if err := access.AddRole(ctx, editor, env.InstanceID, p.ID, project.Role{Key: r}); err != nil {
				t.Fatal(err)
			}
		}
		userID := createUser(t, env, "ada")
		members := member.NewCommands(a.Store)
		auths := &series{t: t, read: func() (any, error) { return history.AuthorizationsOf(ctx, a.DB, env.InstanceID, userID) }}
		roles := &series{t: t}
		step := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			ms, err := member.OfUser(ctx, a.DB, env.InstanceID, userID)
			if err != nil {
				t.Fatal(err)
			}
			auths.step(nil)
			roles.moments = append(roles.moments, moment{auths.moments[len(auths.moments)-1].at, history.MembershipStates(ms)})
		}
		step(nil)
		own, err := access.AddAuthorization(ctx, editor, env.InstanceID, project.Subject{UserID: userID}, p.ID, "", []string{"viewer"})
		step(err)
		step(access.ChangeAuthorization(ctx, editor, env.InstanceID, own.ID, []string{"viewer", "editor"}))
		g, err := group.NewCommands(a.Store).Create(ctx, editor, env.InstanceID, env.OrgID, "Editors")
		if err != nil {
			t.Fatal(err)
		}
		step(group.NewCommands(a.Store).AddMember(ctx, editor, env.InstanceID, g.ID, userID, ""))
		shared, err := access.AddAuthorization(ctx, editor, env.InstanceID, project.Subject{GroupID: g.ID}, p.ID, "", []string{"admin"})
		step(err)
		step(members.AddOrgMember(ctx, editor, env.InstanceID, env.OrgID, userID, []string{"org.owner"}))
		step(members.SetInstanceMember(ctx, editor, env.InstanceID, userID, []string{"instance.viewer"}))
		step(access.ChangeAuthorization(ctx, editor, env.InstanceID, own.ID, []string{"editor"}))
		step(members.RemoveOrgMember(ctx, editor, env.InstanceID, env.OrgID, userID))
		step(access.RemoveAuthorization(ctx, editor, env.InstanceID, own.ID))
		h := a.History()
		// Steps that change only memberships change no authorization, and
		// the other way round: every pair of each is compared.
		checkAll := func(s *series, diff func(from, to time.Time) ([]history.Change, error)) {
			n := len(s.moments)
			for i := range n {
				for j := i; j < n; j++ {
					want, _ := history.Diff(s.moments[i].state, s.moments[j].state, eventapi.Sensitive)
					got, err := diff(s.moments[i].at, s.moments[j].at)
					if err != nil || !reflect.DeepEqual(got, want) {
						t.Fatalf("diff from moment %d to %d: %v\n got %s\nwant %s", i, j, err, show(got), show(want))
					}
				}
			}
		}
		checkAll(auths, func(from, to time.Time) ([]history.Change, error) {
			return h.DiffAuthorizations(ctx, env.InstanceID, userID, from, to, eventapi.Sensitive)
		})
		every := func(authz.Scope) bool { return true }
		checkAll(roles, func(from, to time.Time) ([]history.Change, error) {
			return h.DiffMemberships(ctx, env.InstanceID, userID, from, to, every, eventapi.Sensitive)
		})
		got, err := h.DiffAuthorizations(ctx, env.InstanceID, userID, auths.moments[2].at, auths.moments[len(auths.moments)-1].at, eventapi.Sensitive)
		if err != nil {
			t.Fatal(err)
		}
		if c := changeAt(t, got, "/"+own.ID); c.Kind != history.Removed {
			t.Fatalf("the own authorization removed: %+v", c)
		}
		if c := changeAt(t, got, "/"+shared.ID); c.Kind != history.Added {
			t.Fatalf("the group's authorization: %+v", c)
		}
		got, err = h.DiffAuthorizations(ctx, env.InstanceID, userID, auths.moments[1].at, auths.moments[2].at, eventapi.Sensitive)
		if err != nil || changeAt(t, got, "/"+own.ID+"/Roles/editor").Kind != history.Added {
			t.Fatalf("a role added to an authorization: %s %v", show(got), err)
		}
		got, err = h.DiffMemberships(ctx, env.InstanceID, userID, roles.moments[4].at, roles.moments[7].at, every, eventapi.Sensitive)
		if err != nil {
			t.Fatal(err)
		}
		if c := changeAt(t, got, "/org:"+env.OrgID); c.Kind != history.Added {
			t.Fatalf("an organization's ownership: %+v", c)
		}
		if c := changeAt(t, got, "/instance:"+env.InstanceID); c.Kind != history.Added {
			t.Fatalf("the instance's viewer: %+v", c)
		}
		// A reader that may not see the instance's scope sees no change there.
		orgOnly := func(s authz.Scope) bool { return s.Kind != authz.ScopeInstance }
		got, err = h.DiffMemberships(ctx, env.InstanceID, userID, roles.moments[4].at, roles.moments[7].at, orgOnly, eventapi.Sensitive)
		if err != nil || len(got) != 1 || got[0].Path != "/org:"+env.OrgID {
			t.Fatalf("memberships as an organization's reader: %s %v", show(got), err)
		}
	})
}

func createUser(t *testing.T, env *apitest.Env, login string) string {
	t.Helper()
	id, err := env.App.UserCommands().Create(context.Background(), editor, env.InstanceID, user.New{Type: "human", OrgID: env.OrgID, LoginName: login, Email: login + "@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	return id
}
