package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect"

	"github.com/castellan-iam/castellan/client"
	instancev1 "github.com/castellan-iam/castellan/gen/castellan/instance/v1"
	orgv1 "github.com/castellan-iam/castellan/gen/castellan/org/v1"
	systemv1 "github.com/castellan-iam/castellan/gen/castellan/system/v1"
	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	usertypev1 "github.com/castellan-iam/castellan/gen/castellan/usertype/v1"
)

func TestEveryServiceAnswersInEveryProtocol(t *testing.T) {
	ctx := context.Background()
	for _, p := range []client.Protocol{client.ProtocolConnect, client.ProtocolGRPC, client.ProtocolGRPCWeb} {
		t.Run(p.String(), func(t *testing.T) {
			var seen atomic.Value
			c, err := client.New(server.URL, client.WithToken(server.AdminToken), client.WithProtocol(p),
				client.WithClientOptions(connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
					return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
						seen.Store(req.Peer().Protocol)
						return next(ctx, req)
					}
				}))))
			if err != nil {
				t.Fatal(err)
			}
			version, err := c.System.GetVersion(ctx, connect.NewRequest(&systemv1.GetVersionRequest{}))
			if err != nil || version.Msg.GetVersion() != "test" {
				t.Fatalf("system: %v %v", version, err)
			}
			if members, err := c.Instance.ListInstanceMembers(ctx, connect.NewRequest(&instancev1.ListInstanceMembersRequest{})); err != nil || len(members.Msg.GetMembers()) != 1 {
				t.Fatalf("instance: %v %v", members, err)
			}
			if orgs, err := c.Organizations.ListOrganizations(ctx, connect.NewRequest(&orgv1.ListOrganizationsRequest{})); err != nil || len(orgs.Msg.GetOrganizations()) != 1 {
				t.Fatalf("organizations: %v %v", orgs, err)
			}
			if me, err := c.Users.GetMyUser(ctx, connect.NewRequest(&userv1.GetMyUserRequest{})); err != nil || me.Msg.GetUser().GetId() != server.AdminID {
				t.Fatalf("users: %v %v", me, err)
			}
			if types, err := c.UserTypes.ListUserTypes(ctx, connect.NewRequest(&usertypev1.ListUserTypesRequest{})); err != nil || len(types.Msg.GetUserTypes()) < 2 {
				t.Fatalf("user types: %v %v", types, err)
			}
			if got := seen.Load(); got != map[client.Protocol]string{client.ProtocolConnect: connect.ProtocolConnect,
				client.ProtocolGRPC: connect.ProtocolGRPC, client.ProtocolGRPCWeb: connect.ProtocolGRPCWeb}[p] {
				t.Fatalf("spoke %v", got)
			}
		})
	}
}

func TestTheTokenAuthenticatesEveryRequest(t *testing.T) {
	ctx := context.Background()
	req := connect.NewRequest(&userv1.GetMyUserRequest{})

	anonymous, err := client.New(server.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = anonymous.Users.GetMyUser(ctx, req)
	if e, ok := client.AsError(err); !ok || e.Code != connect.CodeUnauthenticated {
		t.Fatalf("without a token: %v", err)
	}

	calls := 0
	renewed, err := client.New(server.URL, client.WithTokenFunc(func(context.Context) (string, error) {
		calls++
		return server.AdminToken, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := renewed.Users.GetMyUser(ctx, connect.NewRequest(&userv1.GetMyUserRequest{})); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 2 {
		t.Fatalf("the token function ran %d times for 2 requests", calls)
	}

	sent := false
	unreachable := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		sent = true
		return nil, errors.New("not to be sent")
	})}
	broken, err := client.New(server.URL, client.WithHTTPClient(unreachable), client.WithTokenFunc(func(context.Context) (string, error) {
		return "", errors.New("the identity provider is down")
	}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = broken.Users.GetMyUser(ctx, connect.NewRequest(&userv1.GetMyUserRequest{}))
	if connect.CodeOf(err) != connect.CodeUnauthenticated || !strings.Contains(err.Error(), "the identity provider is down") || sent {
		t.Fatalf("a failing token function: %v (request sent: %v)", err, sent)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// The server picks the instance by the request's host: 127.0.0.1 is no
// instance's domain, localhost is the first instance's.
func TestWithHostNamesTheInstance(t *testing.T) {
	ctx := context.Background()
	byAddress := strings.Replace(server.URL, "localhost", "127.0.0.1", 1)
	for _, p := range []client.Protocol{client.ProtocolConnect, client.ProtocolGRPC, client.ProtocolGRPCWeb} {
		t.Run(p.String(), func(t *testing.T) {
			plain, err := client.New(byAddress, client.WithProtocol(p))
			if err != nil {
				t.Fatal(err)
			}
			_, err = plain.System.GetInstance(ctx, connect.NewRequest(&systemv1.GetInstanceRequest{}))
			var noInstance *client.NoInstanceError
			if !errors.As(err, &noInstance) || !strings.HasPrefix(noInstance.Host, "127.0.0.1:") || connect.CodeOf(err) != connect.CodeNotFound {
				t.Fatalf("by address: %v", err)
			}
			if e, ok := client.AsError(err); !ok || e.Message != "no instance serves "+noInstance.Host {
				t.Fatalf("by address: %#v", e)
			}
			if plain.Host() != noInstance.Host {
				t.Fatalf("Host() = %q, the error names %q", plain.Host(), noInstance.Host)
			}

			named, err := client.New(byAddress, client.WithProtocol(p), client.WithHost("localhost"))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := named.System.GetInstance(ctx, connect.NewRequest(&systemv1.GetInstanceRequest{}))
			if err != nil || resp.Msg.GetInstance().GetId() != server.InstanceID || named.Host() != "localhost" {
				t.Fatalf("with the host localhost: %v %v", resp, err)
			}
		})
	}
}

// What the server answers before an RPC runs (problem+json) keeps its
// message and meaning; an RPC's own NotFound stays an RPC error.
func TestAnswersBeforeTheRPCKeepTheServersMessage(t *testing.T) {
	ctx := context.Background()
	answer := func(status int, contentType, body string) *client.Client {
		t.Helper()
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", contentType)
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		}))
		t.Cleanup(ts.Close)
		c, err := client.New(ts.URL)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name        string
		status      int
		contentType string
		body        string
		code        connect.Code
		message     string
	}{
		{"problem/database unavailable", 503, "application/problem+json",
			`{"type":"about:blank","title":"unavailable","status":503,"detail":"the database is unavailable; retry in a few seconds"}`,
			connect.CodeUnavailable, "the database is unavailable; retry in a few seconds"},
		{"problem/no route", 404, "application/problem+json",
			`{"type":"about:blank","title":"not found","status":404,"detail":"no route for POST /x"}`, connect.CodeNotFound, "no route for POST /x"},
		{"problem/without a body", 431, "application/problem+json", ``, connect.CodeResourceExhausted, "431 Request Header Fields Too Large"},
		{"rpc/not found", 404, "application/json", `{"code":"not_found","message":"user not found"}`, connect.CodeNotFound, "user not found"},
		{"other/a proxy's page", 404, "text/html", `<h1>Not Found</h1>`, connect.CodeUnimplemented, "404 Not Found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := answer(tc.status, tc.contentType, tc.body).Users.GetUser(ctx, connect.NewRequest(&userv1.GetUserRequest{UserId: "u"}))
			e, ok := client.AsError(err)
			if !ok || e.Code != tc.code || e.Message != tc.message {
				t.Fatalf("got %v, want %v: %s", err, tc.code, tc.message)
			}
			var noInstance *client.NoInstanceError
			if errors.As(err, &noInstance) {
				t.Fatalf("%v is not about the host", err)
			}
			if tc.code == connect.CodeUnavailable && e.Unwrap().(*connect.Error).Meta().Get("Retry-After") != "2" {
				t.Fatal("Retry-After is lost")
			}
		})
	}
}

func TestAsError(t *testing.T) {
	ce := connect.NewError(connect.CodeInvalidArgument, errors.New("loginName: already taken"))
	if e, ok := client.AsError(fmt.Errorf("create: %w", ce)); !ok || e.Code != connect.CodeInvalidArgument || e.Message != "loginName: already taken" ||
		e.Error() != "invalid_argument: loginName: already taken" || len(e.FieldViolations) != 0 {
		t.Fatalf("%#v", e)
	}
	e, _ := client.AsError(ce)
	if again, ok := client.AsError(fmt.Errorf("again: %w", e)); !ok || again != e {
		t.Fatal("an *Error is found as it is")
	}
	if connect.CodeOf(e) != connect.CodeInvalidArgument {
		t.Fatal("connect.CodeOf does not see through *Error")
	}
	for _, err := range []error{nil, errors.New("plain"), context.Canceled} {
		if e, ok := client.AsError(err); ok {
			t.Fatalf("AsError(%v) = %v", err, e)
		}
	}
}

// A real refusal names its field in the message and in a violation.
func TestFieldViolationsOfARealRefusal(t *testing.T) {
	c, err := client.New(server.URL, client.WithToken(server.AdminToken))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.UserTypes.CreateUserType(context.Background(), connect.NewRequest(&usertypev1.CreateUserTypeRequest{Name: ""}))
	e, ok := client.AsError(err)
	if !ok || e.Code != connect.CodeInvalidArgument || len(e.FieldViolations) == 0 || e.FieldViolations[0].Field == "" ||
		!strings.HasPrefix(e.Message, e.FieldViolations[0].Field+": ") {
		t.Fatalf("%v: %#v", err, e)
	}
}

func TestNewRefusesWhatCannotWork(t *testing.T) {
	for _, tc := range []struct {
		url  string
		opts []client.Option
	}{
		{"localhost:8080", nil},
		{"ftp://localhost", nil},
		{"http://", nil},
		{"http://localhost?x=1", nil},
		{"http://localhost", []client.Option{client.WithHost("a b")}},
		{"http://localhost", []client.Option{client.WithProtocol(client.Protocol(9))}},
	} {
		if _, err := client.New(tc.url, tc.opts...); err == nil {
			t.Errorf("New(%q) accepted", tc.url)
		}
	}
	c, err := client.New("https://login.example.com/castellan/")
	if err != nil || c.BaseURL() != "https://login.example.com/castellan" || c.Host() != "login.example.com" {
		t.Fatalf("%v %v", c, err)
	}
}

func TestTheCallersHTTPClientIsLeftAlone(t *testing.T) {
	transport := &http.Transport{}
	hc := &http.Client{Transport: transport}
	c, err := client.New(server.URL, client.WithHTTPClient(hc), client.WithHost("localhost"), client.WithToken(server.AdminToken))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.System.GetVersion(context.Background(), connect.NewRequest(&systemv1.GetVersionRequest{})); err != nil {
		t.Fatal(err)
	}
	if hc.Transport != transport {
		t.Fatal("New replaced the caller's transport")
	}
}
