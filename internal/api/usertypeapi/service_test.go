package usertypeapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/types/known/structpb"

	usertypev1 "github.com/castellan-iam/castellan/gen/castellan/usertype/v1"
	"github.com/castellan-iam/castellan/gen/castellan/usertype/v1/usertypev1connect"
	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/api/usertypeapi"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/user"
)

var ctx = context.Background()

// employee is a custom user type: an employee number unique per
// organization, a band only administrators set, a nickname the user sets.
const employee = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "permission": {"self": "r", "admin": "rw"},
  "authenticators": ["password", "passkey"],
  "additionalProperties": false,
  "required": ["employee_id"],
  "properties": {
    "employee_id": {"type": "string", "pattern": "^E[0-9]{4}$", "unique": "org"},
    "band": {"type": "integer", "minimum": 1, "maximum": 9, "samlAttribute": "urn:example:band"},
    "nickname": {"type": "string", "maxLength": 50, "oidcClaim": "nickname", "permission": {"self": "rw", "admin": "rw"}}
  }
}`

// employeeV2 adds a badge number unique in the instance.
const employeeV2 = `{
  "type": "object",
  "permission": {"self": "r", "admin": "rw"},
  "authenticators": ["password", "passkey"],
  "additionalProperties": false,
  "required": ["employee_id"],
  "properties": {
    "employee_id": {"type": "string", "pattern": "^E[0-9]{4}$", "unique": "org"},
    "band": {"type": "integer", "minimum": 1, "maximum": 9, "samlAttribute": "urn:example:band"},
    "nickname": {"type": "string", "maxLength": 50, "oidcClaim": "nickname", "permission": {"self": "rw", "admin": "rw"}},
    "badge": {"type": "string", "unique": "instance"}
  }
}`

// unreadable has a field neither the user nor an administrator can read.
const unreadable = `{
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "a": {"type": "string", "permission": {"self": "r"}},
    "secret": {"type": "string"}
  }
}`

func start(t *testing.T) (*apitest.Env, usertypev1connect.UserTypeServiceClient) {
	t.Helper()
	env := apitest.Start(t, func(a *app.App, auth *authn.Authenticator) []api.Service {
		return []api.Service{usertypeapi.NewService(a.Store, auth)}
	})
	return env, usertypev1connect.NewUserTypeServiceClient(env.Client, env.URL)
}

// as is a request carrying token as its bearer token; "" sends none.
func as[T any](token string, msg *T) *connect.Request[T] {
	req := connect.NewRequest(msg)
	if token != "" {
		req.Header().Set("Authorization", apitest.Bearer(token))
	}
	return req
}

func structOf(t *testing.T, doc string) *structpb.Struct {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func wantCode(t *testing.T, err error, code connect.Code) *connect.Error {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != code {
		t.Fatalf("got %v, want %s", err, code)
	}
	return ce
}

// fieldViolations are the fields named by the google.rpc.BadRequest
// details of err.
func fieldViolations(t *testing.T, ce *connect.Error) []string {
	t.Helper()
	var fields []string
	for _, d := range ce.Details() {
		v, err := d.Value()
		if err != nil {
			t.Fatal(err)
		}
		if br, ok := v.(*errdetails.BadRequest); ok {
			for _, fv := range br.GetFieldViolations() {
				fields = append(fields, fv.GetField())
			}
		}
	}
	return fields
}

func TestListsTheDefaultTypes(t *testing.T) {
	env, c := start(t)
	resp, err := c.ListUserTypes(ctx, as(env.AdminToken, &usertypev1.ListUserTypesRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ut := range resp.Msg.GetUserTypes() {
		names = append(names, ut.GetName())
		if ut.GetState() != usertypev1.UserTypeState_USER_TYPE_STATE_ACTIVE || ut.GetRevision() != 1 || ut.GetSchema() == nil || len(ut.GetAuthenticators()) == 0 {
			t.Errorf("%s: %v", ut.GetName(), ut)
		}
	}
	if !slices.Equal(names, []string{"human", "machine"}) {
		t.Fatalf("types %v, want human and machine", names)
	}
	human := resp.Msg.GetUserTypes()[0]
	if human.GetClaims()["/profile/given_name"] != "given_name" || human.GetSamlAttributes()["/profile/given_name"] != "urn:oid:2.5.4.42" {
		t.Fatalf("human claims %v, SAML attributes %v", human.GetClaims(), human.GetSamlAttributes())
	}
}

func TestUserTypeLifecycle(t *testing.T) {
	env, c := start(t)
	admin := env.AdminToken

	created, err := c.CreateUserType(ctx, as(admin, &usertypev1.CreateUserTypeRequest{Name: "employee", Schema: structOf(t, employee)}))
	if err != nil {
		t.Fatal(err)
	}
	id := created.Msg.GetUserTypeId()
	if id == "" || created.Msg.GetRevision() != 1 {
		t.Fatalf("created %v", created.Msg)
	}

	for _, idOrName := range []string{id, "employee"} {
		got, err := c.GetUserType(ctx, as(admin, &usertypev1.GetUserTypeRequest{UserTypeId: idOrName}))
		if err != nil {
			t.Fatalf("get %s: %v", idOrName, err)
		}
		ut := got.Msg.GetUserType()
		if ut.GetId() != id || ut.GetName() != "employee" || ut.GetRevision() != 1 || ut.GetState() != usertypev1.UserTypeState_USER_TYPE_STATE_ACTIVE {
			t.Fatalf("get %s: %v", idOrName, ut)
		}
		if ut.GetClaims()["/nickname"] != "nickname" || len(ut.GetClaims()) != 1 || ut.GetSamlAttributes()["/band"] != "urn:example:band" {
			t.Fatalf("claims %v, SAML attributes %v", ut.GetClaims(), ut.GetSamlAttributes())
		}
		if u := ut.GetUniqueFields(); len(u) != 1 || u[0].GetPointer() != "/employee_id" || u[0].GetScope() != usertypev1.UniqueScope_UNIQUE_SCOPE_ORG {
			t.Fatalf("unique fields %v", u)
		}
		if !slices.Equal(ut.GetAuthenticators(), []string{"password", "passkey"}) {
			t.Fatalf("authenticators %v", ut.GetAuthenticators())
		}
		if max := ut.GetSchema().GetFields()["properties"].GetStructValue().GetFields()["band"].GetStructValue().GetFields()["maximum"].GetNumberValue(); max != 9 {
			t.Fatalf("schema read back with band maximum %v", max)
		}
		if ut.GetCreateTime().AsTime().IsZero() || ut.GetUpdateTime().AsTime().Before(ut.GetCreateTime().AsTime()) {
			t.Fatalf("times %v %v", ut.GetCreateTime(), ut.GetUpdateTime())
		}
	}

	updated, err := c.UpdateUserType(ctx, as(admin, &usertypev1.UpdateUserTypeRequest{UserTypeId: "employee", Schema: structOf(t, employeeV2)}))
	if err != nil {
		t.Fatal(err)
	}
	if updated.Msg.GetRevision() != 2 {
		t.Fatalf("update gave revision %d, want 2", updated.Msg.GetRevision())
	}
	got, err := c.GetUserType(ctx, as(admin, &usertypev1.GetUserTypeRequest{UserTypeId: id}))
	if err != nil {
		t.Fatal(err)
	}
	if ut := got.Msg.GetUserType(); ut.GetRevision() != 2 || len(ut.GetUniqueFields()) != 2 || ut.GetUniqueFields()[0].GetPointer() != "/badge" ||
		ut.GetUniqueFields()[0].GetScope() != usertypev1.UniqueScope_UNIQUE_SCOPE_INSTANCE {
		t.Fatalf("after update: %v", ut)
	}

	for _, tc := range []struct {
		name       string
		traits     string
		violations []*usertypev1.TraitViolation
	}{
		{name: "ok/traits of the latest revision", traits: `{"employee_id": "E0001", "band": 3, "badge": "B-7"}`},
		{name: "fail/every broken trait by pointer", traits: `{"band": 12, "nickname": 7, "shoe_size": 44}`, violations: []*usertypev1.TraitViolation{
			{Pointer: "/band", Message: "must be at most 9"},
			{Pointer: "/employee_id", Message: "is required"},
			{Pointer: "/nickname", Message: "must be string, not number"},
			{Pointer: "/shoe_size", Message: "is not allowed by the schema"},
		}},
		{name: "fail/no traits miss the required ones", violations: []*usertypev1.TraitViolation{{Pointer: "/employee_id", Message: "is required"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &usertypev1.ValidateTraitsRequest{UserTypeId: id}
			if tc.traits != "" {
				req.Traits = structOf(t, tc.traits)
			}
			resp, err := c.ValidateTraits(ctx, as(admin, req))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Msg.GetValid() != (tc.violations == nil) || resp.Msg.GetRevision() != 2 {
				t.Fatalf("valid %v at revision %d", resp.Msg.GetValid(), resp.Msg.GetRevision())
			}
			var got []string
			for _, v := range resp.Msg.GetViolations() {
				got = append(got, v.GetPointer()+": "+v.GetMessage())
			}
			var want []string
			for _, v := range tc.violations {
				want = append(want, v.GetPointer()+": "+v.GetMessage())
			}
			if !slices.Equal(got, want) {
				t.Fatalf("violations\n got %q\nwant %q", got, want)
			}
		})
	}

	if _, err := c.DeactivateUserType(ctx, as(admin, &usertypev1.DeactivateUserTypeRequest{UserTypeId: id})); err != nil {
		t.Fatal(err)
	}
	got, err = c.GetUserType(ctx, as(admin, &usertypev1.GetUserTypeRequest{UserTypeId: id}))
	if err != nil || got.Msg.GetUserType().GetState() != usertypev1.UserTypeState_USER_TYPE_STATE_INACTIVE {
		t.Fatalf("after deactivation: %v %v", got, err)
	}
	_, err = c.DeactivateUserType(ctx, as(admin, &usertypev1.DeactivateUserTypeRequest{UserTypeId: id}))
	wantCode(t, err, connect.CodeFailedPrecondition)
	if _, err := c.ReactivateUserType(ctx, as(admin, &usertypev1.ReactivateUserTypeRequest{UserTypeId: "employee"})); err != nil {
		t.Fatal(err)
	}
	got, err = c.GetUserType(ctx, as(admin, &usertypev1.GetUserTypeRequest{UserTypeId: id}))
	if err != nil || got.Msg.GetUserType().GetState() != usertypev1.UserTypeState_USER_TYPE_STATE_ACTIVE {
		t.Fatalf("after reactivation: %v %v", got, err)
	}

	if _, err := c.DeleteUserType(ctx, as(admin, &usertypev1.DeleteUserTypeRequest{UserTypeId: id})); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetUserType(ctx, as(admin, &usertypev1.GetUserTypeRequest{UserTypeId: id}))
	wantCode(t, err, connect.CodeNotFound)
	_, err = c.GetUserType(ctx, as(admin, &usertypev1.GetUserTypeRequest{UserTypeId: "employee"}))
	wantCode(t, err, connect.CodeNotFound)
	// The name is free again.
	if _, err := c.CreateUserType(ctx, as(admin, &usertypev1.CreateUserTypeRequest{Name: "employee", Schema: structOf(t, employee)})); err != nil {
		t.Fatalf("name not freed by the deletion: %v", err)
	}

	// The administrator is a human, so human cannot go.
	_, err = c.DeleteUserType(ctx, as(admin, &usertypev1.DeleteUserTypeRequest{UserTypeId: "human"}))
	wantCode(t, err, connect.CodeFailedPrecondition)
}

func TestRequestsThatFail(t *testing.T) {
	env, c := start(t)
	if _, err := c.CreateUserType(ctx, as(env.AdminToken, &usertypev1.CreateUserTypeRequest{Name: "employee", Schema: structOf(t, employee)})); err != nil {
		t.Fatal(err)
	}
	users := user.NewCommands(env.App.Store, env.App.Hasher)
	viewerID, err := users.Create(ctx, eventstore.SystemEditor, env.InstanceID, user.New{OrgID: env.OrgID, Type: "human", LoginName: "viewer", Password: "viewer-password-1"})
	if err != nil {
		t.Fatal(err)
	}
	env.GrantOrg(t, env.OrgID, viewerID, "org.viewer")
	viewer := env.Token(t, viewerID, env.OrgID)

	for _, tc := range []struct {
		name    string
		call    func() error
		code    connect.Code
		field   string // the field the error names, if any
		message string // a part of the error's message
	}{
		{
			name: "fail/schema with a field nobody can read",
			call: func() error {
				_, err := c.CreateUserType(ctx, as(env.AdminToken, &usertypev1.CreateUserTypeRequest{Name: "secretive", Schema: structOf(t, unreadable)}))
				return err
			},
			code: connect.CodeInvalidArgument, field: "/properties/secret", message: "can be read by neither self nor admin",
		},
		{
			name: "fail/update to a schema with a field nobody can read",
			call: func() error {
				_, err := c.UpdateUserType(ctx, as(env.AdminToken, &usertypev1.UpdateUserTypeRequest{UserTypeId: "employee", Schema: structOf(t, unreadable)}))
				return err
			},
			code: connect.CodeInvalidArgument, field: "/properties/secret", message: "can be read by neither self nor admin",
		},
		{
			name: "fail/no schema",
			call: func() error {
				_, err := c.CreateUserType(ctx, as(env.AdminToken, &usertypev1.CreateUserTypeRequest{Name: "empty"}))
				return err
			},
			code: connect.CodeInvalidArgument, field: "schema",
		},
		{
			name: "fail/name in capitals",
			call: func() error {
				_, err := c.CreateUserType(ctx, as(env.AdminToken, &usertypev1.CreateUserTypeRequest{Name: "Contractor", Schema: structOf(t, employee)}))
				return err
			},
			code: connect.CodeInvalidArgument, field: "name",
		},
		{
			name: "fail/duplicate name",
			call: func() error {
				_, err := c.CreateUserType(ctx, as(env.AdminToken, &usertypev1.CreateUserTypeRequest{Name: "employee", Schema: structOf(t, employee)}))
				return err
			},
			code: connect.CodeAlreadyExists, field: "name", message: "already taken",
		},
		{
			name: "fail/unknown type",
			call: func() error {
				_, err := c.GetUserType(ctx, as(env.AdminToken, &usertypev1.GetUserTypeRequest{UserTypeId: "robot"}))
				return err
			},
			code: connect.CodeNotFound,
		},
		{
			name: "fail/validate against an unknown type",
			call: func() error {
				_, err := c.ValidateTraits(ctx, as(env.AdminToken, &usertypev1.ValidateTraitsRequest{UserTypeId: "robot"}))
				return err
			},
			code: connect.CodeNotFound,
		},
		{
			name: "fail/no token",
			call: func() error {
				_, err := c.ListUserTypes(ctx, as("", &usertypev1.ListUserTypesRequest{}))
				return err
			},
			code: connect.CodeUnauthenticated,
		},
		{
			name: "fail/unknown token",
			call: func() error {
				_, err := c.GetUserType(ctx, as("not-a-token", &usertypev1.GetUserTypeRequest{UserTypeId: "human"}))
				return err
			},
			code: connect.CodeUnauthenticated,
		},
		{
			name: "fail/organization viewer cannot create",
			call: func() error {
				_, err := c.CreateUserType(ctx, as(viewer, &usertypev1.CreateUserTypeRequest{Name: "contractor", Schema: structOf(t, employee)}))
				return err
			},
			code: connect.CodePermissionDenied, message: "schema.write",
		},
		{
			name: "fail/organization viewer cannot delete",
			call: func() error {
				_, err := c.DeleteUserType(ctx, as(viewer, &usertypev1.DeleteUserTypeRequest{UserTypeId: "employee"}))
				return err
			},
			code: connect.CodePermissionDenied, message: "schema.write",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ce := wantCode(t, tc.call(), tc.code)
			if tc.field != "" {
				if !strings.HasPrefix(ce.Message(), tc.field+": ") || !slices.Contains(fieldViolations(t, ce), tc.field) {
					t.Fatalf("error does not name %s: %q, field violations %v", tc.field, ce.Message(), fieldViolations(t, ce))
				}
			}
			if !strings.Contains(ce.Message(), tc.message) {
				t.Fatalf("message %q does not say %q", ce.Message(), tc.message)
			}
		})
	}
}

// TestREST drives the REST paths with plain net/http and JSON, as a client
// without generated code does.
func TestREST(t *testing.T) {
	env, _ := start(t)
	do := func(method, path, token, body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, env.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", apitest.Bearer(token))
		}
		resp, err := env.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
		}
		return resp.StatusCode, out
	}

	status, body := do(http.MethodPost, "/v1/user_types", env.AdminToken, `{"name": "employee", "schema": `+employee+`}`)
	if status != http.StatusOK || body["userTypeId"] == "" || body["revision"] != 1.0 {
		t.Fatalf("create: %d %v", status, body)
	}

	status, body = do(http.MethodGet, "/v1/user_types/employee", env.AdminToken, "")
	ut, _ := body["userType"].(map[string]any)
	if status != http.StatusOK || ut["name"] != "employee" || ut["state"] != "USER_TYPE_STATE_ACTIVE" || ut["revision"] != 1.0 {
		t.Fatalf("get: %d %v", status, body)
	}
	if uf, _ := ut["uniqueFields"].([]any); len(uf) != 1 || uf[0].(map[string]any)["scope"] != "UNIQUE_SCOPE_ORG" {
		t.Fatalf("unique fields: %v", ut["uniqueFields"])
	}

	status, body = do(http.MethodPut, "/v1/user_types/employee", env.AdminToken, `{"schema": `+employeeV2+`}`)
	if status != http.StatusOK || body["revision"] != 2.0 {
		t.Fatalf("update: %d %v", status, body)
	}

	status, body = do(http.MethodPost, "/v1/user_types/employee:validate", env.AdminToken, `{"traits": {"employee_id": "E12", "band": 0}}`)
	want := map[string]any{"valid": false, "revision": 2.0, "violations": []any{
		map[string]any{"pointer": "/band", "message": "must be at least 1"},
		map[string]any{"pointer": "/employee_id", "message": "must match the pattern ^E[0-9]{4}$"},
	}}
	if status != http.StatusOK || !jsonEqual(body, want) {
		t.Fatalf("validate: %d %v", status, body)
	}

	status, body = do(http.MethodPost, "/v1/user_types", env.AdminToken, `{"name": "secretive", "schema": `+unreadable+`}`)
	if status != http.StatusBadRequest || !strings.HasPrefix(body["message"].(string), "/properties/secret: ") {
		t.Fatalf("invalid schema: %d %v", status, body)
	}

	for _, path := range []string{"/v1/user_types/employee:deactivate", "/v1/user_types/employee:reactivate"} {
		if status, body := do(http.MethodPost, path, env.AdminToken, `{}`); status != http.StatusOK {
			t.Fatalf("%s: %d %v", path, status, body)
		}
	}
	if status, body := do(http.MethodDelete, "/v1/user_types/employee", env.AdminToken, ""); status != http.StatusOK {
		t.Fatalf("delete: %d %v", status, body)
	}
	if status, body := do(http.MethodGet, "/v1/user_types/employee", env.AdminToken, ""); status != http.StatusNotFound {
		t.Fatalf("get after delete: %d %v", status, body)
	}
	if status, body := do(http.MethodGet, "/v1/user_types", "", ""); status != http.StatusUnauthorized {
		t.Fatalf("list without a token: %d %v", status, body)
	}
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
