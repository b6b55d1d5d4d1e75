package userapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	"github.com/castellan-iam/castellan/internal/api/apitest"
)

// TestTraitsReadAlikeInEveryEncoding reads users' traits back in every
// protocol and encoding: binary responses carry them as wire bytes written
// from the stored JSON (jsonstruct.AppendField), JSON ones as a Struct, and
// each must give the traits the user was created with — long values
// (lengths of two bytes), several fields, and none.
func TestTraitsReadAlikeInEveryEncoding(t *testing.T) {
	env := start(t)
	long := strings.Repeat("é", 150) // 300 bytes
	want := traits(t, map[string]any{"profile": map[string]any{
		"given_name": "Ada", "family_name": long, "nick_name": "Countess", "gender": "female", "avatar_url": "https://example.com/" + strings.Repeat("a", 120),
	}})
	ids := map[string]*structpb.Struct{}
	for _, u := range []struct {
		login  string
		traits *structpb.Struct
	}{{"ada", want}, {"bare", nil}, {"short", traits(t, map[string]any{"profile": map[string]any{"given_name": "S"}})}} {
		created, err := client(env).CreateUser(ctx, as(env.AdminToken, &userv1.CreateUserRequest{
			OrganizationId: env.OrgID, Type: "human", LoginName: u.login, Traits: u.traits}))
		if err != nil {
			t.Fatal(err)
		}
		if u.traits == nil {
			u.traits = &structpb.Struct{}
		}
		ids[created.Msg.GetUserId()] = u.traits
	}
	check := func(how string, users []*userv1.User) {
		t.Helper()
		seen := 0
		for _, u := range users {
			w, ok := ids[u.GetId()]
			if !ok {
				continue
			}
			seen++
			if got := u.GetTraits(); !proto.Equal(got, w) {
				t.Errorf("%s: traits of %s = %v, want %v", how, u.GetLoginName(), got, w)
			}
		}
		if seen == 0 {
			t.Errorf("%s: none of the users", how)
		}
	}
	for how, opts := range map[string][]connect.ClientOption{
		"connect proto": nil, "connect json": {connect.WithProtoJSON()}, "connect GET": {connect.WithHTTPGet()},
		"grpc": {connect.WithGRPC()}, "grpc-web": {connect.WithGRPCWeb()}, "grpc json": {connect.WithGRPC(), connect.WithProtoJSON()},
	} {
		c := client(env, opts...)
		page, err := c.SearchUsers(ctx, as(env.AdminToken, &userv1.SearchUsersRequest{}))
		if err != nil {
			t.Fatalf("%s: %v", how, err)
		}
		check(how+" search", page.Msg.GetUsers())
		for id := range ids {
			got, err := c.GetUser(ctx, as(env.AdminToken, &userv1.GetUserRequest{UserId: id}))
			if err != nil {
				t.Fatalf("%s: %v", how, err)
			}
			check(how+" get", []*userv1.User{got.Msg.GetUser()})
		}
	}

	// REST: the transcoder calls the service in binary and writes JSON.
	rest := func(method, path string, body []byte, into proto.Message) {
		t.Helper()
		req, _ := http.NewRequest(method, env.URL+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", apitest.Bearer(env.AdminToken))
		var raw json.RawMessage
		restCall(t, env, req, &raw)
		if err := protojson.Unmarshal(raw, into); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	var page userv1.SearchUsersResponse
	rest(http.MethodPost, "/v1/users:search", []byte(`{}`), &page)
	check("REST search", page.GetUsers())
	for id := range ids {
		var got userv1.GetUserResponse
		rest(http.MethodGet, "/v1/users/"+id, nil, &got)
		check("REST get", []*userv1.User{got.GetUser()})
	}
}
