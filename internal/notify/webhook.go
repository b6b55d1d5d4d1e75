package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/castellan-iam/castellan/internal/failure"
)

// WebhookConfig configures SMS delivery through an HTTP gateway of the
// operator's choice.
type WebhookConfig struct {
	// URL receives the POST; https, or http to a loopback host.
	URL string
	// Secret signs every request per Standard Webhooks; at least 24 bytes
	// (the raw bytes, not the "whsec_" base64 form).
	Secret []byte
	// Client, when set, sends the requests; the default client follows no
	// redirects, so a 3xx answer is an error.
	Client *http.Client
	// Timeout bounds one request; default 10 s.
	Timeout time.Duration
}

// SMSWebhook sends text messages by POSTing {"to": "+41…", "text": "…"} to
// a gateway, signed per Standard Webhooks: the headers webhook-id,
// webhook-timestamp (Unix seconds) and webhook-signature, "v1," followed by
// the base64 HMAC-SHA256 of "id.timestamp.body" under the secret. The
// gateway should reject requests whose timestamp is more than a few minutes
// off, and may use webhook-id to drop duplicates. Any 2xx answer means
// accepted. It is safe for concurrent use.
type SMSWebhook struct {
	url     string
	secret  []byte
	client  *http.Client
	timeout time.Duration
	now     func() time.Time
}

var _ Notifier = (*SMSWebhook)(nil)

// minSecretLength is Standard Webhooks' recommended minimum secret size.
const minSecretLength = 24

// NewSMSWebhook checks cfg and returns a notifier for it.
func NewSMSWebhook(cfg WebhookConfig) (*SMSWebhook, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || !(u.Scheme == "https" || u.Scheme == "http" && isLoopback(u.Hostname())) {
		return nil, failure.InvalidArgument("url", "the gateway URL is an https URL (http only to a loopback host)")
	}
	if len(cfg.Secret) < minSecretLength {
		return nil, failure.InvalidArgument("secret", "the signing secret has at least %d bytes", minSecretLength)
	}
	if cfg.Timeout < 0 {
		return nil, failure.InvalidArgument("timeout", "the timeout must not be negative")
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	return &SMSWebhook{url: u.String(), secret: bytes.Clone(cfg.Secret), client: client, timeout: timeout, now: time.Now}, nil
}

// e164 is ITU-T E.164 with the leading plus: a country code that does not
// start with 0 and at most 15 digits in all.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// maxErrorBody is how much of a refusal's body an error quotes.
const maxErrorBody = 200

// Send delivers m.Text to the phone number m.To; Subject and HTML are
// ignored.
func (w *SMSWebhook) Send(ctx context.Context, m Message) error {
	switch {
	case !e164.MatchString(m.To):
		return failure.InvalidArgument("to", "a phone number is in E.164 form, like +41791234567")
	case m.Text == "":
		return failure.InvalidArgument("text", "a message needs a text")
	case !utf8.ValidString(m.Text):
		return failure.InvalidArgument("text", "the text is not valid UTF-8")
	}
	body, err := json.Marshal(struct {
		To   string `json:"to"`
		Text string `json:"text"`
	}{m.To, m.Text})
	if err != nil {
		return failure.Internal(err, "the SMS request could not be encoded")
	}
	id := "msg_" + rand.Text()
	timestamp := strconv.FormatInt(w.now().Unix(), 10)

	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return failure.Internal(err, "the SMS request could not be built")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Castellan")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", timestamp)
	req.Header.Set("webhook-signature", signWebhook(w.secret, id, timestamp, body))
	resp, err := w.client.Do(req)
	if err != nil {
		// *url.Error quotes the URL, which may carry a gateway token.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return unavailable(err, "the SMS gateway could not be reached")
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	head, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return unavailable(fmt.Errorf("status %d %s: %q", resp.StatusCode, http.StatusText(resp.StatusCode), head),
		fmt.Sprintf("the SMS gateway refused the message with status %d", resp.StatusCode))
}

// signWebhook returns the Standard Webhooks signature header value for a
// request: "v1," and the base64 HMAC-SHA256 of "id.timestamp.body".
// Receivers recompute it and compare in constant time (hmac.Equal).
func signWebhook(secret []byte, id, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(id + "." + timestamp + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
