package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/failure"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// gatewayRequest is what the test gateway saw.
type gatewayRequest struct {
	method, contentType      string
	id, timestamp, signature string
	body                     []byte
}

// startGateway serves handler after recording each request.
func startGateway(t *testing.T, handler http.HandlerFunc) (*httptest.Server, func() []gatewayRequest) {
	t.Helper()
	var mu sync.Mutex
	var seen []gatewayRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, gatewayRequest{
			method: r.Method, contentType: r.Header.Get("Content-Type"),
			id: r.Header.Get("webhook-id"), timestamp: r.Header.Get("webhook-timestamp"), signature: r.Header.Get("webhook-signature"),
			body: body,
		})
		mu.Unlock()
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []gatewayRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]gatewayRequest(nil), seen...)
	}
}

func newTestWebhook(t *testing.T, cfg WebhookConfig) *SMSWebhook {
	t.Helper()
	w, err := NewSMSWebhook(cfg)
	if err != nil {
		t.Fatalf("NewSMSWebhook: %v", err)
	}
	w.now = func() time.Time { return fixedNow }
	return w
}

func TestSMSWebhookSendsSignedRequest(t *testing.T) {
	srv, seen := startGateway(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) })
	w := newTestWebhook(t, WebhookConfig{URL: srv.URL + "/sms", Secret: testSecret})
	text := `Your code is 123456 <not html> & "quoted" – ünïcode`
	for range 2 {
		if err := w.Send(context.Background(), Message{To: "+41791234567", Subject: "ignored", Text: text, HTML: "<p>ignored</p>"}); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	reqs := seen()
	if len(reqs) != 2 {
		t.Fatalf("the gateway saw %d requests, want 2", len(reqs))
	}
	for _, r := range reqs {
		if r.method != http.MethodPost || r.contentType != "application/json" {
			t.Errorf("%s with Content-Type %q, want POST application/json", r.method, r.contentType)
		}
		var payload map[string]string
		if err := json.Unmarshal(r.body, &payload); err != nil {
			t.Fatalf("body %q: %v", r.body, err)
		}
		if len(payload) != 2 || payload["to"] != "+41791234567" || payload["text"] != text {
			t.Errorf("payload %v, want exactly to and text", payload)
		}
		if r.timestamp != strconv.FormatInt(fixedNow.Unix(), 10) {
			t.Errorf("webhook-timestamp = %q, want %d", r.timestamp, fixedNow.Unix())
		}
		if !strings.HasPrefix(r.id, "msg_") || len(r.id) < 20 {
			t.Errorf("webhook-id = %q, want a random msg_ id", r.id)
		}
		// Verify as a receiver following Standard Webhooks would.
		mac := hmac.New(sha256.New, testSecret)
		mac.Write([]byte(r.id + "." + r.timestamp + "." + string(r.body)))
		want := mac.Sum(nil)
		version, sig, _ := strings.Cut(r.signature, ",")
		got, err := base64.StdEncoding.DecodeString(sig)
		if version != "v1" || err != nil || !hmac.Equal(got, want) {
			t.Errorf("webhook-signature %q does not verify", r.signature)
		}
	}
	if reqs[0].id == reqs[1].id {
		t.Errorf("two messages share the webhook-id %q", reqs[0].id)
	}
}

func TestSMSWebhookRefusals(t *testing.T) {
	tail := "SECRET-TAIL"
	tests := []struct {
		name    string
		handler http.HandlerFunc
		status  string
	}{
		{"fail/server error", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, strings.Repeat("x", 200)+tail)
		}, "503"},
		{"fail/client error", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "unknown number", http.StatusBadRequest)
		}, "400"},
		{"fail/redirect is not followed", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/moved" {
				t.Error("the redirect was followed")
			}
			http.Redirect(w, r, "/moved", http.StatusPermanentRedirect)
		}, "308"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, seen := startGateway(t, tt.handler)
			w := newTestWebhook(t, WebhookConfig{URL: srv.URL, Secret: testSecret})
			err := w.Send(context.Background(), Message{To: "+41791234567", Text: "Your code is 123456"})
			var f *failure.Error
			if !errors.As(err, &f) || f.Kind != failure.KindUnavailable || !strings.Contains(err.Error(), "status "+tt.status) {
				t.Fatalf("Send: %v, want an unavailable error naming status %s", err, tt.status)
			}
			if strings.Contains(err.Error(), tail) || strings.Contains(err.Error(), "123456") {
				t.Errorf("the error quotes more than 200 bytes of the answer, or the text: %v", err)
			}
			if len(seen()) != 1 {
				t.Errorf("the gateway saw %d requests, want 1", len(seen()))
			}
		})
	}
}

func TestSMSWebhookRejectsBadMessages(t *testing.T) {
	srv, seen := startGateway(t, func(http.ResponseWriter, *http.Request) {})
	w := newTestWebhook(t, WebhookConfig{URL: srv.URL, Secret: testSecret})
	tests := []struct {
		name  string
		msg   Message
		field string
	}{
		{"fail/national format", Message{To: "0791234567", Text: "1"}, "to"},
		{"fail/country code 0", Message{To: "+0791234567", Text: "1"}, "to"},
		{"fail/16 digits", Message{To: "+4179123456789012", Text: "1"}, "to"},
		{"fail/spaces", Message{To: "+41 79 123 45 67", Text: "1"}, "to"},
		{"fail/trailing newline", Message{To: "+41791234567\n", Text: "1"}, "to"},
		{"fail/email address", Message{To: "jane@example.com", Text: "1"}, "to"},
		{"fail/empty", Message{Text: "1"}, "to"},
		{"fail/no text", Message{To: "+41791234567"}, "text"},
		{"fail/text not UTF-8", Message{To: "+41791234567", Text: "\xff"}, "text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f *failure.Error
			if err := w.Send(context.Background(), tt.msg); !errors.As(err, &f) || f.Kind != failure.KindInvalidArgument || f.Field != tt.field {
				t.Fatalf("Send: %v, want an invalid argument naming %q", err, tt.field)
			}
		})
	}
	if n := len(seen()); n != 0 {
		t.Errorf("the gateway saw %d requests for invalid messages", n)
	}
}

func TestSMSWebhookTimeout(t *testing.T) {
	srv, _ := startGateway(t, func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	w := newTestWebhook(t, WebhookConfig{URL: srv.URL + "/?token=gateway-token", Secret: testSecret, Timeout: 100 * time.Millisecond})
	err := w.Send(context.Background(), Message{To: "+41791234567", Text: "Your code is 123456"})
	if !errors.Is(err, context.DeadlineExceeded) || !failure.Is(err, failure.KindUnavailable) {
		t.Fatalf("Send: %v, want an unavailable error wrapping context.DeadlineExceeded", err)
	}
	if strings.Contains(err.Error(), "gateway-token") {
		t.Errorf("the error quotes the URL: %v", err)
	}
}

func TestNewSMSWebhook(t *testing.T) {
	tests := []struct {
		name  string
		cfg   WebhookConfig
		field string // empty: valid
	}{
		{"ok/https", WebhookConfig{URL: "https://sms.example.com/send", Secret: testSecret}, ""},
		{"ok/http to loopback", WebhookConfig{URL: "http://127.0.0.1:8080/send", Secret: testSecret}, ""},
		{"ok/http to localhost", WebhookConfig{URL: "http://localhost/send", Secret: testSecret}, ""},
		{"fail/http to a remote host", WebhookConfig{URL: "http://sms.example.com/send", Secret: testSecret}, "url"},
		{"fail/no url", WebhookConfig{Secret: testSecret}, "url"},
		{"fail/not a url", WebhookConfig{URL: "sms.example.com", Secret: testSecret}, "url"},
		{"fail/other scheme", WebhookConfig{URL: "ftp://sms.example.com", Secret: testSecret}, "url"},
		{"fail/short secret", WebhookConfig{URL: "https://sms.example.com", Secret: testSecret[:23]}, "secret"},
		{"fail/negative timeout", WebhookConfig{URL: "https://sms.example.com", Secret: testSecret, Timeout: -1}, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSMSWebhook(tt.cfg)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("NewSMSWebhook: %v", err)
				}
				return
			}
			var f *failure.Error
			if !errors.As(err, &f) || f.Kind != failure.KindInvalidArgument || f.Field != tt.field {
				t.Fatalf("NewSMSWebhook: %v, want an invalid argument naming %q", err, tt.field)
			}
		})
	}
}

func TestSMSWebhookKeepsItsOwnSecret(t *testing.T) {
	srv, seen := startGateway(t, func(http.ResponseWriter, *http.Request) {})
	secret := append([]byte(nil), testSecret...)
	w := newTestWebhook(t, WebhookConfig{URL: srv.URL, Secret: secret})
	clear(secret) // the caller wipes its copy, as config loading may
	if err := w.Send(context.Background(), Message{To: "+41791234567", Text: "1"}); err != nil {
		t.Fatal(err)
	}
	r := seen()[0]
	mac := hmac.New(sha256.New, testSecret)
	mac.Write([]byte(r.id + "." + r.timestamp + "." + string(r.body)))
	if r.signature != "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
		t.Errorf("signed with the caller's wiped slice")
	}
}
