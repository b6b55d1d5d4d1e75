package apitest

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/system"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
)

func TestEnvServesTheFirstInstanceAndAuthenticatesItsAdministrator(t *testing.T) {
	env := Start(t, func(*app.App, *authn.Authenticator) []api.Service { return []api.Service{system.New("test")} })
	resp, err := env.Client.Get(env.URL + "/v1/instance")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), env.InstanceID) {
		t.Fatalf("%s %s", resp.Status, body)
	}
	ctx, h := context.Background(), http.Header{}
	inst, err := newInstanceContext(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Auth.Caller(inst, h); !failure.Is(err, failure.KindUnauthenticated) {
		t.Fatalf("no token: %v", err)
	}
	h.Set("Authorization", Bearer(env.AdminToken))
	caller, err := env.Auth.Caller(inst, h)
	if err != nil || caller.UserID != env.AdminID || caller.Require("user.write", authz.Org(env.OrgID)) != nil {
		t.Fatalf("administrator: %+v %v", caller, err)
	}
}

// newInstanceContext returns ctx carrying the first instance, as the server
// sets it for a request.
func newInstanceContext(ctx context.Context, e *Env) (context.Context, error) {
	inst, err := instance.NewResolver(e.App.DB).ByHost(ctx, "localhost")
	if err != nil {
		return nil, err
	}
	return instance.WithContext(ctx, inst), nil
}
