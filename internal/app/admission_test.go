package app_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
)

// The binary's server puts sessionapi.Admission in front of the session
// routes: with the password queue full, a creation with a password check
// is answered before the API decodes it. Seen from outside by a body the
// API's strict decoder refuses (an unknown field) and the edge, which
// looks for the password check alone, does not read: 503 while the queue
// is full, the decoder's 400 once it has room.
func TestSessionRefusalsComeBeforeTheAPI(t *testing.T) {
	ctx := context.Background()
	e := apitest.Start(t, func(*app.App, *authn.Authenticator) []api.Service { return nil })
	a := e.App
	srv, err := a.Server("test", false)
	if err != nil {
		t.Fatal(err)
	}
	post := func() int {
		r := httptest.NewRequest(http.MethodPost, "http://localhost/v1/sessions",
			strings.NewReader(`{"checks":{"password":{"password":"pw"}},"notAField":1}`))
		r.RemoteAddr = "127.0.0.1:40000"
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		return w.Code
	}
	if code := post(); code != http.StatusBadRequest {
		t.Fatalf("with room in the queue: %d, want the decoder's 400", code)
	}
	var dones []func()
	for {
		_, done, err := a.Hasher.Reserve(ctx)
		if err != nil {
			break
		}
		dones = append(dones, done)
	}
	if code := post(); code != http.StatusServiceUnavailable {
		t.Fatalf("with the queue full: %d, want 503 from in front of the API", code)
	}
	for _, done := range dones {
		done()
	}
	if code := post(); code != http.StatusBadRequest {
		t.Fatalf("with room again: %d", code)
	}
}
