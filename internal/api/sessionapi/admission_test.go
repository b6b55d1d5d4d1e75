package sessionapi_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	sessionv1 "github.com/castellan-iam/castellan/gen/castellan/session/v1"
	"github.com/castellan-iam/castellan/internal/api/sessionapi"
)

// fillQueue takes every place of e's password queue until the test ends.
func fillQueue(t *testing.T, e *env) {
	t.Helper()
	for {
		_, done, err := e.App.Hasher.Reserve(ctx)
		if err != nil {
			break
		}
		t.Cleanup(done)
	}
}

type answer struct {
	status     int
	retryAfter string
	closes     bool // Connection: close
	body       string
}

func post(t *testing.T, e *env, method, path, contentType string, body []byte, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, e.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer not-a-token")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("Retry-After"), resp.Close, string(b)}
}

// With the password queue full, a session creation or update with a
// password is refused at the edge exactly as the service refuses it (the
// same status, headers and body, in REST and in Connect with JSON and
// protobuf); one without a password goes on to the service.
func TestAdmissionRefusesAsTheServiceDoes(t *testing.T) {
	e := start(t)
	fillQueue(t, e)
	withPassword := `{"checks":{"user":{"loginName":"alice"},"password":{"password":"pw"}}}`
	withoutPassword := `{"checks":{"user":{"loginName":"alice"}}}`
	protoBody, err := proto.Marshal(&sessionv1.CreateSessionRequest{Checks: passwordChecks("alice", "pw")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, method, path, contentType string
		body                            []byte
	}{
		{"REST create", "POST", "/v1/sessions", "application/json", []byte(withPassword)},
		{"REST update", "PATCH", "/v1/sessions/some-session", "application/json", []byte(withPassword)},
		{"Connect JSON create", "POST", "/castellan.session.v1.SessionService/CreateSession", "application/json", []byte(withPassword)},
		{"Connect proto create", "POST", "/castellan.session.v1.SessionService/CreateSession", "application/proto", protoBody},
	} {
		edge := post(t, e, tc.method, tc.path, tc.contentType, tc.body)
		// An identity encoding is a body the edge does not read: the
		// service refuses it, as before the edge existed.
		service := post(t, e, tc.method, tc.path, tc.contentType, tc.body, "Content-Encoding", "identity", "Connect-Content-Encoding", "identity")
		if edge.status != http.StatusServiceUnavailable || edge.retryAfter == "" || !edge.closes {
			t.Errorf("%s: refused with %+v", tc.name, edge)
		}
		if edge != service {
			t.Errorf("%s: the edge answers\n%+v\nthe service\n%+v", tc.name, edge, service)
		}
	}
	if a := post(t, e, "POST", "/v1/sessions", "application/json", []byte(withoutPassword)); a.status != http.StatusUnauthorized {
		t.Errorf("a user check alone with the queue full: %+v", a)
	}
}

// The Admission stands in front of session creation and update in every
// protocol, on the routes their annotations give (api.MethodPatterns).
func TestAdmissionRoutes(t *testing.T) {
	var got []string
	for p := range sessionapi.NewAdmission(nil, nil).Routes() {
		got = append(got, p)
	}
	slices.Sort(got)
	want := []string{"PATCH /v1/sessions/{session_id}", "POST /castellan.session.v1.SessionService/CreateSession",
		"POST /castellan.session.v1.SessionService/SetSession", "POST /v1/sessions"}
	if !slices.Equal(got, want) {
		t.Fatalf("routes %q, want %q", got, want)
	}
}

// The edge passes on what it does not refuse, body intact; it reads the
// body only while the queue is full.
func TestAdmissionPassesBodiesOn(t *testing.T) {
	e := start(t)
	var got []byte
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusTeapot)
	})
	a := sessionapi.NewAdmission(e.App.Sessions(), next).Routes()["POST /v1/sessions"]
	serve := func(body string) int {
		got = nil
		r := httptest.NewRequest("POST", "http://localhost/v1/sessions", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		return w.Code
	}
	password := `{"checks":{"password":{"password":"pw"}}}`
	if code := serve(password); code != http.StatusTeapot || string(got) != password {
		t.Fatalf("queue free: %d, body %q", code, got)
	}
	fillQueue(t, e)
	for _, body := range []string{`{"checks":{"user":{"loginName":"a"}}}`, `{"Checks":{"password":{}}}`, `{"checks":{"password":null}}`, `not json`, ``} {
		if code := serve(body); code != http.StatusTeapot || string(got) != body {
			t.Errorf("queue full, %q: %d, body %q", body, code, got)
		}
	}
	if code := serve(password); code != http.StatusServiceUnavailable || got != nil {
		t.Errorf("queue full, a password: %d, passed on %q", code, got)
	}
}

// FuzzHasPasswordCheck: whatever the body, the edge finds a password check
// only where the service's decoder does (it never refuses a request the
// service would have served), in JSON and in binary protobuf.
func FuzzHasPasswordCheck(f *testing.F) {
	f.Add(`{"checks":{"user":{"loginName":"alice"},"password":{"password":"pw"}}}`, false)
	f.Add(`{"checks":{"password":null}}`, false)
	b, _ := proto.Marshal(&sessionv1.CreateSessionRequest{Checks: &sessionv1.Checks{Password: &sessionv1.PasswordCheck{}}})
	f.Add(string(b), true)
	f.Fuzz(func(t *testing.T, body string, binary bool) {
		contentType := "application/json"
		if binary {
			contentType = "application/proto"
		}
		found := sessionapi.HasPasswordCheck("POST /castellan.session.v1.SessionService/CreateSession", contentType, []byte(body))
		var m sessionv1.CreateSessionRequest
		var err error
		if binary {
			err = proto.Unmarshal([]byte(body), &m)
		} else {
			err = protojson.Unmarshal([]byte(body), &m)
		}
		if err == nil && found != (m.GetChecks().GetPassword() != nil) {
			t.Fatalf("the edge finds a password: %v; the decoder: %v", found, m.GetChecks().GetPassword() != nil)
		}
	})
}
