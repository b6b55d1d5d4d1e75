package userapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	"github.com/castellan-iam/castellan/gen/castellan/user/v1/userv1connect"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/pat"
	"github.com/castellan-iam/castellan/internal/setup"
	"github.com/castellan-iam/castellan/internal/user"
)

func tokenFor(t *testing.T, env *apitest.Env, r setup.Result) string {
	t.Helper()
	_, token, err := pat.NewCommands(env.App.Store, nil).Add(ctx, eventstore.SystemEditor,
		eventstore.Aggregate{InstanceID: r.InstanceID, Type: user.AggregateType, ID: r.AdminID, Owner: r.OrgID}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// hostTransport sends every request to the test server with another Host.
type hostTransport struct {
	host string
	base http.RoundTripper
}

func (h hostTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Host = h.host
	return h.base.RoundTrip(r)
}

// Two instances on one server share nothing: a token of one is not
// accepted by the other, and ids of one are not found through the other.
func TestTokensAndIdsStayInTheirInstance(t *testing.T) {
	env := start(t)
	bHost := "tenant-b.test"
	res, err := setup.CreateInstance(ctx, env.App.Store, env.App.Hasher, setup.FirstInstance{Name: "Tenant B", Domain: bHost, OrgName: "B",
		AdminLoginName: "admin", AdminPassword: "b-admin-password"})
	if err != nil {
		t.Fatal(err)
	}
	bToken := tokenFor(t, env, res)
	b := userv1connect.NewUserServiceClient(&http.Client{Transport: hostTransport{host: bHost, base: env.Client.Transport}}, env.URL)
	a := client(env)

	// The same login name exists in both instances: they are separate directories.
	meB, err := b.GetMyUser(ctx, as(bToken, &userv1.GetMyUserRequest{}))
	if err != nil || meB.Msg.GetUser().GetLoginName() != "admin" || meB.Msg.GetUser().GetId() == env.AdminID {
		t.Fatalf("instance B's admin: %v %v", meB, err)
	}
	// A's token is unknown on B's host and B's on A's.
	_, err = b.GetMyUser(ctx, as(env.AdminToken, &userv1.GetMyUserRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)
	_, err = a.GetMyUser(ctx, as(bToken, &userv1.GetMyUserRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)
	// An instance owner of B cannot reach A's users by id, nor find them.
	_, err = b.GetUser(ctx, as(bToken, &userv1.GetUserRequest{UserId: env.AdminID}))
	wantCode(t, err, connect.CodeNotFound)
	found, err := b.SearchUsers(ctx, as(bToken, &userv1.SearchUsersRequest{}))
	if err != nil || found.Msg.GetTotalSize() != 1 {
		t.Fatalf("B's search sees %v users (%v), want only its own admin", found.Msg.GetTotalSize(), err)
	}
	// Creating a user in A's organization through B fails.
	_, err = b.CreateUser(ctx, as(bToken, &userv1.CreateUserRequest{OrganizationId: env.OrgID, Type: "human", LoginName: "intruder"}))
	if err == nil || !strings.Contains(err.Error(), "organization") {
		t.Fatalf("B creating in A's organization: %v", err)
	}
}
