package instanceapi_test

import (
	"context"
	"errors"
	"testing"

	"connectrpc.com/connect"

	instancev1 "github.com/castellan-iam/castellan/gen/castellan/instance/v1"
	"github.com/castellan-iam/castellan/gen/castellan/instance/v1/instancev1connect"
	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/api/instanceapi"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/user"
)

func as[T any](token string, msg *T) *connect.Request[T] {
	r := connect.NewRequest(msg)
	r.Header().Set("Authorization", apitest.Bearer(token))
	return r
}

func code(err error) connect.Code {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code()
	}
	return 0
}

func TestInstanceMembers(t *testing.T) {
	ctx := context.Background()
	env := apitest.Start(t, func(a *app.App, auth *authn.Authenticator) []api.Service {
		return []api.Service{instanceapi.NewService(a.Store, auth, a.Tokens().Keys())}
	})
	c := instancev1connect.NewInstanceServiceClient(env.Client, env.URL)
	bob, err := user.NewCommands(env.App.Store, env.App.Hasher).Create(ctx, eventstore.SystemEditor, env.InstanceID,
		user.New{OrgID: env.OrgID, Type: "human", LoginName: "bob", Password: "bob-password-1"})
	if err != nil {
		t.Fatal(err)
	}
	bobToken := env.Token(t, bob, env.OrgID)

	_, err = c.ListInstanceMembers(ctx, as(bobToken, &instancev1.ListInstanceMembersRequest{}))
	if code(err) != connect.CodePermissionDenied {
		t.Fatalf("a user without roles lists members: %v", err)
	}
	if _, err := c.AddInstanceMember(ctx, as(env.AdminToken, &instancev1.AddInstanceMemberRequest{UserId: bob, Roles: []string{"org.owner"}})); code(err) != connect.CodeInvalidArgument {
		t.Fatalf("an organization role on the instance: %v", err)
	}
	if _, err := c.AddInstanceMember(ctx, as(env.AdminToken, &instancev1.AddInstanceMemberRequest{UserId: "nobody", Roles: []string{"instance.viewer"}})); code(err) != connect.CodeNotFound {
		t.Fatalf("an unknown user: %v", err)
	}
	if _, err := c.AddInstanceMember(ctx, as(env.AdminToken, &instancev1.AddInstanceMemberRequest{UserId: bob, Roles: []string{"instance.viewer"}})); err != nil {
		t.Fatal(err)
	}
	list, err := c.ListInstanceMembers(ctx, as(bobToken, &instancev1.ListInstanceMembersRequest{}))
	if err != nil || len(list.Msg.GetMembers()) != 2 {
		t.Fatalf("viewer lists members: %v %v", list, err)
	}
	// A viewer cannot promote itself.
	if _, err := c.AddInstanceMember(ctx, as(bobToken, &instancev1.AddInstanceMemberRequest{UserId: bob, Roles: []string{"instance.owner"}})); code(err) != connect.CodePermissionDenied {
		t.Fatalf("self-promotion: %v", err)
	}
	// The last owner stays.
	if _, err := c.RemoveInstanceMember(ctx, as(env.AdminToken, &instancev1.RemoveInstanceMemberRequest{UserId: env.AdminID})); code(err) != connect.CodeFailedPrecondition {
		t.Fatalf("removing the last owner: %v", err)
	}
	if _, err := c.AddInstanceMember(ctx, as(env.AdminToken, &instancev1.AddInstanceMemberRequest{UserId: env.AdminID, Roles: []string{"instance.viewer"}})); code(err) != connect.CodeFailedPrecondition {
		t.Fatalf("demoting the last owner: %v", err)
	}
	if _, err := c.AddInstanceMember(ctx, as(env.AdminToken, &instancev1.AddInstanceMemberRequest{UserId: bob, Roles: []string{"instance.owner"}})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RemoveInstanceMember(ctx, as(bobToken, &instancev1.RemoveInstanceMemberRequest{UserId: env.AdminID})); err != nil {
		t.Fatalf("a second owner removes the first: %v", err)
	}
	list, _ = c.ListInstanceMembers(ctx, as(bobToken, &instancev1.ListInstanceMembersRequest{}))
	if len(list.Msg.GetMembers()) != 1 || list.Msg.GetMembers()[0].GetUserId() != bob {
		t.Fatalf("members: %v", list.Msg)
	}
	if _, err := c.ListInstanceMembers(ctx, as(env.AdminToken, &instancev1.ListInstanceMembersRequest{})); code(err) != connect.CodePermissionDenied {
		t.Fatalf("a removed owner keeps its rights: %v", err)
	}
	if _, err := c.RemoveInstanceMember(ctx, as(bobToken, &instancev1.RemoveInstanceMemberRequest{UserId: env.AdminID})); code(err) != connect.CodeNotFound {
		t.Fatalf("removing a non-member: %v", err)
	}
}
