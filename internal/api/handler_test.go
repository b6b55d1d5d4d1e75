package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"

	systemv1 "github.com/castellan-iam/castellan/gen/castellan/system/v1"
	"github.com/castellan-iam/castellan/gen/castellan/system/v1/systemv1connect"
	"github.com/castellan-iam/castellan/internal/api/system"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/server"
)

type fakeResolver map[string]instance.Instance

func (f fakeResolver) ByHost(_ context.Context, host string) (instance.Instance, error) {
	if inst, ok := f[instance.NormalizeDomain(host)]; ok {
		return inst, nil
	}
	return instance.Instance{}, failure.NotFound("no instance serves the host %q", host)
}

var instances = fakeResolver{
	"a.test": {ID: "inst-a", Name: "A", PrimaryDomain: "a.test"},
	"b.test": {ID: "inst-b", Name: "B", PrimaryDomain: "b.test"},
}

// startServer serves services the way castellan start does: the API handler
// mounted on a server.Server, over HTTP/1.1 and h2c. Clients reach it under
// any host name through dialTo.
func startServer(t *testing.T, log *slog.Logger, services ...Service) *httptest.Server {
	t.Helper()
	srv := server.New(server.Options{
		Logger:   log,
		Resolver: instances,
		Ready:    func(context.Context) error { return nil },
		Metrics:  prometheus.NewRegistry(),
	})
	h, err := NewHandler(log, services...)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range h.Patterns() {
		srv.Handle(p, h)
	}
	ts := httptest.NewUnstartedServer(srv)
	ts.Config.Protocols = new(http.Protocols)
	ts.Config.Protocols.SetHTTP1(true)
	ts.Config.Protocols.SetUnencryptedHTTP2(true)
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

// client returns an HTTP client whose connections all go to ts, whatever
// host a URL names; h2c makes it speak cleartext HTTP/2 (for gRPC).
func client(ts *httptest.Server, h2c bool) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return new(net.Dialer).DialContext(ctx, network, ts.Listener.Addr().String())
		},
	}
	if h2c {
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	return &http.Client{Transport: tr}
}

func TestGetInstanceInEveryProtocol(t *testing.T) {
	ts := startServer(t, slog.New(slog.DiscardHandler), system.New("v1.2.3"))
	rest := func(t *testing.T, host string) (*systemv1.Instance, error) {
		resp, err := client(ts, false).Get("http://" + host + "/v1/instance")
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("%s %s: %s", resp.Status, resp.Header.Get("Content-Type"), b)
		}
		// Plain JSON, as any REST client reads it.
		var body struct {
			Instance struct {
				ID            string `json:"id"`
				Name          string `json:"name"`
				PrimaryDomain string `json:"primaryDomain"`
			} `json:"instance"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return nil, err
		}
		return &systemv1.Instance{Id: body.Instance.ID, Name: body.Instance.Name, PrimaryDomain: body.Instance.PrimaryDomain}, nil
	}
	rpc := func(h2c bool, opts ...connect.ClientOption) func(*testing.T, string) (*systemv1.Instance, error) {
		return func(t *testing.T, host string) (*systemv1.Instance, error) {
			c := systemv1connect.NewSystemServiceClient(client(ts, h2c), "http://"+host, opts...)
			resp, err := c.GetInstance(context.Background(), connect.NewRequest(&systemv1.GetInstanceRequest{}))
			if err != nil {
				return nil, err
			}
			return resp.Msg.GetInstance(), nil
		}
	}
	for _, proto := range []struct {
		name string
		call func(t *testing.T, host string) (*systemv1.Instance, error)
	}{
		{"REST", rest},
		{"Connect JSON", rpc(false, connect.WithProtoJSON())},
		{"Connect GET", rpc(false, connect.WithHTTPGet())},
		{"gRPC over h2c", rpc(true, connect.WithGRPC())},
		{"gRPC-Web", rpc(false, connect.WithGRPCWeb())},
	} {
		for _, host := range []string{"a.test", "B.test:8443"} {
			t.Run(proto.name+"/"+host, func(t *testing.T) {
				got, err := proto.call(t, host)
				if err != nil {
					t.Fatal(err)
				}
				want := instances[instance.NormalizeDomain(host)]
				if got.GetId() != want.ID || got.GetName() != want.Name || got.GetPrimaryDomain() != want.PrimaryDomain {
					t.Fatalf("got %v, want %+v", got, want)
				}
			})
		}
	}
}

func TestGetVersion(t *testing.T) {
	ts := startServer(t, slog.New(slog.DiscardHandler), system.New("v1.2.3"))
	resp, err := client(ts, false).Get("http://a.test/v1/version")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(b)) != `{"version":"v1.2.3"}` {
		t.Fatalf("%s %s", resp.Status, b)
	}
}

func TestPlainHTTPAnswers(t *testing.T) {
	ts := startServer(t, slog.New(slog.DiscardHandler), system.New("v1.2.3"))
	for _, tc := range []struct {
		name, host, method, path string
		status                   int
		contentType, body        string
	}{
		{"fail/unknown host gets the server's problem", "c.test", "GET", "/v1/instance", 404, "application/problem+json", "no instance serves"},
		{"fail/unknown REST path gets a problem", "a.test", "GET", "/v1/nope", 404, "application/problem+json", "no route for GET /v1/nope"},
		{"fail/unknown method", "a.test", "POST", "/castellan.system.v1.SystemService/Nope", 404, "text/plain; charset=utf-8", "404"},
		{"ok/Connect without the protocol header, as curl sends it", "a.test", "POST", "/castellan.system.v1.SystemService/GetInstance", 200, "application/json", `"id":"inst-a"`},
		{"fail/REST path takes only its method", "a.test", "POST", "/v1/instance", 405, "text/plain; charset=utf-8", "Method Not Allowed"},
		{"ok/openapi document", "a.test", "GET", "/openapi.json", 200, "application/json", `"/v1/instance"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, "http://"+tc.host+tc.path, strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			resp, err := client(ts, false).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != tc.contentType || !strings.Contains(string(b), tc.body) {
				t.Fatalf("%s %s: %.300s", resp.Status, resp.Header.Get("Content-Type"), b)
			}
		})
	}
}

func TestOpenAPIDocumentIsValidJSON(t *testing.T) {
	ts := startServer(t, slog.New(slog.DiscardHandler))
	resp, err := client(ts, false).Get("http://a.test/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") || doc.Paths["/v1/instance"]["get"] == nil || doc.Paths["/v1/version"]["get"] == nil {
		t.Fatalf("unexpected document: %+v", doc)
	}
}

// failingSystem answers GetVersion with a fixed error.
type failingSystem struct {
	systemv1connect.UnimplementedSystemServiceHandler
	err error
}

func (f failingSystem) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return systemv1connect.NewSystemServiceHandler(f, opts...)
}

func (f failingSystem) GetVersion(context.Context, *connect.Request[systemv1.GetVersionRequest]) (*connect.Response[systemv1.GetVersionResponse], error) {
	return nil, f.err
}

func TestDomainErrorsReachEveryProtocol(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	t.Run("invalid argument names the field", func(t *testing.T) {
		ts := startServer(t, log, failingSystem{err: failure.InvalidArgument("version", "must be set")})
		for _, opt := range []connect.ClientOption{connect.WithProtoJSON(), connect.WithGRPCWeb()} {
			c := systemv1connect.NewSystemServiceClient(client(ts, false), "http://a.test", opt)
			_, err := c.GetVersion(context.Background(), connect.NewRequest(&systemv1.GetVersionRequest{}))
			ce := new(connect.Error)
			if !errors.As(err, &ce) || ce.Code() != connect.CodeInvalidArgument || ce.Message() != "version: must be set" {
				t.Fatalf("got %v", err)
			}
			if f := fieldViolations(t, ce); len(f) != 1 || f[0] != "version" {
				t.Fatalf("field violations %v", f)
			}
		}
		resp, err := client(ts, false).Get("http://a.test/v1/version")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		// REST callers get a google.rpc.Status body.
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), `"message":"version: must be set"`) ||
			!strings.Contains(string(b), `"field":"version"`) {
			t.Fatalf("%s %s", resp.Status, b)
		}
	})
	t.Run("internal error is logged, not shown", func(t *testing.T) {
		ts := startServer(t, log, failingSystem{err: failure.Internal(errors.New("password=hunter2"), "db down")})
		resp, err := client(ts, false).Get("http://a.test/v1/version")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusInternalServerError || strings.Contains(string(b), "hunter2") || !strings.Contains(string(b), "internal error") {
			t.Fatalf("%s %s", resp.Status, b)
		}
		if !strings.Contains(logs.String(), "GetVersion") || !strings.Contains(logs.String(), "db down") {
			t.Fatalf("log: %s", logs.String())
		}
	})
}

func TestHandlerOutsideTheServerHasNoInstance(t *testing.T) {
	h, err := NewHandler(slog.New(slog.DiscardHandler), system.New("dev"))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/instance", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

func TestPatterns(t *testing.T) {
	h, err := NewHandler(slog.New(slog.DiscardHandler), system.New("dev"))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(h.Patterns(), " ")
	if want := "/castellan.system.v1.SystemService/ /v1/ GET /openapi.json"; got != want {
		t.Fatalf("patterns %q, want %q", got, want)
	}
	if _, err := NewHandler(slog.New(slog.DiscardHandler), system.New("dev"), system.New("dev")); err == nil {
		t.Fatal("a service given twice was accepted")
	}
}

func TestRESTPathsNeedALiteralFirstSegment(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"/v1/instance", "/v1/"},
		{"/v2/users/{user_id}:lock", "/v2/"},
		{"/{name=orgs/*}", ""},
		{"/v1", ""},
		{"/v1:check", ""},
		{"v1/instance", ""},
	} {
		got, err := firstSegmentPattern(tc.path)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("%q: %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}
}

// binarySeer answers GetVersion with whether its request's response is
// binary (BinaryResponse), as a service that writes wire bytes asks.
type binarySeer struct {
	systemv1connect.UnimplementedSystemServiceHandler
}

func (s binarySeer) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return systemv1connect.NewSystemServiceHandler(s, opts...)
}

func (binarySeer) GetVersion(_ context.Context, req *connect.Request[systemv1.GetVersionRequest]) (*connect.Response[systemv1.GetVersionResponse], error) {
	return connect.NewResponse(&systemv1.GetVersionResponse{Version: fmt.Sprint(BinaryResponse(req.Header()))}), nil
}

// TestBinaryResponseInEveryProtocol checks what a service learns of its
// response's encoding in each protocol: binary for gRPC, gRPC-Web, Connect
// proto and REST (the transcoder calls the service in binary and writes
// JSON itself), not for Connect JSON or a Connect GET.
func TestBinaryResponseInEveryProtocol(t *testing.T) {
	ts := startServer(t, slog.New(slog.DiscardHandler), binarySeer{})
	for _, c := range []struct {
		name string
		h2c  bool
		opts []connect.ClientOption
		want string
	}{
		{"Connect proto", false, nil, "true"},
		{"Connect JSON", false, []connect.ClientOption{connect.WithProtoJSON()}, "false"},
		{"Connect GET", false, []connect.ClientOption{connect.WithHTTPGet()}, "false"},
		{"gRPC over h2c", true, []connect.ClientOption{connect.WithGRPC()}, "true"},
		{"gRPC-Web", false, []connect.ClientOption{connect.WithGRPCWeb()}, "true"},
		{"gRPC JSON", true, []connect.ClientOption{connect.WithGRPC(), connect.WithProtoJSON()}, "false"},
	} {
		cl := systemv1connect.NewSystemServiceClient(client(ts, c.h2c), "http://a.test", c.opts...)
		resp, err := cl.GetVersion(context.Background(), connect.NewRequest(&systemv1.GetVersionRequest{}))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := resp.Msg.GetVersion(); got != c.want {
			t.Errorf("%s: binary response %s, want %s", c.name, got, c.want)
		}
	}
	resp, err := client(ts, false).Get("http://a.test/v1/version")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"version":"true"`) {
		t.Fatalf("REST: %s %s", resp.Status, b)
	}
}
