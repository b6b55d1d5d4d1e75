package orgapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	orgv1 "github.com/castellan-iam/castellan/gen/castellan/org/v1"
	"github.com/castellan-iam/castellan/gen/castellan/org/v1/orgv1connect"
	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/api/orgapi"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/org"
)

var ctx = context.Background()

// internet stands in for the DNS and web servers that domain verification
// consults: published TXT records, and challenge files served by a real
// local HTTP server that every domain resolves to.
type internet struct {
	mu    sync.Mutex
	txt   map[string][]string // record name -> values
	files map[string]string   // host + path -> body
}

func (n *internet) publishTXT(name, value string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.txt[name] = append(n.txt[name], value)
}

func (n *internet) publishFile(hostPath, body string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.files[hostPath] = body
}

func newVerifier(t *testing.T) (*org.Verifier, *internet) {
	n := &internet{txt: map[string][]string{}, files: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.mu.Lock()
		body, ok := n.files[r.Host+r.URL.Path]
		n.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	v := org.NewVerifier()
	v.LookupTXT = func(_ context.Context, name string) ([]string, error) {
		n.mu.Lock()
		defer n.mu.Unlock()
		if r, ok := n.txt[name]; ok {
			return r, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	v.HTTPClient.Transport = &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
	}}
	return v, n
}

type fixture struct {
	*apitest.Env
	c   orgv1connect.OrganizationServiceClient
	net *internet
}

func start(t *testing.T) *fixture {
	v, n := newVerifier(t)
	env := apitest.Start(t, func(a *app.App, auth *authn.Authenticator) []api.Service {
		return []api.Service{orgapi.NewService(a.Store, v, auth)}
	})
	return &fixture{Env: env, c: orgv1connect.NewOrganizationServiceClient(env.Client, env.URL), net: n}
}

// as returns a request for msg authenticated with token (none when empty).
func as[T any](token string, msg *T) *connect.Request[T] {
	req := connect.NewRequest(msg)
	if token != "" {
		req.Header().Set("Authorization", apitest.Bearer(token))
	}
	return req
}

func wantCode(t *testing.T, err error, code connect.Code) *connect.Error {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != code {
		t.Fatalf("got %v, want %v", err, code)
	}
	return ce
}

// wantField checks that err has code and a field violation naming field.
func wantField(t *testing.T, err error, code connect.Code, field string) {
	t.Helper()
	ce := wantCode(t, err, code)
	for _, d := range ce.Details() {
		v, _ := d.Value()
		if br, ok := v.(*errdetails.BadRequest); ok {
			for _, fv := range br.GetFieldViolations() {
				if fv.GetField() == field {
					return
				}
			}
		}
	}
	t.Fatalf("%v names no field %q", err, field)
}

func (f *fixture) create(t *testing.T, name string) string {
	t.Helper()
	resp, err := f.c.CreateOrganization(ctx, as(f.AdminToken, &orgv1.CreateOrganizationRequest{Name: name}))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Msg.GetOrganizationId()
}

func (f *fixture) get(t *testing.T, token, id string) *orgv1.Organization {
	t.Helper()
	resp, err := f.c.GetOrganization(ctx, as(token, &orgv1.GetOrganizationRequest{OrganizationId: id}))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Msg.GetOrganization()
}

func TestAdministratorRunsAnOrganizationThroughItsLifecycle(t *testing.T) {
	f := start(t)
	tok := f.AdminToken
	id := f.create(t, "Acme")

	o := f.get(t, tok, id)
	if o.GetId() != id || o.GetName() != "Acme" || o.GetState() != orgv1.OrganizationState_ORGANIZATION_STATE_ACTIVE ||
		o.GetCreateTime().AsTime().IsZero() || o.GetSequence() == 0 || len(o.GetDomains()) != 0 || len(o.GetMetadata()) != 0 {
		t.Fatalf("created: %v", o)
	}
	created := o.GetSequence()

	if _, err := f.c.UpdateOrganization(ctx, as(tok, &orgv1.UpdateOrganizationRequest{OrganizationId: id, Name: "Acme Corp"})); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.DeactivateOrganization(ctx, as(tok, &orgv1.DeactivateOrganizationRequest{OrganizationId: id})); err != nil {
		t.Fatal(err)
	}
	o = f.get(t, tok, id)
	if o.GetName() != "Acme Corp" || o.GetState() != orgv1.OrganizationState_ORGANIZATION_STATE_INACTIVE || o.GetSequence() <= created ||
		o.GetUpdateTime().AsTime().Before(o.GetCreateTime().AsTime()) {
		t.Fatalf("renamed and deactivated: %v", o)
	}
	_, err := f.c.DeactivateOrganization(ctx, as(tok, &orgv1.DeactivateOrganizationRequest{OrganizationId: id}))
	wantCode(t, err, connect.CodeFailedPrecondition)
	if _, err := f.c.ReactivateOrganization(ctx, as(tok, &orgv1.ReactivateOrganizationRequest{OrganizationId: id})); err != nil {
		t.Fatal(err)
	}

	for _, v := range []string{"gold", "platinum"} {
		if _, err := f.c.SetOrganizationMetadata(ctx, as(tok, &orgv1.SetOrganizationMetadataRequest{OrganizationId: id, Key: "tier", Value: []byte(v)})); err != nil {
			t.Fatal(err)
		}
	}
	if o = f.get(t, tok, id); o.GetState() != orgv1.OrganizationState_ORGANIZATION_STATE_ACTIVE || string(o.GetMetadata()["tier"]) != "platinum" {
		t.Fatalf("reactivated with metadata: %v", o)
	}
	if _, err := f.c.RemoveOrganizationMetadata(ctx, as(tok, &orgv1.RemoveOrganizationMetadataRequest{OrganizationId: id, Key: "tier"})); err != nil {
		t.Fatal(err)
	}
	_, err = f.c.RemoveOrganizationMetadata(ctx, as(tok, &orgv1.RemoveOrganizationMetadataRequest{OrganizationId: id, Key: "tier"}))
	wantCode(t, err, connect.CodeNotFound)

	if _, err := f.c.DeleteOrganization(ctx, as(tok, &orgv1.DeleteOrganizationRequest{OrganizationId: id})); err != nil {
		t.Fatal(err)
	}
	_, err = f.c.GetOrganization(ctx, as(tok, &orgv1.GetOrganizationRequest{OrganizationId: id}))
	wantCode(t, err, connect.CodeNotFound)
	_, err = f.c.DeleteOrganization(ctx, as(tok, &orgv1.DeleteOrganizationRequest{OrganizationId: id}))
	wantCode(t, err, connect.CodeNotFound)
	// The name is free again.
	f.create(t, "ACME CORP")
}

func TestInvalidRequestsNameTheirField(t *testing.T) {
	f := start(t)
	tok := f.AdminToken
	f.create(t, "Acme")
	for _, tc := range []struct {
		name  string
		call  func() error
		code  connect.Code
		field string
	}{
		{"fail/duplicate name, in another case", func() error {
			_, err := f.c.CreateOrganization(ctx, as(tok, &orgv1.CreateOrganizationRequest{Name: "ACME"}))
			return err
		}, connect.CodeAlreadyExists, "name"},
		{"fail/rename onto a taken name", func() error {
			_, err := f.c.UpdateOrganization(ctx, as(tok, &orgv1.UpdateOrganizationRequest{OrganizationId: f.OrgID, Name: "acme"}))
			return err
		}, connect.CodeAlreadyExists, "name"},
		{"fail/blank name", func() error {
			_, err := f.c.CreateOrganization(ctx, as(tok, &orgv1.CreateOrganizationRequest{Name: "  "}))
			return err
		}, connect.CodeInvalidArgument, "name"},
		{"fail/no organization id", func() error {
			_, err := f.c.GetOrganization(ctx, as(tok, &orgv1.GetOrganizationRequest{}))
			return err
		}, connect.CodeInvalidArgument, "organizationId"},
		{"fail/no domain", func() error {
			_, err := f.c.VerifyDomain(ctx, as(tok, &orgv1.VerifyDomainRequest{OrganizationId: f.OrgID}))
			return err
		}, connect.CodeInvalidArgument, "domain"},
		{"fail/not a domain name", func() error {
			_, err := f.c.AddOrganizationDomain(ctx, as(tok, &orgv1.AddOrganizationDomainRequest{OrganizationId: f.OrgID, Domain: "localhost"}))
			return err
		}, connect.CodeInvalidArgument, "domain"},
		{"fail/no verification method", func() error {
			_, err := f.c.RequestDomainVerification(ctx, as(tok, &orgv1.RequestDomainVerificationRequest{OrganizationId: f.OrgID, Domain: "acme.example"}))
			return err
		}, connect.CodeInvalidArgument, "method"},
		{"fail/no metadata key", func() error {
			_, err := f.c.SetOrganizationMetadata(ctx, as(tok, &orgv1.SetOrganizationMetadataRequest{OrganizationId: f.OrgID, Value: []byte("x")}))
			return err
		}, connect.CodeInvalidArgument, "key"},
		{"fail/metadata value too large", func() error {
			_, err := f.c.SetOrganizationMetadata(ctx, as(tok, &orgv1.SetOrganizationMetadataRequest{OrganizationId: f.OrgID, Key: "k", Value: make([]byte, 64<<10+1)}))
			return err
		}, connect.CodeInvalidArgument, "value"},
		{"fail/no member user id", func() error {
			_, err := f.c.AddOrganizationMember(ctx, as(tok, &orgv1.AddOrganizationMemberRequest{OrganizationId: f.OrgID, Roles: []string{"org.viewer"}}))
			return err
		}, connect.CodeInvalidArgument, "userId"},
		{"fail/unknown role", func() error {
			_, err := f.c.AddOrganizationMember(ctx, as(tok, &orgv1.AddOrganizationMemberRequest{OrganizationId: f.OrgID, UserId: f.AdminID, Roles: []string{"org.emperor"}}))
			return err
		}, connect.CodeInvalidArgument, "roles"},
		{"fail/instance role on an organization", func() error {
			_, err := f.c.AddOrganizationMember(ctx, as(tok, &orgv1.AddOrganizationMemberRequest{OrganizationId: f.OrgID, UserId: f.AdminID, Roles: []string{"instance.owner"}}))
			return err
		}, connect.CodeInvalidArgument, "roles"},
		{"fail/page size too large", func() error {
			_, err := f.c.ListOrganizations(ctx, as(tok, &orgv1.ListOrganizationsRequest{PageSize: 1001}))
			return err
		}, connect.CodeInvalidArgument, "pageSize"},
		{"fail/forged page token", func() error {
			_, err := f.c.ListOrganizations(ctx, as(tok, &orgv1.ListOrganizationsRequest{PageToken: "not-a-token"}))
			return err
		}, connect.CodeInvalidArgument, "pageToken"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantField(t, tc.call(), tc.code, tc.field) })
	}
}

// rest sends a JSON request over plain HTTP and decodes the JSON answer.
func (f *fixture) rest(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, f.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", apitest.Bearer(f.AdminToken))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil && err != io.EOF {
		t.Fatalf("%s %s: %s: %v", method, path, resp.Status, err)
	}
	return resp.StatusCode, out
}

func TestRESTPathsReachEveryKindOfMethod(t *testing.T) {
	f := start(t)
	status, out := f.rest(t, http.MethodPost, "/v1/organizations", map[string]any{"name": "Rest Corp"})
	id, _ := out["organizationId"].(string)
	if status != http.StatusOK || id == "" {
		t.Fatalf("create: %d %v", status, out)
	}
	base := "/v1/organizations/" + id
	for _, step := range []struct {
		method, path string
		body         any
		want         int
	}{
		{http.MethodPatch, base, map[string]any{"name": "Rest Inc"}, http.StatusOK},
		{http.MethodPost, base + ":deactivate", map[string]any{}, http.StatusOK},
		{http.MethodPost, base + ":reactivate", map[string]any{}, http.StatusOK},
		{http.MethodPost, base + "/domains", map[string]any{"domain": "rest.example"}, http.StatusOK},
		{http.MethodPost, base + "/domains", map[string]any{"domain": "rest.example"}, http.StatusConflict},
		{http.MethodPost, base + "/domains/rest.example:setPrimary", map[string]any{}, http.StatusBadRequest}, // not verified
		{http.MethodPut, base + "/metadata/tier", map[string]any{"value": "Z29sZA=="}, http.StatusOK},
		{http.MethodDelete, base + "/members/nobody", nil, http.StatusNotFound},
		{http.MethodPost, "/v1/organizations", map[string]any{"name": "rest inc"}, http.StatusConflict},
	} {
		if status, out := f.rest(t, step.method, step.path, step.body); status != step.want {
			t.Fatalf("%s %s: %d %v, want %d", step.method, step.path, status, out, step.want)
		}
	}

	status, out = f.rest(t, http.MethodPost, base+"/domains/rest.example:requestVerification", map[string]any{"method": "DOMAIN_VERIFICATION_METHOD_DNS"})
	if status != http.StatusOK || out["txtRecordName"] != "_castellan-challenge.rest.example" || out["token"] == "" {
		t.Fatalf("request verification: %d %v", status, out)
	}
	f.net.publishTXT("_castellan-challenge.rest.example", out["token"].(string))
	if status, out := f.rest(t, http.MethodPost, base+"/domains/rest.example:verify", map[string]any{}); status != http.StatusOK {
		t.Fatalf("verify: %d %v", status, out)
	}

	status, out = f.rest(t, http.MethodGet, base, nil)
	o, _ := out["organization"].(map[string]any)
	domains, _ := o["domains"].([]any)
	meta, _ := o["metadata"].(map[string]any)
	if status != http.StatusOK || o["name"] != "Rest Inc" || o["state"] != "ORGANIZATION_STATE_ACTIVE" || len(domains) != 1 || meta["tier"] != "Z29sZA==" {
		t.Fatalf("get: %d %v", status, out)
	}
	if d := domains[0].(map[string]any); d["verified"] != true || d["verificationMethod"] != "DOMAIN_VERIFICATION_METHOD_DNS" {
		t.Fatalf("domain: %v", d)
	}

	status, out = f.rest(t, http.MethodGet, "/v1/organizations?namePrefix=Rest&pageSize=10&state=ORGANIZATION_STATE_ACTIVE", nil)
	if list, _ := out["organizations"].([]any); status != http.StatusOK || len(list) != 1 || out["totalSize"] != float64(1) {
		t.Fatalf("list: %d %v", status, out)
	}

	// A clash names the field over REST too.
	status, out = f.rest(t, http.MethodPost, "/v1/organizations", map[string]any{"name": "REST INC"})
	details, _ := out["details"].([]any)
	if status != http.StatusConflict || len(details) != 1 || !bytes.Contains(must(json.Marshal(details[0])), []byte(`"field":"name"`)) {
		t.Fatalf("duplicate: %d %v", status, out)
	}

	if status, out := f.rest(t, http.MethodDelete, base, nil); status != http.StatusOK {
		t.Fatalf("delete: %d %v", status, out)
	}
	if status, _ := f.rest(t, http.MethodGet, base, nil); status != http.StatusNotFound {
		t.Fatalf("get after delete: %d", status)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
