package client

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// AccessTokenOptions configure RequireAccessToken: how an API protected by
// Castellan verifies the access tokens it is called with.
type AccessTokenOptions struct {
	// Issuer is the issuer of the tokens (the instance's URL); its
	// discovery document names the JWKS and the introspection endpoint.
	Issuer string
	// Audience, when set, must be one of a token's audiences: the API's
	// project id or resource URI.
	Audience string
	// ClientID and ClientSecret authenticate the API application at the
	// introspection endpoint (client_secret_basic), for opaque tokens;
	// without them only JWT access tokens are accepted.
	ClientID, ClientSecret string
	// HTTPClient fetches discovery and keys and introspects; nil for
	// http.DefaultClient.
	HTTPClient *http.Client
	// Certificate returns the TLS client certificate of a request, for
	// certificate-bound tokens (RFC 8705 section 3); nil reads the
	// request's TLS connection. Behind a reverse proxy, return the
	// certificate the proxy forwarded (and only from the proxy).
	Certificate func(r *http.Request) (*x509.Certificate, error)
	// RequireCertificateBound refuses bearer tokens: only tokens bound to
	// the request's certificate pass.
	RequireCertificateBound bool
}

// AccessToken is what RequireAccessToken verified of a request's token,
// for the handler (AccessTokenFrom).
type AccessToken struct {
	Subject  string
	ClientID string
	Scope    string
	Audience []string
	Expiry   time.Time
	// CertificateThumbprint is the x5t#S256 the token is bound to, ""
	// for a bearer token.
	CertificateThumbprint string
	// Claims are all the claims (or the introspection response's
	// members).
	Claims map[string]any
}

type accessTokenKey struct{}

// AccessTokenFrom returns the verified access token of a request that
// passed RequireAccessToken.
func AccessTokenFrom(ctx context.Context) (*AccessToken, bool) {
	t, ok := ctx.Value(accessTokenKey{}).(*AccessToken)
	return t, ok
}

// RequireAccessToken returns middleware that lets a request through only
// with a valid Castellan access token in its Authorization header (RFC
// 6750): a JWT (RFC 9068) is verified with the issuer's published keys, an
// opaque token is introspected (RFC 7662). A token bound to a certificate
// (cnf x5t#S256) passes only with that certificate on the request. Anything
// else is 401 with WWW-Authenticate: Bearer error="invalid_token".
func RequireAccessToken(opts AccessTokenOptions) func(http.Handler) http.Handler {
	v := &tokenVerifier{opts: opts, hc: opts.HTTPClient}
	if v.hc == nil {
		v.hc = http.DefaultClient
	}
	if v.opts.Certificate == nil {
		v.opts.Certificate = func(r *http.Request) (*x509.Certificate, error) {
			if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
				return nil, nil
			}
			return r.TLS.PeerCertificates[0], nil
		}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t, err := v.verify(r)
			if err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+strings.ReplaceAll(err.Error(), `"`, `'`)+`"`)
				http.Error(w, "invalid_token: "+err.Error(), http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), accessTokenKey{}, t)))
		})
	}
}

// tokenVerifier verifies tokens of one issuer; it caches the discovery
// document and the key set (refetched for an unknown key at most once a
// minute).
type tokenVerifier struct {
	opts AccessTokenOptions
	hc   *http.Client

	mu          sync.Mutex
	meta        *discoveryDoc
	keys        jose.JSONWebKeySet
	keysFetched time.Time
}

type discoveryDoc struct {
	Issuer        string `json:"issuer"`
	JWKSURI       string `json:"jwks_uri"`
	Introspection string `json:"introspection_endpoint"`
}

const maxResponseBytes = 1 << 20

func (v *tokenVerifier) getJSON(req *http.Request, out any) error {
	resp, err := v.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", req.URL, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, maxResponseBytes)).Decode(out)
}

func (v *tokenVerifier) discovery(ctx context.Context) (*discoveryDoc, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.meta != nil {
		return v.meta, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(v.opts.Issuer, "/")+"/.well-known/openid-configuration", nil)
	if err != nil {
		return nil, err
	}
	var d discoveryDoc
	if err := v.getJSON(req, &d); err != nil {
		return nil, err
	}
	if d.Issuer != v.opts.Issuer {
		return nil, fmt.Errorf("the discovery document names issuer %q, not %q", d.Issuer, v.opts.Issuer)
	}
	v.meta = &d
	return v.meta, nil
}

// key returns the published key kid, fetching the key set when it does
// not know it (at most once a minute).
func (v *tokenVerifier) key(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	meta, err := v.discovery(ctx)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if k := v.keys.Key(kid); len(k) > 0 {
		return &k[0], nil
	}
	if time.Since(v.keysFetched) < time.Minute && !v.keysFetched.IsZero() {
		return nil, errors.New("unknown signing key")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, meta.JWKSURI, nil)
	if err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	if err := v.getJSON(req, &set); err != nil {
		return nil, err
	}
	v.keys, v.keysFetched = set, time.Now()
	if k := v.keys.Key(kid); len(k) > 0 {
		return &k[0], nil
	}
	return nil, errors.New("unknown signing key")
}

type tokenClaims struct {
	Issuer   string           `json:"iss"`
	Subject  string           `json:"sub"`
	Audience jwt.Audience     `json:"aud"`
	Expiry   *jwt.NumericDate `json:"exp"`
	ClientID string           `json:"client_id"`
	Scope    string           `json:"scope"`
	Active   *bool            `json:"active"`
	Cnf      *struct {
		X5TS256 string `json:"x5t#S256"`
	} `json:"cnf"`
}

func (v *tokenVerifier) verify(r *http.Request) (*AccessToken, error) {
	scheme, raw, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	raw = strings.TrimSpace(raw)
	if !strings.EqualFold(scheme, "Bearer") || raw == "" || len(raw) > 16<<10 {
		return nil, errors.New("a Bearer access token is required")
	}
	var c tokenClaims
	all := map[string]any{}
	if strings.Count(raw, ".") == 2 {
		tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA, jose.PS256})
		if err != nil {
			return nil, errors.New("the token is not a JWT")
		}
		h := tok.Headers[0]
		if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
			return nil, errors.New("the token is not a JWT access token")
		}
		key, err := v.key(r.Context(), h.KeyID)
		if err != nil {
			return nil, err
		}
		if err := tok.Claims(key.Key, &c, &all); err != nil {
			return nil, errors.New("the token's signature does not verify")
		}
		if c.Expiry == nil || !time.Now().Before(c.Expiry.Time()) {
			return nil, errors.New("the token expired")
		}
	} else {
		if err := v.introspect(r.Context(), raw, &c, &all); err != nil {
			return nil, err
		}
	}
	if c.Issuer != v.opts.Issuer {
		return nil, errors.New("the token is of another issuer")
	}
	if v.opts.Audience != "" && !slices.Contains([]string(c.Audience), v.opts.Audience) {
		return nil, errors.New("the token is not meant for this API")
	}
	t := &AccessToken{Subject: c.Subject, ClientID: c.ClientID, Scope: c.Scope, Audience: c.Audience, Claims: all}
	if c.Expiry != nil {
		t.Expiry = c.Expiry.Time()
	}
	if c.Cnf != nil {
		t.CertificateThumbprint = c.Cnf.X5TS256
	}
	if err := v.checkBinding(r, t); err != nil {
		return nil, err
	}
	return t, nil
}

// checkBinding checks a certificate-bound token against the request's
// certificate (RFC 8705 section 3.2).
func (v *tokenVerifier) checkBinding(r *http.Request, t *AccessToken) error {
	if t.CertificateThumbprint == "" {
		if v.opts.RequireCertificateBound {
			return errors.New("the token is not bound to a certificate")
		}
		return nil
	}
	cert, err := v.opts.Certificate(r)
	if err != nil || cert == nil {
		return errors.New("the token is bound to a certificate the request did not present")
	}
	sum := sha256.Sum256(cert.Raw)
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(t.CertificateThumbprint)) != 1 {
		return errors.New("the token is bound to another certificate")
	}
	return nil
}

// introspect asks the issuer about an opaque token (RFC 7662).
func (v *tokenVerifier) introspect(ctx context.Context, raw string, c *tokenClaims, all *map[string]any) error {
	if v.opts.ClientID == "" {
		return errors.New("opaque tokens are not accepted")
	}
	meta, err := v.discovery(ctx)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, meta.Introspection, strings.NewReader(url.Values{"token": {raw}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(v.opts.ClientID), url.QueryEscape(v.opts.ClientSecret))
	var body json.RawMessage
	if err := v.getJSON(req, &body); err != nil {
		return fmt.Errorf("introspection: %w", err)
	}
	if err := json.Unmarshal(body, c); err != nil {
		return err
	}
	if err := json.Unmarshal(body, all); err != nil {
		return err
	}
	if c.Active == nil || !*c.Active {
		return errors.New("the token is not active")
	}
	return nil
}

// AccessTokenFromRequest is AccessTokenFrom of the request's context.
func AccessTokenFromRequest(r *http.Request) (*AccessToken, bool) {
	return AccessTokenFrom(r.Context())
}
