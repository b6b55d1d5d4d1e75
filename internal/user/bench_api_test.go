package user_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"connectrpc.com/connect"

	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	"github.com/castellan-iam/castellan/gen/castellan/user/v1/userv1connect"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/config"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/password"
	"github.com/castellan-iam/castellan/internal/pat"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
)

// benchAPI is the binary's whole server (app.App.Server: instance
// resolution, middleware, authentication, every service) over a dataset,
// serving its instance at localhost, and a client holding a personal
// access token of an instance owner. Requests are Connect with binary
// protobuf, as the Go SDK and the CLI send them, over HTTP/1.1 on
// loopback; the server's side of JSON (the console's) costs about 0.5 ms
// more for a page of 50 (protojson), and the browser parses it.
type benchAPI struct {
	client userv1connect.UserServiceClient
	token  string
}

const benchAdminOrg = "bench-admins"

// api returns the dataset's server, starting it on first use: the
// instance, an administrators' organization and an administrator are
// added to the dataset the first time.
func (d *dataset) api(b *testing.B) *benchAPI {
	if d.server != nil {
		return d.server
	}
	ctx := context.Background()
	users, store, ring := benchStoreAndRing(b, d.db)
	if _, err := instance.ByID(ctx, d.db, benchInstance); failure.Is(err, failure.KindNotFound) {
		inst, err := instance.Create(benchInstance, "Bench", "localhost")
		if err != nil {
			b.Fatal(err)
		}
		o, err := org.Creation(benchInstance, benchAdminOrg, "Administrators")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := store.Push(ctx, eventstore.SystemEditor, inst, o); err != nil {
			b.Fatal(err)
		}
	} else if err != nil {
		b.Fatal(err)
	}
	var adminID string
	found, err := user.Find(ctx, d.db, benchInstance, user.Search{LoginName: "bench-admin"}, userschema.Admin)
	switch {
	case err != nil:
		b.Fatal(err)
	case len(found.Users) == 1:
		adminID = found.Users[0].ID
	default:
		if adminID, err = users.Create(ctx, benchEditor, benchInstance, user.New{OrgID: benchAdminOrg, Type: "human", LoginName: "bench-admin", Password: "bench-admin-password-1"}); err != nil {
			b.Fatal(err)
		}
		if _, err := store.Push(ctx, eventstore.SystemEditor, instance.AddMember(benchInstance, adminID, authz.InstanceOwner)); err != nil {
			b.Fatal(err)
		}
	}
	_, token, err := pat.NewCommands(store, nil).Add(ctx, eventstore.SystemEditor,
		eventstore.Aggregate{InstanceID: benchInstance, Type: user.AggregateType, ID: adminID, Owner: benchAdminOrg}, time.Now().Add(24*time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load([]string{"--data-dir", b.TempDir(), "--listen", "127.0.0.1:1", "--external-url", "http://localhost"},
		func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	a := &app.App{Config: cfg, Log: slog.New(slog.DiscardHandler), DB: d.db, Store: store, Keys: ring,
		Hasher: password.NewHasher(password.OWASP, 2)}
	srv, err := a.Server("bench", false)
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	u, _ := url.Parse(ts.URL)
	d.closeServer = ts.Close
	d.server = &benchAPI{token: token, client: userv1connect.NewUserServiceClient(&http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}},
		"http://localhost:"+u.Port())}
	return d.server
}

var apiStates = map[user.State]userv1.UserState{
	user.StateInitial: userv1.UserState_USER_STATE_INITIAL, user.StateActive: userv1.UserState_USER_STATE_ACTIVE,
	user.StateInactive: userv1.UserState_USER_STATE_INACTIVE, user.StateLocked: userv1.UserState_USER_STATE_LOCKED,
}

// search runs s through the API as the administrator; s.Cursor must be a
// page token of the API.
func (a *benchAPI) search(ctx context.Context, s user.Search) (*userv1.SearchUsersResponse, error) {
	m := &userv1.SearchUsersRequest{OrganizationId: s.OrgID, Type: s.Type, State: apiStates[s.State], LoginName: s.LoginName,
		LoginNamePrefix: s.LoginNamePrefix, Email: s.Email, Descending: s.Descending, PageSize: int32(s.Limit), PageToken: s.Cursor}
	if s.SortBy == "createdAt" {
		m.OrderBy = "create_time"
	}
	for _, t := range s.Traits {
		m.Traits = append(m.Traits, &userv1.TraitFilter{Pointer: t.Pointer, Value: t.Value, Prefix: t.Prefix})
	}
	req := connect.NewRequest(m)
	req.Header().Set("Authorization", "Bearer "+a.token)
	resp, err := a.client.SearchUsers(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}
