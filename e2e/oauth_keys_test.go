package e2e

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// The instance's signing keys through the API: listed with their states,
// and an on-demand rotation refused while the next key is younger than
// the key set's cache lifetime (clients may not know it yet).
func TestSigningKeys(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := startOAuthServer(t, b)
		if code, _ := get(t, http.DefaultClient, s.url+"/oauth/v2/keys", ""); code != http.StatusOK {
			t.Fatalf("JWKS: %d", code)
		}
		var list struct {
			Keys []struct {
				ID, Algorithm, State string
			} `json:"keys"`
		}
		s.api(t, http.MethodGet, "/v1/instance/signing_keys", nil, &list)
		states := map[string]int{}
		for _, k := range list.Keys {
			states[k.Algorithm+"/"+k.State]++
		}
		for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
			if states[alg+"/current"] != 1 || states[alg+"/next"] != 1 {
				t.Fatalf("signing keys %v: want a current and a next key of %s", states, alg)
			}
		}
		req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/instance/signing_keys/ES256/rotate", bytes.NewReader([]byte(`{}`)))
		req.Header.Set("Authorization", "Bearer "+s.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK || !strings.Contains(string(body), "clients may cache the key set") {
			t.Fatalf("an early rotation: %d %s", resp.StatusCode, body)
		}
	})
}
