package logout

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Back-channel logout (OpenID Connect Back-Channel Logout 1.0): when a
// session ends, every client that holds a grant through it and registered
// a back-channel logout URI receives a logout token, POSTed server to
// server. Delivery is best effort, once, after the sign-out answered: a
// client that is down misses it (its refresh tokens stop working anyway,
// the grant being revoked), and a slow one cannot hold the sign-out up.

// deliveryTimeout bounds one delivery.
const deliveryTimeout = 5 * time.Second

// Delivery is one logout token for one client.
type Delivery struct {
	ClientID, URI, Token string
}

// Deliverer posts logout tokens.
type Deliverer struct {
	// Client makes the requests; it must not follow redirects (a client
	// that redirects its back-channel URI is refused, not followed to a
	// host it did not register).
	Client *http.Client
	Log    *slog.Logger
}

// NewDeliverer returns a deliverer with its own HTTP client: a timeout of
// deliveryTimeout, no redirects, no cookies.
func NewDeliverer(log *slog.Logger) *Deliverer {
	return &Deliverer{Log: log, Client: &http.Client{
		Timeout:       deliveryTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Deliver posts each token, concurrently, and returns when all answered
// or timed out. A failure is logged (never the token).
func (d *Deliverer) Deliver(ctx context.Context, list []Delivery) {
	done := make(chan struct{}, len(list))
	for _, one := range list {
		go func() {
			defer func() { done <- struct{}{} }()
			if err := d.post(ctx, one); err != nil {
				d.Log.Warn("back-channel logout not delivered", "client_id", one.ClientID, "uri", one.URI, "err", err)
			}
		}()
	}
	for range list {
		<-done
	}
}

type statusError int

func (e statusError) Error() string { return "the client answered " + http.StatusText(int(e)) }

func (d *Deliverer) post(ctx context.Context, one Delivery) error {
	ctx, cancel := context.WithTimeout(ctx, deliveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, one.URI, strings.NewReader(url.Values{"logout_token": {one.Token}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := d.Client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return statusError(resp.StatusCode)
	}
	return nil
}
