package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"

	orgv1 "github.com/castellan-iam/castellan/gen/castellan/org/v1"
	"github.com/castellan-iam/castellan/gen/castellan/org/v1/orgv1connect"
	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/api/orgapi"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/org"
)

// A full SQLite database — PRAGMA max_page_count on the write connection,
// which fails writes with SQLITE_FULL as a full disk does — answers writes
// 503 with Retry-After and makes /readyz report not ready; once there is
// room again, the same server writes and is ready without a restart.
func TestFullSQLiteDatabaseAnswers503AndRecovers(t *testing.T) {
	env := apitest.Start(t, func(a *app.App, auth *authn.Authenticator) []api.Service {
		return []api.Service{orgapi.NewService(a.Store, org.NewVerifier(), auth)}
	})
	ctx := context.Background()
	pragma := func(q string, dst ...any) {
		t.Helper()
		err := env.App.DB.InTx(ctx, func(tx *database.Tx) error {
			if len(dst) > 0 {
				return tx.QueryRowContext(ctx, q).Scan(dst...)
			}
			_, err := tx.ExecContext(ctx, q)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	do := func(method, path, body string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest(method, env.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", apitest.Bearer(env.AdminToken))
		req.Header.Set("Content-Type", "application/json")
		resp, err := env.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	var pages int
	pragma(`PRAGMA page_count`, &pages)
	pragma(fmt.Sprintf(`PRAGMA max_page_count = %d`, pages))

	var (
		status int
		header http.Header
		body   string
	)
	for i := 0; ; i++ {
		if status, header, body = do("POST", "/v1/organizations", fmt.Sprintf(`{"name": "org %d %s"}`, i, strings.Repeat("x", 150))); status != http.StatusOK {
			break
		}
		if i == 1000 {
			t.Fatal("the database never filled up")
		}
	}
	if status != http.StatusServiceUnavailable || header.Get("Retry-After") != "2" || !strings.Contains(body, "database is unavailable") {
		t.Fatalf("write to a full database: %d %v %s", status, header, body)
	}
	c := orgv1connect.NewOrganizationServiceClient(env.Client, env.URL)
	req := connect.NewRequest(&orgv1.CreateOrganizationRequest{Name: "connect org " + strings.Repeat("y", 150)})
	req.Header().Set("Authorization", apitest.Bearer(env.AdminToken))
	if _, err := c.CreateOrganization(ctx, req); connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("Connect write to a full database: %v", err)
	}
	if status, _, body := do("GET", "/readyz", ""); status != http.StatusServiceUnavailable || !strings.Contains(body, "refuses writes") {
		t.Fatalf("/readyz with a full database: %d %s", status, body)
	}

	pragma(`PRAGMA max_page_count = 1073741823`)
	if status, _, body := do("POST", "/v1/organizations", `{"name": "after the disk was freed"}`); status != http.StatusOK {
		t.Fatalf("write after making room: %d %s", status, body)
	}
	if status, _, body := do("GET", "/readyz", ""); status != http.StatusOK {
		t.Fatalf("/readyz after making room: %d %s", status, body)
	}
}
