package op

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/oauth/dpop"
	"github.com/castellan-iam/castellan/internal/op/grant"
)

var update = flag.Bool("update", false, "rewrite the golden files")

type noAuthRequests struct{ AuthRequests }

type noDevices struct{ Devices }

// TestDiscoveryGolden pins the discovery document of a provider with
// every grant: a change of what is announced must be deliberate
// (go test ./internal/op -run Discovery -update rewrites it).
func TestDiscoveryGolden(t *testing.T) {
	p := New(Deps{
		ExternalURL: "https://login.example.com", Log: slog.New(slog.DiscardHandler), LoginPath: "/ui/login/",
		AuthRequests: noAuthRequests{}, Devices: noDevices{}, DPoP: &dpop.Checker{},
		Grants: []grant.Grant{grant.ClientCredentials{}, grant.AuthorizationCode{}, grant.RefreshToken{}, grant.DeviceCode{},
			grant.JWTBearer{}, grant.TokenExchange{}},
	})
	req := httptest.NewRequest(http.MethodGet, PathDiscovery, nil)
	req = req.WithContext(instance.WithContext(context.Background(), instance.Instance{ID: "inst", PrimaryDomain: "login.example.com"}))
	rec := httptest.NewRecorder()
	p.discovery(rec, req)
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, rec.Body.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/discovery.golden.json"
	if *update {
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Fatalf("discovery document changed:\n%s", pretty.Bytes())
	}
	if rec.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Fatal("discovery is not readable cross-origin")
	}
}
