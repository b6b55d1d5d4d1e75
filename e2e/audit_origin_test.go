package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestAuditEditorOrigin: every change records the session or personal
// access token it was made with and the client's address — behind a
// trusted proxy, the forwarded one — and the audit search finds changes by
// either.
func TestAuditEditorOrigin(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		env := append(append([]string(nil), b.env...), "CASTELLAN_SERVER_TRUSTED_PROXIES=127.0.0.0/8,::1/128")
		p := start(t, env)
		out, stderr, err := castellan(t, env, "tokens", "create", "admin", "1h")
		if err != nil {
			t.Fatalf("tokens create: %v\n%s", err, stderr)
		}
		token := strings.TrimSpace(out)

		type event struct {
			Type            string          `json:"type"`
			AggregateID     string          `json:"aggregateId"`
			Payload         json.RawMessage `json:"payload"`
			EditorUserID    string          `json:"editorUserId"`
			EditorSessionID string          `json:"editorSessionId"`
			EditorAddress   string          `json:"editorAddress"`
		}
		call := func(method, path, forwardedFor string, body string) (int, []byte) {
			t.Helper()
			var r io.Reader
			if body != "" {
				r = strings.NewReader(body)
			}
			req, _ := http.NewRequest(method, p.url+path, r)
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			if forwardedFor != "" {
				req.Header.Set("X-Forwarded-For", forwardedFor)
			}
			resp, err := p.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, raw
		}
		list := func(query url.Values) []event {
			t.Helper()
			code, raw := call(http.MethodGet, "/v1/events?"+query.Encode(), "", "")
			if code != http.StatusOK {
				t.Fatalf("list events %v: %d %s", query, code, raw)
			}
			var page struct {
				Events []event `json:"events"`
			}
			if err := json.Unmarshal(raw, &page); err != nil {
				t.Fatal(err)
			}
			return page.Events
		}

		// The token's id, from the event that created it.
		var added []event
		for deadline := time.Now().Add(15 * time.Second); len(added) == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			added = list(url.Values{"eventTypes": {"user.pat.added"}})
		}
		if len(added) == 0 {
			t.Fatal("no user.pat.added event")
		}
		var pat struct {
			TokenID string `json:"tokenId"`
		}
		if err := json.Unmarshal(added[len(added)-1].Payload, &pat); err != nil || pat.TokenID == "" {
			t.Fatalf("token id: %v %s", err, added[len(added)-1].Payload)
		}

		// A client behind the proxy (a spoofed entry left of it is not
		// believed), and one on the proxy's host.
		code, raw := call(http.MethodPost, "/v1/organizations", "192.0.2.66, 203.0.113.9", `{"name": "Forwarded Corp"}`)
		if code != http.StatusOK {
			t.Fatalf("create organization: %d %s", code, raw)
		}
		var created struct {
			ID string `json:"organizationId"`
		}
		_ = json.Unmarshal(raw, &created)
		if code, raw := call(http.MethodPost, "/v1/organizations", "", `{"name": "Local Corp"}`); code != http.StatusOK {
			t.Fatalf("create organization: %d %s", code, raw)
		}

		// Pages are settled: on PostgreSQL an event shows once no
		// transaction in flight anywhere in the cluster precedes it.
		var bySession []event
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			bySession = list(url.Values{"editorSessionId": {pat.TokenID}, "aggregateType": {"org"}})
			if len(bySession) >= 2 || time.Now().After(deadline) {
				break
			}
		}
		if len(bySession) != 2 {
			t.Fatalf("events made with the token: %+v, want the two organizations'", bySession)
		}
		fromProxy := list(url.Values{"editorNetwork": {"203.0.113.0/24"}})
		if len(fromProxy) == 0 {
			t.Fatal("no event from the forwarded client's network")
		}
		for _, e := range fromProxy {
			if e.EditorAddress != "203.0.113.9" || e.EditorSessionID != pat.TokenID || e.AggregateID != created.ID {
				t.Fatalf("event from the forwarded client: %+v (organization %s)", e, created.ID)
			}
		}
		if got := list(url.Values{"editorNetwork": {"203.0.113.9"}}); len(got) != len(fromProxy) {
			t.Fatalf("by address: %d events, by its network %d", len(got), len(fromProxy))
		}
		if got := list(url.Values{"editorNetwork": {"192.0.2.66"}}); len(got) != 0 {
			t.Fatalf("the spoofed address was recorded: %+v", got)
		}
		local := list(url.Values{"editorNetwork": {"127.0.0.0/8"}, "aggregateType": {"org"}})
		if len(local) != 1 || local[0].EditorAddress != "127.0.0.1" {
			t.Fatalf("events from the proxy's host: %+v", local)
		}
		if code, raw := call(http.MethodGet, "/v1/events?editorNetwork=300.1.2.3/8", "", ""); code != http.StatusBadRequest || !strings.Contains(string(raw), "editorNetwork") {
			t.Fatalf("a malformed network: %d %s", code, raw)
		}
	})
}
