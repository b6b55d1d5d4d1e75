package app_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/config"
	"github.com/castellan-iam/castellan/internal/setup"
)

// The binary's server puts sessionapi.Admission in front of the session
// routes: with the password queue full, a creation with a password check
// is answered before the API decodes it. Seen from outside by a body the
// API's strict decoder refuses (an unknown field) and the edge, which
// looks for the password check alone, does not read: 503 while the queue
// is full, the decoder's 400 once it has room.
func TestSessionRefusalsComeBeforeTheAPI(t *testing.T) {
	ctx := context.Background()
	cfg, err := config.Load([]string{"--data-dir", t.TempDir(), "--listen", "127.0.0.1:1", "--external-url", "http://localhost",
		"--passwords-argon2id-memory-kib", "8192", "--passwords-argon2id-iterations", "1"}, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if _, err := setup.Run(ctx, a.Store, a.Hasher, setup.FirstInstance{Name: "Test", Domain: "localhost", OrgName: "First", AdminLoginName: "admin", AdminPassword: "admin-password-1"}); err != nil {
		t.Fatal(err)
	}
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
