package client

import (
	"context"
	"crypto/hmac"
	"crypto/x509"
	"errors"
	"sync"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/org"
)

// CacheTTL is how long a replica uses an application (its settings, its
// secrets' hashes, its organization's state) it read for client
// authentication before reading it again: a secret removed, or an
// organization deactivated, on another replica (or by a command of this
// one) stops authenticating here at most this much later. A token grant
// thus reads the database about once per client per second, not once per
// request.
const CacheTTL = time.Second

// maxCached bounds the cache; past it, it starts empty again.
const maxCached = 10000

// Clients authenticates clients for the provider's endpoints. It is safe
// for concurrent use.
type Clients struct {
	db     *database.DB
	hasher *hasher
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]cachedClient // instance NUL client id

	assertions Assertions

	// trustSets verify tls_client_auth chains; refusals reports
	// certificate refusals (WithCertificates).
	trustSets CertificateVerifier
	refusals  func(ctx context.Context, instanceID string, app Application, cert *x509.Certificate, reason string)
}

// WithCertificates enables the RFC 8705 methods: trustSets verifies
// tls_client_auth chains, and refused (which may be nil) hears the precise
// reason of every certificate refused, for the log and the audit trail.
func (c *Clients) WithCertificates(trustSets CertificateVerifier, refused func(ctx context.Context, instanceID string, app Application, cert *x509.Certificate, reason string)) *Clients {
	c.trustSets, c.refusals = trustSets, refused
	return c
}

type cachedClient struct {
	app       Application
	orgActive bool
	until     time.Time
}

// NewClients returns the client authenticator; now may be nil (time.Now).
func NewClients(db *database.DB, ring KeyDeriver, now func() time.Time) *Clients {
	if now == nil {
		now = time.Now
	}
	return &Clients{db: db, hasher: newHasher(ring), now: now, cache: map[string]cachedClient{}, assertions: Assertions{db: db}}
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
	cached, fresh, err := c.load(ctx, instanceID, cred.ClientID, false)
	if err == nil && isCertificateMethod(cached.app.AuthMethod) {
		return c.authenticateCertificate(ctx, instanceID, cached, fresh, cred)
	}
	if cred.Method == oauth.AuthPrivateKeyJWT {
		if failure.Is(err, failure.KindNotFound) {
			return Authenticated{}, invalidClient("unknown client")
		}
		if err != nil {
			return Authenticated{}, err
		}
		err = c.checkAssertion(ctx, instanceID, cached.app, cred.Assertion, cred.Audiences)
		if err != nil && !fresh && !errors.Is(err, errReplay) {
			// Keys registered since the cache was filled count at once.
			if cached, _, err = c.load(ctx, instanceID, cred.ClientID, true); err == nil {
				err = c.checkAssertion(ctx, instanceID, cached.app, cred.Assertion, cred.Audiences)
			}
		}
		if err != nil {
			return Authenticated{}, err
		}
		if !cached.orgActive {
			return Authenticated{}, invalidClient("the client's organization is not active")
		}
		return Authenticated{app: cached.app, method: cred.Method}, nil
	}
	if err == nil && !fresh && c.check(instanceID, cached, cred) != nil {
		// A secret added since the cache was filled is valid at once.
		cached, _, err = c.load(ctx, instanceID, cred.ClientID, true)
	}
	if failure.Is(err, failure.KindNotFound) {
		return Authenticated{}, invalidClient("unknown client")
	}
	if err != nil {
		return Authenticated{}, err
	}
	if err := c.check(instanceID, cached, cred); err != nil {
		return Authenticated{}, err
	}
	return Authenticated{app: cached.app, method: cred.Method}, nil
}

// check checks credentials against a client as read.
func (c *Clients) check(instanceID string, cached cachedClient, cred Credentials) error {
	app := cached.app
	if app.Public {
		if cred.Secret != "" || cred.Method != oauth.AuthNone {
			return invalidClient("a public client presented a secret")
		}
	} else {
		if app.AuthMethod == oauth.AuthPrivateKeyJWT {
			return invalidClient("the client authenticates with private_key_jwt, not a secret")
		}
		if cred.Secret == "" || cred.Method == oauth.AuthNone {
			return invalidClient("a confidential client presented no secret")
		}
		if !c.checkSecret(instanceID, app, cred.Secret) {
			return invalidClient("wrong or expired secret")
		}
	}
	if !cached.orgActive {
		return invalidClient("the client's organization is not active")
	}
	return nil
}

// load returns the application of a client and whether its organization
// is active, from the cache while it is fresh unless reload; fresh
// reports that it was read now.
func (c *Clients) load(ctx context.Context, instanceID, clientID string, reload bool) (e cachedClient, fresh bool, err error) {
	key := instanceID + "\x00" + clientID
	now := c.now()
	c.mu.Lock()
	e, ok := c.cache[key]
	c.mu.Unlock()
	if ok && !reload && now.Before(e.until) {
		return e, false, nil
	}
	app, err := ApplicationByClientID(ctx, c.db, instanceID, clientID)
	if err != nil {
		return cachedClient{}, true, err
	}
	state, err := org.StateOf(ctx, c.db, instanceID, app.OrgID)
	if err != nil && !failure.Is(err, failure.KindNotFound) {
		return cachedClient{}, true, err
	}
	e = cachedClient{app: app, orgActive: state == org.StateActive, until: now.Add(CacheTTL)}
	c.mu.Lock()
	if len(c.cache) >= maxCached {
		c.cache = map[string]cachedClient{}
	}
	c.cache[key] = e
	c.mu.Unlock()
	return e, true, nil
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

// Lookup returns the application of a client id for the authorization
// endpoint, where the client does not authenticate: an unknown client, or
// one of an organization that is not active, is failure.NotFound.
func (c *Clients) Lookup(ctx context.Context, instanceID, clientID string) (Application, error) {
	if clientID == "" || len(clientID) > 200 {
		return Application{}, failure.NotFound("unknown client")
	}
	e, _, err := c.load(ctx, instanceID, clientID, false)
	if err != nil {
		return Application{}, err
	}
	if !e.orgActive || e.app.Kind != KindOIDC {
		return Application{}, failure.NotFound("unknown client")
	}
	return e.app, nil
}

// isCertificateMethod reports whether method is one of RFC 8705's.
func isCertificateMethod(method string) bool {
	return method == oauth.AuthTLSClientAuth || method == oauth.AuthSelfSignedTLSClientAuth
}

// authenticateCertificate authenticates a client of an RFC 8705 method:
// it presents its client_id alone (no secret, no assertion) over a
// connection with its certificate. A refusal is reported with its precise
// reason; the client sees invalid_client.
func (c *Clients) authenticateCertificate(ctx context.Context, instanceID string, cached cachedClient, fresh bool, cred Credentials) (Authenticated, error) {
	app := cached.app
	if cred.Method != oauth.AuthNone || cred.Secret != "" {
		return Authenticated{}, invalidClient("the client authenticates with " + app.AuthMethod + ", not " + cred.Method)
	}
	err := c.checkCertificate(ctx, instanceID, app, cred.Chain)
	var r *refusal
	if errors.As(err, &r) && !fresh && len(cred.Chain) > 0 {
		// A certificate or subject registered since the cache was filled
		// counts at once.
		if cached, _, err = c.load(ctx, instanceID, cred.ClientID, true); err != nil {
			return Authenticated{}, err
		}
		if app = cached.app; !isCertificateMethod(app.AuthMethod) {
			return Authenticated{}, invalidClient("the client no longer authenticates with a certificate")
		}
		err = c.checkCertificate(ctx, instanceID, app, cred.Chain)
	}
	if errors.As(err, &r) {
		var leaf *x509.Certificate
		if len(cred.Chain) > 0 {
			leaf = cred.Chain[0]
		}
		if c.refusals != nil {
			c.refusals(ctx, instanceID, app, leaf, r.reason)
		}
		return Authenticated{}, invalidClient(app.AuthMethod + ": " + r.reason)
	}
	if err != nil {
		return Authenticated{}, err
	}
	if !cached.orgActive {
		return Authenticated{}, invalidClient("the client's organization is not active")
	}
	return Authenticated{app: app, method: app.AuthMethod, cert: cred.Chain[0]}, nil
}
