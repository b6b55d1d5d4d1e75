package trustsetapi_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"connectrpc.com/connect"

	trustsetv1 "github.com/castellan-iam/castellan/gen/castellan/trustset/v1"
	"github.com/castellan-iam/castellan/gen/castellan/trustset/v1/trustsetv1connect"
	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/api/trustsetapi"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/oauth/trustset/certtest"
	"github.com/castellan-iam/castellan/internal/user"
)

func as[T any](token string, msg *T) *connect.Request[T] {
	r := connect.NewRequest(msg)
	if token != "" {
		r.Header().Set("Authorization", apitest.Bearer(token))
	}
	return r
}

func code(err error) connect.Code {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code()
	}
	return 0
}

// Trust sets decide which certificates authenticate clients of every
// organization: only the instance's administrators manage them; an
// organization's owner can neither read nor change them.
func TestTrustSetService(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		ctx := context.Background()
		e := apitest.StartOn(t, src, func(a *app.App, auth *authn.Authenticator) []api.Service {
			return []api.Service{trustsetapi.NewService(a.Store, auth)}
		})
		c := trustsetv1connect.NewTrustSetServiceClient(e.Client, e.URL)
		ownerID, err := user.NewCommands(e.App.Store, e.App.Hasher).Create(ctx, eventstore.SystemEditor, e.InstanceID,
			user.New{OrgID: e.OrgID, Type: "machine", LoginName: "org-owner", Traits: []byte(`{"name":"org-owner"}`)})
		if err != nil {
			t.Fatal(err)
		}
		e.GrantOrg(t, e.OrgID, ownerID, "org.owner")
		owner := e.Token(t, ownerID, e.OrgID)
		ca := certtest.NewCA(t, "Bank Root")

		created, err := c.CreateTrustSet(ctx, as(e.AdminToken, &trustsetv1.CreateTrustSetRequest{Name: "Banks", Certificates: ca.PEM(),
			Crls: ca.CRL(t, time.Now().Add(time.Hour)), Default: true}))
		if err != nil {
			t.Fatal(err)
		}
		id := created.Msg.GetTrustSet().GetId()
		if _, err := c.CreateTrustSet(ctx, as(e.AdminToken, &trustsetv1.CreateTrustSetRequest{Name: "Bad", Certificates: "not PEM"})); code(err) != connect.CodeInvalidArgument {
			t.Fatalf("bad certificates: %v", err)
		}
		for name, call := range map[string]func(token string) error{
			"create": func(tok string) error {
				_, err := c.CreateTrustSet(ctx, as(tok, &trustsetv1.CreateTrustSetRequest{Name: "Mine", Certificates: ca.PEM()}))
				return err
			},
			"update": func(tok string) error {
				_, err := c.UpdateTrustSet(ctx, as(tok, &trustsetv1.UpdateTrustSetRequest{TrustSetId: id, Name: "Banks", Certificates: ca.PEM()}))
				return err
			},
			"delete": func(tok string) error {
				_, err := c.DeleteTrustSet(ctx, as(tok, &trustsetv1.DeleteTrustSetRequest{TrustSetId: id}))
				return err
			},
			"get": func(tok string) error {
				_, err := c.GetTrustSet(ctx, as(tok, &trustsetv1.GetTrustSetRequest{TrustSetId: id}))
				return err
			},
			"list": func(tok string) error {
				_, err := c.ListTrustSets(ctx, as(tok, &trustsetv1.ListTrustSetsRequest{}))
				return err
			},
		} {
			t.Run("fail/an organization owner may not "+name, func(t *testing.T) {
				if err := call(owner); code(err) != connect.CodePermissionDenied {
					t.Fatalf("err = %v", err)
				}
			})
			t.Run("fail/an anonymous caller may not "+name, func(t *testing.T) {
				if err := call(""); code(err) != connect.CodeUnauthenticated {
					t.Fatalf("err = %v", err)
				}
			})
		}
		list, err := c.ListTrustSets(ctx, as(e.AdminToken, &trustsetv1.ListTrustSetsRequest{}))
		if err != nil || len(list.Msg.GetTrustSets()) != 1 || !list.Msg.GetTrustSets()[0].GetDefault() {
			t.Fatalf("list: %v %v", list, err)
		}
		if _, err := c.DeleteTrustSet(ctx, as(e.AdminToken, &trustsetv1.DeleteTrustSetRequest{TrustSetId: id})); err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetTrustSet(ctx, as(e.AdminToken, &trustsetv1.GetTrustSetRequest{TrustSetId: id})); code(err) != connect.CodeNotFound {
			t.Fatalf("after delete: %v", err)
		}
	})
}
