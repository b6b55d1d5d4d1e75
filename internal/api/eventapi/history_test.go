package eventapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/castellan-iam/castellan/gen/castellan/event/v1"
	"github.com/castellan-iam/castellan/gen/castellan/event/v1/eventv1connect"
	"github.com/castellan-iam/castellan/internal/access/project"
	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/api/eventapi"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// moment separates two changes in time.
func moment() time.Time {
	time.Sleep(3 * time.Millisecond)
	t := time.Now()
	time.Sleep(3 * time.Millisecond)
	return t
}

func codeOf(err error) connect.Code {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code()
	}
	return 0
}

// paths lists the changes as "kind path".
func paths(cs []*eventv1.Change) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.GetKind()+" "+c.GetPath())
	}
	return strings.Join(out, "\n")
}

// TestDiffs asks what changed in a user, an organization, a project, a
// user type and a user's authorizations and memberships between two moments, through
// the Connect API and REST; another organization's owner, and a user
// without event.read, get NotFound whatever they ask, moments checked
// after the permission; no secret shows.
func TestDiffs(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		env := apitest.StartOn(t, src, func(a *app.App, auth *authn.Authenticator) []api.Service {
			return []api.Service{eventapi.NewService(a.Store, auth).WithHistory(a.History())}
		})
		c := eventv1connect.NewEventServiceClient(env.Client, env.URL)
		ctx := context.Background()
		a, ed := env.App, eventstore.SystemEditor

		orgB := createOrg(t, env, "Globex")
		ownerB := createUser(t, env, orgB, "hank")
		env.GrantOrg(t, orgB, ownerB, "org.owner")
		tokenB := env.Token(t, ownerB, orgB)
		plain := createUser(t, env, env.OrgID, "milton")
		tokenPlain := env.Token(t, plain, env.OrgID)

		orgs := org.NewCommands(a.Store, org.NewVerifier())
		apps := client.NewCommands(a.Store, a.Keys, nil)
		access := project.NewCommands(a.Store)
		p, err := apps.CreateProject(ctx, ed, env.InstanceID, env.OrgID, "Portal")
		if err != nil {
			t.Fatal(err)
		}
		typeID, err := usertype.NewCommands(a.Store).Create(ctx, ed, env.InstanceID, "contractor",
			[]byte(`{"type": "object", "permission": {"self": "r", "admin": "rw"}, "properties": {"agency": {"type": "string"}}}`))
		if err != nil {
			t.Fatal(err)
		}
		from := moment()
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(orgs.Rename(ctx, ed, env.InstanceID, env.OrgID, "Initrode"))
		must(orgs.AddDomain(ctx, ed, env.InstanceID, env.OrgID, "initrode.example"))
		must(access.AddRole(ctx, ed, env.InstanceID, p.ID, project.Role{Key: "admin"}))
		app, secret, err := apps.CreateApplication(ctx, ed, env.InstanceID, p.ID, client.ApplicationSpec{Name: "worker", GrantTypes: []string{oauth.GrantClientCredentials}})
		must(err)
		_, secret2, err := apps.AddSecret(ctx, ed, env.InstanceID, app.ID, 0)
		must(err)
		_, err = usertype.NewCommands(a.Store).Update(ctx, ed, env.InstanceID, typeID,
			[]byte(`{"type": "object", "permission": {"self": "r", "admin": "rw"}, "properties": {"agency_name": {"type": "string"}}}`))
		must(err)
		auth, err := access.AddAuthorization(ctx, ed, env.InstanceID, project.Subject{UserID: plain}, p.ID, "", []string{"admin"})
		must(err)
		env.GrantOrg(t, env.OrgID, plain, "org.user_manager")
		email := "milton@initech.example"
		must(a.UserCommands().Update(ctx, ed, env.InstanceID, plain, userschema.Admin, user.Patch{Email: &email}))
		to := moment()
		ts := func(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

		type question struct {
			name string
			ask  func(token, id string, from, to *timestamppb.Timestamp) ([]*eventv1.Change, error)
			id   string
			want []string
		}
		questions := []question{
			{"user", func(token, id string, f, t *timestamppb.Timestamp) ([]*eventv1.Change, error) {
				r, err := c.DiffUser(ctx, as(token, &eventv1.DiffUserRequest{UserId: id, From: f, To: t}))
				if err != nil {
					return nil, err
				}
				return r.Msg.GetChanges(), nil
			}, plain, []string{"changed /Email", "changed /Sequence"}},
			{"organization", func(token, id string, f, t *timestamppb.Timestamp) ([]*eventv1.Change, error) {
				r, err := c.DiffOrganization(ctx, as(token, &eventv1.DiffOrganizationRequest{OrganizationId: id, From: f, To: t}))
				if err != nil {
					return nil, err
				}
				return r.Msg.GetChanges(), nil
			}, env.OrgID, []string{"changed /Name", "added /Domains/initrode.example"}},
			{"project", func(token, id string, f, t *timestamppb.Timestamp) ([]*eventv1.Change, error) {
				r, err := c.DiffProject(ctx, as(token, &eventv1.DiffProjectRequest{ProjectId: id, From: f, To: t}))
				if err != nil {
					return nil, err
				}
				return r.Msg.GetChanges(), nil
			}, p.ID, []string{"added /Roles/admin", "added /Applications/" + app.ID}},
			{"user type", func(token, id string, f, t *timestamppb.Timestamp) ([]*eventv1.Change, error) {
				r, err := c.DiffUserType(ctx, as(token, &eventv1.DiffUserTypeRequest{UserTypeId: id, From: f, To: t}))
				if err != nil {
					return nil, err
				}
				return r.Msg.GetChanges(), nil
			}, typeID, []string{"changed /Revision", "removed /Document/properties/agency", "added /Document/properties/agency_name"}},
			{"authorizations", func(token, id string, f, t *timestamppb.Timestamp) ([]*eventv1.Change, error) {
				r, err := c.DiffAuthorizations(ctx, as(token, &eventv1.DiffAuthorizationsRequest{UserId: id, From: f, To: t}))
				if err != nil {
					return nil, err
				}
				return r.Msg.GetChanges(), nil
			}, plain, []string{"added /" + auth.ID}},
			{"memberships", func(token, id string, f, t *timestamppb.Timestamp) ([]*eventv1.Change, error) {
				r, err := c.DiffMemberships(ctx, as(token, &eventv1.DiffMembershipsRequest{UserId: id, From: f, To: t}))
				if err != nil {
					return nil, err
				}
				return r.Msg.GetChanges(), nil
			}, plain, []string{"added /org:" + env.OrgID}},
		}
		for _, q := range questions {
			changes, err := q.ask(env.AdminToken, q.id, ts(from), ts(to))
			if err != nil {
				t.Fatalf("%s: %v", q.name, err)
			}
			got := paths(changes)
			for _, w := range q.want {
				if !strings.Contains("\n"+got+"\n", "\n"+w+"\n") {
					t.Fatalf("%s: %q not among\n%s", q.name, w, got)
				}
			}
			// Nothing between a moment and itself.
			if same, err := q.ask(env.AdminToken, q.id, ts(to), ts(to)); err != nil || len(same) != 0 {
				t.Fatalf("%s from a moment to itself: %s %v", q.name, paths(same), err)
			}
			// Bad moments are named.
			for _, bad := range []struct {
				from, to *timestamppb.Timestamp
				field    string
			}{{nil, ts(to), "from"}, {ts(from), nil, "to"}, {ts(to), ts(from), "to"}, {&timestamppb.Timestamp{Seconds: -1 << 60}, ts(to), "from"}} {
				_, err := q.ask(env.AdminToken, q.id, bad.from, bad.to)
				if codeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), bad.field) {
					t.Fatalf("%s with moments %v, %v: %v", q.name, bad.from, bad.to, err)
				}
			}
			// Another organization's owner and a user without event.read
			// learn nothing, not even whether the moments are valid; an
			// object that never existed reads the same.
			_, unknown := q.ask(env.AdminToken, "no-such-object", ts(from), ts(to))
			if codeOf(unknown) != connect.CodeNotFound {
				t.Fatalf("%s that never existed: %v", q.name, unknown)
			}
			for _, token := range []string{tokenB, tokenPlain} {
				for _, m := range [][2]*timestamppb.Timestamp{{ts(from), ts(to)}, {ts(to), ts(from)}, {nil, nil}} {
					_, err := q.ask(token, q.id, m[0], m[1])
					if codeOf(err) != connect.CodeNotFound || strings.Replace(err.Error(), q.id, "no-such-object", 1) != unknown.Error() {
						t.Fatalf("%s of organization A asked by %s: %v (unknown: %v)", q.name, token[:6], err, unknown)
					}
				}
			}
			if _, err := q.ask("", q.id, ts(from), ts(to)); codeOf(err) != connect.CodeUnauthenticated {
				t.Fatalf("%s without a token: %v", q.name, err)
			}
			if _, err := q.ask(env.AdminToken, "", ts(from), ts(to)); codeOf(err) != connect.CodeInvalidArgument {
				t.Fatalf("%s without an id: %v", q.name, err)
			}
		}
		// B's owner reads its own organization's past.
		if _, err := c.DiffOrganization(ctx, as(tokenB, &eventv1.DiffOrganizationRequest{OrganizationId: orgB, From: ts(from), To: ts(to)})); err != nil {
			t.Fatalf("an owner's own organization: %v", err)
		}

		// REST, as the console calls it; no secret in any answer.
		rest := func(path string) (int, string) {
			q := url.Values{"from": {from.UTC().Format(time.RFC3339Nano)}, "to": {to.UTC().Format(time.RFC3339Nano)}}
			req, _ := http.NewRequest(http.MethodGet, env.URL+path+"?"+q.Encode(), nil)
			req.Header.Set("Authorization", apitest.Bearer(env.AdminToken))
			resp, err := env.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(body)
		}
		for _, path := range []string{"/v1/history/organizations/" + env.OrgID + ":diff", "/v1/history/projects/" + p.ID + ":diff",
			"/v1/history/user_types/" + typeID + ":diff", "/v1/history/users/" + plain + "/authorizations:diff", "/v1/history/users/" + plain + "/memberships:diff", "/v1/history/users/" + plain + ":diff"} {
			code, body := rest(path)
			var out struct {
				Changes []struct {
					Path, Kind string
				}
			}
			if code != http.StatusOK || json.Unmarshal([]byte(body), &out) != nil || len(out.Changes) == 0 || out.Changes[0].Kind == "" {
				t.Fatalf("GET %s: %d %s", path, code, body)
			}
			for _, s := range []string{secret, secret2} {
				if s == "" || strings.Contains(body, s) {
					t.Fatalf("GET %s shows a client secret", path)
				}
			}
		}
	})
}
