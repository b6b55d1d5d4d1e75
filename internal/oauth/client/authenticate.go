package client

import (
	"context"
	"crypto/hmac"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/org"
)

// Clients authenticates clients for the provider's endpoints.
type Clients struct {
	db     *database.DB
	hasher *hasher
	now    func() time.Time
}

// NewClients returns the client authenticator; now may be nil (time.Now).
func NewClients(db *database.DB, ring KeyDeriver, now func() time.Time) *Clients {
	if now == nil {
		now = time.Now
	}
	return &Clients{db: db, hasher: newHasher(ring), now: now}
}

// invalidClient is the one answer to every failed client authentication
// (RFC 6749 section 5.2): which part was wrong is only logged.
func invalidClient(cause string) error {
	return &oauth.Error{Code: oauth.InvalidClient, Description: "client authentication failed", Cause: failure.Unauthenticated("%s", cause)}
}

// Authenticate checks a client's credentials: a confidential client must
// present one of its valid secrets; a public client must present none.
// Every failure is the same oauth invalid_client error. A client of an
// organization that is not active cannot authenticate.
func (c *Clients) Authenticate(ctx context.Context, instanceID string, cred Credentials) (Authenticated, error) {
	if cred.ClientID == "" || len(cred.ClientID) > 200 {
		return Authenticated{}, invalidClient("no client id")
	}
	app, err := ApplicationByClientID(ctx, c.db, instanceID, cred.ClientID)
	if failure.Is(err, failure.KindNotFound) {
		return Authenticated{}, invalidClient("unknown client")
	}
	if err != nil {
		return Authenticated{}, err
	}
	if app.Public {
		if cred.Secret != "" || cred.Method != oauth.AuthNone {
			return Authenticated{}, invalidClient("a public client presented a secret")
		}
	} else {
		if cred.Secret == "" || cred.Method == oauth.AuthNone {
			return Authenticated{}, invalidClient("a confidential client presented no secret")
		}
		if !c.checkSecret(instanceID, app, cred.Secret) {
			return Authenticated{}, invalidClient("wrong or expired secret")
		}
	}
	state, err := org.StateOf(ctx, c.db, instanceID, app.OrgID)
	if err != nil && !failure.Is(err, failure.KindNotFound) {
		return Authenticated{}, err
	}
	if state != org.StateActive {
		return Authenticated{}, invalidClient("the client's organization is not active")
	}
	return Authenticated{app: app, method: cred.Method}, nil
}

// checkSecret compares secret with every valid secret of app in constant
// time (per secret).
func (c *Clients) checkSecret(instanceID string, app Application, secret string) bool {
	if !plausibleSecret(secret) {
		return false
	}
	now := c.now()
	ok := false
	for _, s := range app.Secrets {
		h, err := c.hasher.hash(s.keyID, instanceID, app.ClientID, secret)
		if err == nil && hmac.Equal(h, s.hash) && s.ValidAt(now) {
			ok = true
		}
	}
	return ok
}
