package authzen

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/access/group"
	"github.com/castellan-iam/castellan/internal/access/project"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/eventstore/eventstoretest"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// handler answers with a caller that holds nothing, over an empty
// database: every question about a resource is a denial, so these tests
// exercise the parsing and the bounds.
func handler(t testing.TB) http.Handler {
	s := eventstoretest.New(t, "i", func(r *eventstore.Registry) {
		user.RegisterEvents(r)
		client.RegisterEvents(r)
		project.RegisterEvents(r)
	}, slices.Concat(usertype.Migrations, org.Migrations, user.Migrations, client.Migrations, group.Migrations, project.Migrations))
	h := New(s.DB(), func(ctx context.Context, _ http.Header) (authz.Caller, error) {
		return authz.Caller{InstanceID: "i", UserID: "u", OrgRoles: map[string][]string{}}, nil
	}, "http://localhost", slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	for p, r := range h.Routes() {
		mux.Handle(p, r)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r.WithContext(instance.WithContext(r.Context(), instance.Instance{ID: "i"})))
	})
}

func post(t testing.TB, h http.Handler, path, body string) (int, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

const orgResource = `"resource": {"type": "organization", "id": "o"}`

func TestRequests(t *testing.T) {
	h := handler(t)
	for _, tc := range []struct {
		name, path, body string
		code             int
		want             string
	}{
		{"ok/a denial", "/access/v1/evaluation", `{"subject": {"type": "user", "id": "x"}, "action": {"name": "user.read"}, ` + orgResource + `}`, 200, `{"decision":false}`},
		{"ok/a batch with defaults", "/access/v1/evaluations", `{"subject": {"type": "user", "id": "x"}, ` + orgResource + `, "evaluations": [{"action": {"name": "a"}}, {"action": {"name": "b"}}]}`, 200, `{"evaluations":[{"decision":false},{"decision":false}]}`},
		{"ok/deny_on_first_deny stops", "/access/v1/evaluations", `{"subject": {"type": "user", "id": "x"}, ` + orgResource + `, "evaluations": [{"action": {"name": "a"}}, {"action": {"name": "b"}}], "options": {"evaluations_semantic": "deny_on_first_deny"}}`, 200, `{"evaluations":[{"decision":false}]}`},
		{"ok/an invalid item is its own error", "/access/v1/evaluations", `{"evaluations": [{"subject": {"type": "user", "id": "x"}, "action": {"name": "a"}, ` + orgResource + `}, {"action": {"name": "b"}}]}`, 200, `"message":"evaluations[1]: subject: required"`},
		{"ok/a batch without a list is one evaluation", "/access/v1/evaluations", `{"subject": {"type": "user", "id": "x"}, "action": {"name": "a"}, ` + orgResource + `}`, 200, `{"decision":false}`},
		{"fail/not JSON", "/access/v1/evaluation", `{"subject"`, 400, "is not a JSON object"},
		{"fail/wrong type", "/access/v1/evaluation", `{"subject": "x"}`, 400, "subject"},
		{"fail/no subject", "/access/v1/evaluation", `{"action": {"name": "a"}, ` + orgResource + `}`, 400, "subject"},
		{"fail/a group subject", "/access/v1/evaluation", `{"subject": {"type": "group", "id": "g"}, "action": {"name": "a"}, ` + orgResource + `}`, 400, "subject.type"},
		{"fail/no action", "/access/v1/evaluation", `{"subject": {"type": "user", "id": "x"}, ` + orgResource + `}`, 400, "action"},
		{"fail/an unknown resource type", "/access/v1/evaluation", `{"subject": {"type": "user", "id": "x"}, "action": {"name": "a"}, "resource": {"type": "file", "id": "f"}}`, 400, "resource.type"},
		{"fail/a long id", "/access/v1/evaluation", `{"subject": {"type": "user", "id": "` + strings.Repeat("x", 300) + `"}, "action": {"name": "a"}, ` + orgResource + `}`, 400, "subject.id"},
		{"fail/an unknown semantic", "/access/v1/evaluations", `{"options": {"evaluations_semantic": "any"}, "evaluations": []}`, 400, "evaluations_semantic"},
		{"fail/too many evaluations", "/access/v1/evaluations", `{"evaluations": [` + strings.Repeat(`{},`, maxEvaluations) + `{}]}`, 400, "at most"},
		{"fail/too big", "/access/v1/evaluation", `{"context": {"x": "` + strings.Repeat("x", maxBody) + `"}}`, 400, "at most"},
		{"fail/a bad page token", "/access/v1/search/subject", `{"subject": {"type": "user"}, "action": {"name": "a"}, "resource": {"type": "project", "id": "p"}, "page": {"token": "!!"}}`, 400, "page.token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(t, h, tc.path, tc.body)
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Fatalf("%d %s, want %d containing %s", code, body, tc.code, tc.want)
			}
		})
	}
}

func TestUnauthenticated(t *testing.T) {
	h := New(nil, func(context.Context, http.Header) (authz.Caller, error) {
		return authz.Caller{}, failure.Unauthenticated("no valid credential")
	}, "", slog.New(slog.DiscardHandler))
	rec := httptest.NewRecorder()
	h.Routes()["POST /access/v1/evaluation"].ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/access/v1/evaluation", strings.NewReader(`{}`)))
	if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") == "" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
}

func TestMetadata(t *testing.T) {
	rec := httptest.NewRecorder()
	handler(t).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/authzen-configuration", nil))
	var m map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || m["access_evaluation_endpoint"] != m["policy_decision_point"]+"/access/v1/evaluation" {
		t.Fatalf("%s %v", rec.Body, err)
	}
}

// FuzzRequests: any body gets an answer of 200 or 400, never a panic or a
// server error.
func FuzzRequests(f *testing.F) {
	f.Add(uint8(0), `{"subject": {"type": "user", "id": "x"}, "action": {"name": "a"}, `+orgResource+`}`)
	f.Add(uint8(1), `{"evaluations": [{}], "options": {"evaluations_semantic": "execute_all"}}`)
	f.Add(uint8(4), `{"subject": {"type": "user", "id": "x"}, `+orgResource+`}`)
	f.Add(uint8(2), `{"subject": {"type": "user"}, "action": {"name": "a"}, "resource": {"type": "project", "id": "p"}, "page": {"token": "eA"}}`)
	f.Add(uint8(3), `{"subject": {"type": "user", "id": "x"}, "action": {"name": "a"}, "resource": {"type": "project"}}`)
	h := handler(f)
	paths := []string{"/access/v1/evaluation", "/access/v1/evaluations", "/access/v1/search/subject", "/access/v1/search/resource", "/access/v1/search/action"}
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		path := paths[int(which)%len(paths)]
		code, out := post(t, h, path, body)
		if code >= 500 {
			t.Fatalf("%s %q: %d %s", path, body, code, out)
		}
	})
}
