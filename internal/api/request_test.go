package api

import (
	"bytes"
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/structpb"

	orgv1 "github.com/castellan-iam/castellan/gen/castellan/org/v1"
	"github.com/castellan-iam/castellan/gen/castellan/org/v1/orgv1connect"
	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	"github.com/castellan-iam/castellan/gen/castellan/user/v1/userv1connect"
	usertypev1 "github.com/castellan-iam/castellan/gen/castellan/usertype/v1"
	"github.com/castellan-iam/castellan/internal/failure"
)

// fakeUsers answers a few user RPCs and counts the calls that reached it.
type fakeUsers struct {
	userv1connect.UnimplementedUserServiceHandler
	calls atomic.Int32
}

func (f *fakeUsers) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return userv1connect.NewUserServiceHandler(f, opts...)
}

func (f *fakeUsers) AddPersonalAccessToken(_ context.Context, req *connect.Request[userv1.AddPersonalAccessTokenRequest]) (*connect.Response[userv1.AddPersonalAccessTokenResponse], error) {
	f.calls.Add(1)
	return connect.NewResponse(&userv1.AddPersonalAccessTokenResponse{TokenId: req.Msg.GetUserId()}), nil
}

func (f *fakeUsers) GetUser(context.Context, *connect.Request[userv1.GetUserRequest]) (*connect.Response[userv1.GetUserResponse], error) {
	f.calls.Add(1)
	return connect.NewResponse(&userv1.GetUserResponse{}), nil
}

func (f *fakeUsers) CreateUser(context.Context, *connect.Request[userv1.CreateUserRequest]) (*connect.Response[userv1.CreateUserResponse], error) {
	f.calls.Add(1)
	return connect.NewResponse(&userv1.CreateUserResponse{}), nil
}

func (f *fakeUsers) ImportUsers(context.Context, *connect.Request[userv1.ImportUsersRequest]) (*connect.Response[userv1.ImportUsersResponse], error) {
	f.calls.Add(1)
	return connect.NewResponse(&userv1.ImportUsersResponse{}), nil
}

// fakeOrgs lists nothing and fails creations with err.
type fakeOrgs struct {
	orgv1connect.UnimplementedOrganizationServiceHandler
	calls atomic.Int32
	err   error
}

func (f *fakeOrgs) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return orgv1connect.NewOrganizationServiceHandler(f, opts...)
}

func (f *fakeOrgs) ListOrganizations(context.Context, *connect.Request[orgv1.ListOrganizationsRequest]) (*connect.Response[orgv1.ListOrganizationsResponse], error) {
	f.calls.Add(1)
	return connect.NewResponse(&orgv1.ListOrganizationsResponse{}), nil
}

func (f *fakeOrgs) CreateOrganization(context.Context, *connect.Request[orgv1.CreateOrganizationRequest]) (*connect.Response[orgv1.CreateOrganizationResponse], error) {
	f.calls.Add(1)
	if f.err != nil {
		return nil, f.err
	}
	return connect.NewResponse(&orgv1.CreateOrganizationResponse{OrganizationId: "o1"}), nil
}

// answer is a response as a plain HTTP client sees it.
type answer struct {
	status int
	header http.Header
	body   string
}

// send sends one request to ts as host a.test. A negative contentLength
// sends the body chunked, without Content-Length.
func send(t *testing.T, ts *httptest.Server, method, path, contentType string, body []byte, contentLength int64) answer {
	t.Helper()
	req, err := http.NewRequest(method, "http://a.test"+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.ContentLength = contentLength
	if contentLength < 0 {
		req.Body = io.NopCloser(bytes.NewReader(body)) // unknown length: chunked
	}
	resp, err := client(ts, false).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// internals are words that tell of Go types, protobuf names or the
// libraries underneath, none of which a caller should read.
var internals = []string{"proto:", "userv1", "orgv1", "castellan.user.v1", "castellan.org.v1", "google.protobuf", "unmarshal into", "*"}

// A malformed request answers 400 naming the field by its JSON name, on
// REST (with path parameters and query strings) and on Connect, and never
// reaches the service.
func TestMalformedRequestsAre400NamingTheField(t *testing.T) {
	users, orgs := &fakeUsers{}, &fakeOrgs{}
	ts := startServer(t, slog.New(slog.DiscardHandler), users, orgs)
	const (
		tokens  = "/v1/users/u1/tokens"
		connPAT = "/castellan.user.v1.UserService/AddPersonalAccessToken"
		json    = "application/json"
	)
	invalidUTF8 := string([]byte{'"', 'u', 0xff, 0xfe, '"'})
	for _, tc := range []struct {
		name, method, path, contentType, body string
		field, message                        string // field "" for none
	}{
		{"fail/REST bad timestamp", "POST", tokens, json, `{"expireTime": "yesterday"}`, "expireTime", "must be a timestamp in RFC 3339 format"},
		{"fail/REST timestamp of the wrong type", "POST", tokens, json, `{"expireTime": 5}`, "expireTime", "must be a timestamp"},
		{"fail/REST malformed JSON", "POST", tokens, json, `{"expireTime":`, "", "the request body is not valid JSON"},
		{"fail/REST body that is not an object", "POST", tokens, json, `[1, 2]`, "", "the request body must be a JSON object"},
		{"fail/REST unknown field", "POST", tokens, json, `{"expireTimee": "2030-01-01T00:00:00Z"}`, "expireTimee", "unknown field"},
		{"fail/REST field given twice", "POST", tokens, json, `{"expireTime": "2030-01-01T00:00:00Z", "expire_time": "2031-01-01T00:00:00Z"}`, "expireTime", "more than once"},
		{"fail/REST invalid UTF-8 in a string", "POST", "/v1/users", json, `{"loginName": ` + invalidUTF8 + `}`, "loginName", "valid UTF-8"},
		{"fail/REST traits that are not an object", "POST", "/v1/users", json, `{"traits": [1]}`, "traits", "must be a JSON object"},
		{"fail/REST nested unknown field", "POST", "/v1/users:import", json, `{"users": [{"loginName": "a"}, {"loginNmae": "b"}]}`, "users[1].loginNmae", "unknown field"},
		{"fail/REST nested bad value", "POST", "/v1/users:import", json, `{"users": [{"emailVerified": "yes"}]}`, "users[0].emailVerified", "must be true or false"},
		{"fail/REST page size of the wrong type", "POST", "/v1/users:search", json, `{"pageSize": "abc"}`, "pageSize", "must be a whole number"},
		{"fail/REST enum value unknown", "POST", "/v1/users:search", json, `{"state": "SLEEPING"}`, "state", "must be one of USER_STATE_UNSPECIFIED"},
		{"fail/REST invalid UTF-8 in the path", "GET", "/v1/users/%ff%fe", "", "", "userId", "valid UTF-8"},
		{"fail/REST invalid UTF-8 in a path with a verb", "POST", "/v1/users/%ff:lock", json, `{}`, "userId", "valid UTF-8"},
		{"fail/REST body on a method without one", "GET", "/v1/users/u1", json, `{"x": 1}`, "", "takes no request body"},
		{"fail/REST query value of the wrong type", "GET", "/v1/organizations?pageSize=abc", "", "", "pageSize", "must be a whole number"},
		{"fail/REST query value by proto name", "GET", "/v1/organizations?page_size=1e99", "", "", "pageSize", "must be a whole number"},
		{"fail/REST unknown query parameter", "GET", "/v1/organizations?bogus=1", "", "", "bogus", "unknown query parameter"},
		{"fail/REST query parameter twice", "GET", "/v1/organizations?pageSize=1&pageSize=2", "", "", "pageSize", "more than once"},
		{"fail/REST query enum unknown", "GET", "/v1/organizations?state=NOPE", "", "", "state", "must be one of"},
		{"fail/REST invalid UTF-8 in the query", "GET", "/v1/organizations?namePrefix=%ff", "", "", "namePrefix", "valid UTF-8"},
		{"fail/Connect bad timestamp", "POST", connPAT, json, `{"userId": "u1", "expireTime": "yesterday"}`, "expireTime", "must be a timestamp"},
		{"fail/Connect unknown field", "POST", connPAT, json, `{"userId": "u1", "bogus": 1}`, "bogus", "unknown field"},
		{"fail/Connect unknown field, JSON with charset", "POST", connPAT, "application/json; charset=utf-8", `{"userId": "u1", "bogus": 1}`, "bogus", "unknown field"},
		{"fail/Connect malformed JSON", "POST", connPAT, json, `{"userId": `, "", "not valid JSON"},
		{"fail/Connect invalid UTF-8", "POST", connPAT, json, `{"userId": ` + invalidUTF8 + `}`, "userId", "valid UTF-8"},
		{"fail/Connect binary invalid UTF-8", "POST", connPAT, "application/proto",
			string(protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "u\xff")), "userId", "valid UTF-8"},
		{"fail/Connect binary cut short", "POST", connPAT, "application/proto", "\x0a\x10u1", "", "not a valid protobuf message"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := users.calls.Load() + orgs.calls.Load()
			a := send(t, ts, tc.method, tc.path, tc.contentType, []byte(tc.body), int64(len(tc.body)))
			if a.status != http.StatusBadRequest || !strings.Contains(a.body, tc.message) {
				t.Fatalf("%d %s", a.status, a.body)
			}
			if tc.field != "" && !strings.Contains(a.body, tc.field+": ") {
				t.Fatalf("the message does not start with the field %s: %s", tc.field, a.body)
			}
			if strings.HasPrefix(tc.path, "/v1/") && tc.field != "" && !strings.Contains(a.body, `"field":"`+tc.field+`"`) {
				t.Fatalf("no field violation for %s: %s", tc.field, a.body)
			}
			for _, word := range internals {
				if strings.Contains(a.body, word) {
					t.Fatalf("the answer tells of %q: %s", word, a.body)
				}
			}
			if users.calls.Load()+orgs.calls.Load() != before {
				t.Fatal("the service was called")
			}
		})
	}
	t.Run("ok/well-formed requests pass", func(t *testing.T) {
		for _, r := range []struct{ method, path, body string }{
			{"POST", tokens, `{"expireTime": "2030-01-01T00:00:00Z"}`},
			{"POST", tokens, `{"expire_time": "2030-01-01T00:00:00Z"}`},
			{"GET", "/v1/users/u%C3%A9", ""},
			{"GET", "/v1/organizations?pageSize=10&page_token=x&state=ORGANIZATION_STATE_ACTIVE&namePrefix=%C3%A9", ""},
			{"POST", "/v1/users", `{"traits": {"profile": {"name": "é"}}}`},
			{"POST", connPAT, `{"userId": "u1", "expireTime": "2030-01-01T00:00:00Z"}`},
		} {
			if a := send(t, ts, r.method, r.path, json, []byte(r.body), int64(len(r.body))); a.status != http.StatusOK {
				t.Errorf("%s %s: %d %s", r.method, r.path, a.status, a.body)
			}
		}
	})
}

// U+0000 in any string of a request is refused with 400 naming the field,
// in every protocol, before the service (and the database) sees it.
func TestNULInAnyStringIsRefused(t *testing.T) {
	users := &fakeUsers{}
	ts := startServer(t, slog.New(slog.DiscardHandler), users)
	traits := `{"profile": {"name": "a\u0000b"}}`
	for _, tc := range []struct {
		name, method, path, contentType, body, field string
	}{
		{"fail/REST path parameter", "POST", "/v1/users/u%00/tokens", "application/json", `{"expireTime": "2030-01-01T00:00:00Z"}`, "userId"},
		{"fail/REST body field", "POST", "/v1/users", "application/json", `{"loginName": "a\u0000"}`, "loginName"},
		{"fail/REST trait value deep in a Struct", "POST", "/v1/users", "application/json", `{"traits": ` + traits + `}`, "traits/profile/name"},
		{"fail/REST trait key", "POST", "/v1/users", "application/json", `{"traits": {"pro\u0000file": 1}}`, "traits"},
		{"fail/REST trait in a list", "POST", "/v1/users", "application/json", `{"traits": {"tags": ["x", "y\u0000"]}}`, "traits/tags/1"},
		{"fail/REST list element", "POST", "/v1/users:import", "application/json", `{"users": [{"loginName": "a"}, {"loginName": "b\u0000"}]}`, "users[1].loginName"},
		{"fail/Connect field", "POST", "/castellan.user.v1.UserService/AddPersonalAccessToken", "application/json", `{"userId": "\u0000"}`, "userId"},
		{"fail/Connect GET", "GET", "/castellan.user.v1.UserService/GetUser?connect=v1&encoding=json&message=" + "%7B%22userId%22%3A%22%5Cu0000%22%7D", "", "", "userId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := users.calls.Load()
			a := send(t, ts, tc.method, tc.path, tc.contentType, []byte(tc.body), int64(len(tc.body)))
			if a.status != http.StatusBadRequest || !strings.Contains(a.body, tc.field+": must not contain the character U+0000") &&
				!strings.Contains(a.body, tc.field+": has a key that must not contain the character U+0000") {
				t.Fatalf("%d %s", a.status, a.body)
			}
			if users.calls.Load() != before {
				t.Fatal("the service was called")
			}
		})
	}
	t.Run("fail/gRPC", func(t *testing.T) {
		c := userv1connect.NewUserServiceClient(client(ts, true), "http://a.test", connect.WithGRPC())
		_, err := c.CreateUser(context.Background(), connect.NewRequest(&userv1.CreateUserRequest{LoginName: "x\x00"}))
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "loginName: must not contain") {
			t.Fatalf("%v", err)
		}
	})
}

func TestFindNULNamesMapKeysAndValues(t *testing.T) {
	schema, err := structpb.NewStruct(map[string]any{"properties": map[string]any{"a/b": map[string]any{"title": "x\x00"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		msg   *usertypev1.UserType
		field string
	}{
		{"fail/map value", &usertypev1.UserType{Claims: map[string]string{"/a": "given\x00name"}}, `claims["/a"]`},
		{"fail/map key", &usertypev1.UserType{SamlAttributes: map[string]string{"/a\x00": "x"}}, "samlAttributes"},
		{"fail/list", &usertypev1.UserType{Authenticators: []string{"password", "pa\x00sskey"}}, "authenticators[1]"},
		{"fail/Struct with a pointer token that needs escaping", &usertypev1.UserType{Schema: schema}, "schema/properties/a~1b/title"},
		{"ok/none", &usertypev1.UserType{Name: "employee", Claims: map[string]string{"/a": "b"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := findNUL(tc.msg.ProtoReflect(), "")
			if (f == nil) != (tc.field == "") || f != nil && (f.Field != tc.field || f.Kind != failure.KindInvalidArgument) {
				t.Fatalf("got %+v, want field %q", f, tc.field)
			}
		})
	}
}

// A body over the limit is 413 Content Too Large on REST and Connect,
// whether its length is announced or not; gRPC reports resource_exhausted
// in its own status; a rate limit keeps 429.
func TestBodyOverTheLimitIs413(t *testing.T) {
	orgs := &fakeOrgs{}
	ts := startServer(t, slog.New(slog.DiscardHandler), orgs)
	big := []byte(`{"name": "` + strings.Repeat("a", maxMessageBytes) + `"}`)
	for _, tc := range []struct {
		name, path, want string
		length           int64
	}{
		{"fail/REST with Content-Length", "/v1/organizations", `"code":8`, int64(len(big))},
		{"fail/REST chunked", "/v1/organizations", `"code":8`, -1},
		{"fail/Connect with Content-Length", "/castellan.org.v1.OrganizationService/CreateOrganization", `"code":"resource_exhausted"`, int64(len(big))},
		{"fail/Connect chunked", "/castellan.org.v1.OrganizationService/CreateOrganization", `"code":"resource_exhausted"`, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := send(t, ts, "POST", tc.path, "application/json", big, tc.length)
			if a.status != http.StatusRequestEntityTooLarge || !strings.Contains(a.body, tc.want) || !strings.Contains(a.body, "larger than") {
				t.Fatalf("%d %.300s", a.status, a.body)
			}
		})
	}
	if orgs.calls.Load() != 0 {
		t.Fatal("the service was called")
	}
	t.Run("fail/gRPC", func(t *testing.T) {
		c := orgv1connect.NewOrganizationServiceClient(client(ts, true), "http://a.test", connect.WithGRPC())
		_, err := c.CreateOrganization(context.Background(), connect.NewRequest(&orgv1.CreateOrganizationRequest{Name: string(big)}))
		if connect.CodeOf(err) != connect.CodeResourceExhausted {
			t.Fatalf("%v", err)
		}
	})
	t.Run("ok/a rate limit keeps 429", func(t *testing.T) {
		orgs.err = failure.ResourceExhausted("too many requests; slow down")
		defer func() { orgs.err = nil }()
		if a := send(t, ts, "POST", "/v1/organizations", "application/json", []byte(`{"name": "x"}`), 13); a.status != http.StatusTooManyRequests {
			t.Fatalf("%d %s", a.status, a.body)
		}
	})
	t.Run("ok/a body just under the limit", func(t *testing.T) {
		body := []byte(`{"name": "` + strings.Repeat("a", maxMessageBytes-20) + `"}`)
		if a := send(t, ts, "POST", "/v1/organizations", "application/json", body, -1); a.status != http.StatusOK {
			t.Fatalf("%d %.300s", a.status, a.body)
		}
	})
}

// When the database cannot serve, callers get 503 with Retry-After in every
// protocol, and the log gets one line naming the cause.
func TestUnavailableDatabaseIs503WithRetryAfter(t *testing.T) {
	var logs bytes.Buffer
	orgs := &fakeOrgs{err: failure.Internal(fmt.Errorf("eventstore: push: %w", driver.ErrBadConn), "create organization")}
	ts := startServer(t, slog.New(slog.NewTextHandler(&logs, nil)), orgs)
	for _, tc := range []struct{ name, path string }{
		{"REST", "/v1/organizations"},
		{"Connect", "/castellan.org.v1.OrganizationService/CreateOrganization"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			a := send(t, ts, "POST", tc.path, "application/json", []byte(`{"name": "x"}`), 13)
			if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") != "2" || !strings.Contains(a.body, "database is unavailable") ||
				strings.Contains(a.body, "bad connection") {
				t.Fatalf("%d %v %s", a.status, a.header, a.body)
			}
			if n := strings.Count(logs.String(), "bad connection"); n != 1 || !strings.Contains(logs.String(), `msg="database unavailable"`) {
				t.Fatalf("want one log line naming the cause, got:\n%s", logs.String())
			}
		})
	}
	t.Run("gRPC", func(t *testing.T) {
		c := orgv1connect.NewOrganizationServiceClient(client(ts, true), "http://a.test", connect.WithGRPC())
		_, err := c.CreateOrganization(context.Background(), connect.NewRequest(&orgv1.CreateOrganizationRequest{Name: "x"}))
		var ce *connect.Error
		if !errors.As(err, &ce) || ce.Code() != connect.CodeUnavailable || ce.Meta().Get("Retry-After") != "2" {
			t.Fatalf("%v", err)
		}
	})
}

// The diagnosis names the member protojson refuses, whatever the shape.
func TestDiagnoseJSON(t *testing.T) {
	md := (&userv1.ImportUsersRequest{}).ProtoReflect().Descriptor()
	for _, tc := range []struct{ body, field string }{
		{`{"users": {"a": 1}}`, "users"},
		{`{"users": [1]}`, "users[0]"},
		{`{"users": [{"traits": "x"}]}`, "users[0].traits"},
		{`{"users": [{"password_hash": 7}]}`, "users[0].passwordHash"},
		{`{"users": null, "users": []}`, "users"},
	} {
		var v any
		if json.Unmarshal([]byte(tc.body), &v) != nil {
			t.Fatalf("bad test body %s", tc.body)
		}
		if f := diagnoseJSON(md, []byte(tc.body)); f == nil || f.Field != tc.field {
			t.Errorf("%s: got %+v, want field %s", tc.body, f, tc.field)
		}
	}
}
