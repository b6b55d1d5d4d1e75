package client

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/dpop"
)

// DPoPResourceConfig configures a [DPoPResource].
type DPoPResourceConfig struct {
	// Issuer is the issuer of the Castellan instance whose JWT access
	// tokens are accepted, such as https://login.example.com; its
	// discovery document names the keys the tokens are signed with.
	Issuer string
	// Audience, when set, must be one of a token's aud: the project id,
	// or the resource URI of the API (RFC 8707).
	Audience string
	// BaseURL is the scheme, host and port clients call the protected
	// API by (https://api.example.com), which DPoP proofs name in htu
	// with the request's path. "" takes them from the request: https when
	// it came over TLS, and its Host — set it behind a proxy.
	BaseURL string
	// AllowBearer also accepts tokens that are not DPoP-bound, as Bearer
	// tokens. A DPoP-bound token is never accepted as a bearer token.
	AllowBearer bool
	// HTTPClient fetches the discovery document and the keys; nil for a
	// client with a 10-second timeout.
	HTTPClient *http.Client
	// MaxProofs bounds the proofs remembered to refuse their replay
	// (default 100,000); when it is full of unexpired proofs, requests
	// are answered 503 rather than replays let through.
	MaxProofs int
	// Now is the clock; nil for time.Now.
	Now func() time.Time
}

// DPoPToken is a verified access token, as DPoPResource hands it to the
// protected handler (DPoPTokenFrom).
type DPoPToken struct {
	Subject  string
	ClientID string
	Scope    string
	Audience []string
	Expiry   time.Time
	ID       string
	// JKT is the thumbprint of the key the token is bound to, "" for a
	// bearer token (AllowBearer).
	JKT string
	// Claims are all of the token's claims, the roles among them.
	Claims map[string]any
}

// DPoPResource is a resource server's check of Castellan access tokens
// and their DPoP binding (RFC 9449 section 7): as middleware (Handler) it
// accepts a request only with "Authorization: DPoP <token>", a JWT access
// token (RFC 9068) of Issuer, signed by one of its published keys,
// unexpired, for Audience, bound by cnf.jkt to the key of the request's
// one DPoP proof — whose signature, typ, htm, htu, iat and ath are
// checked, and whose jti was not seen before by this process within the
// proof's lifetime. Everything else is answered 401 with a DPoP challenge
// (or 503 when the keys cannot be fetched), before the handler runs.
//
// It checks JWT access tokens only (an application with opaque tokens
// needs introspection), it keeps the proofs it saw in the memory of one
// process (replicas of an API behind a load balancer each refuse replays
// of the proofs they saw; a proof is valid for 60 seconds), and it does
// not demand server nonces. Revocation is not checked: the token's
// lifetime bounds it.
type DPoPResource struct {
	cfg  DPoPResourceConfig
	http *http.Client
	now  func() time.Time

	// keysMu guards the key set, mu the proofs seen.
	keysMu    sync.Mutex
	keys      jose.JSONWebKeySet
	fetchedAt time.Time
	mu        sync.Mutex
	seen      map[[32]byte]time.Time
}

// NewDPoPResource returns the check of cfg; the keys are fetched at the
// first request.
func NewDPoPResource(cfg DPoPResourceConfig) (*DPoPResource, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("client: DPoPResourceConfig.Issuer is required")
	}
	cfg.Issuer = strings.TrimSuffix(cfg.Issuer, "/")
	if cfg.MaxProofs <= 0 {
		cfg.MaxProofs = 100000
	}
	d := &DPoPResource{cfg: cfg, http: cfg.HTTPClient, now: cfg.Now, seen: map[[32]byte]time.Time{}}
	if d.http == nil {
		d.http = &http.Client{Timeout: 10 * time.Second}
	}
	if d.now == nil {
		d.now = time.Now
	}
	return d, nil
}

type dpopTokenKey struct{}

// DPoPTokenFrom returns the token DPoPResource.Handler verified for the
// request of ctx.
func DPoPTokenFrom(ctx context.Context) (*DPoPToken, bool) {
	t, ok := ctx.Value(dpopTokenKey{}).(*DPoPToken)
	return t, ok
}

// Handler protects next: only requests whose token and proof Verify
// accepts reach it, with the token in their context (DPoPTokenFrom).
func (d *DPoPResource) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := d.Verify(r)
		if err != nil {
			d.refuse(w, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), dpopTokenKey{}, tok)))
	})
}

// DPoPError is why DPoPResource refused a request: Code is the error of
// the challenge (invalid_token, invalid_dpop_proof, invalid_request), or
// "" with Status 503 when the issuer's keys could not be had.
type DPoPError struct {
	Status      int
	Code        string
	Description string
}

func (e *DPoPError) Error() string { return "client: " + e.Code + ": " + e.Description }

func refused(code, format string, args ...any) *DPoPError {
	return &DPoPError{Status: http.StatusUnauthorized, Code: code, Description: fmt.Sprintf(format, args...)}
}

func (d *DPoPResource) refuse(w http.ResponseWriter, err error) {
	var e *DPoPError
	if !errors.As(err, &e) {
		e = &DPoPError{Status: http.StatusServiceUnavailable, Description: err.Error()}
	}
	challenge := dpop.Scheme + ` algs="` + strings.Join(dpop.AlgorithmNames(), " ") + `"`
	if e.Code != "" {
		challenge += `, error="` + e.Code + `"`
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", challenge)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(struct {
		Error       string `json:"error,omitempty"`
		Description string `json:"error_description,omitempty"`
	}{e.Code, e.Description})
}

// maxTokenBytes bounds the access token of a request.
const maxTokenBytes = 8192

// tokenAlgorithms are the algorithms Castellan signs access tokens with.
var tokenAlgorithms = []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA, jose.PS256}

type accessClaims struct {
	jwt.Claims
	ClientID string              `json:"client_id"`
	Scope    string              `json:"scope"`
	Cnf      *oauth.Confirmation `json:"cnf"`
}

// Verify checks the token and DPoP proof of a request (see
// DPoPResource); a refusal is a *DPoPError.
func (d *DPoPResource) Verify(r *http.Request) (*DPoPToken, error) {
	scheme, raw, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	raw = strings.TrimSpace(raw)
	isDPoP := strings.EqualFold(scheme, dpop.Scheme)
	switch {
	case raw == "" || !isDPoP && !strings.EqualFold(scheme, "Bearer"):
		return nil, refused("", "an access token is required, as Authorization: DPoP <token>")
	case len(raw) > maxTokenBytes:
		return nil, refused(oauth.InvalidToken, "the access token exceeds %d bytes", maxTokenBytes)
	}
	tok, err := d.verifyToken(r.Context(), raw)
	if err != nil {
		return nil, err
	}
	switch {
	case tok.JKT != "" && !isDPoP:
		return nil, refused(oauth.InvalidToken, "the access token is DPoP-bound: present it with Authorization: DPoP and a DPoP proof")
	case tok.JKT == "" && isDPoP:
		return nil, refused(oauth.InvalidToken, "the access token is not DPoP-bound")
	case tok.JKT == "" && !d.cfg.AllowBearer:
		return nil, refused(oauth.InvalidToken, "only DPoP-bound access tokens are accepted")
	case tok.JKT == "":
		return tok, nil
	}
	proofs := r.Header.Values(dpop.HeaderProof)
	if len(proofs) != 1 {
		return nil, refused(dpop.InvalidProof, "the request must have one DPoP header")
	}
	proof, err := dpop.Parse(proofs[0], dpop.Target{Method: r.Method, URL: d.requestURL(r), AccessToken: raw}, d.now())
	if e := oauth.AsError(err); e != nil {
		return nil, refused(e.Code, "%s", e.Description)
	}
	if subtle.ConstantTimeCompare([]byte(proof.JKT), []byte(tok.JKT)) != 1 {
		return nil, refused(dpop.InvalidProof, "the DPoP proof is signed by another key than the access token is bound to")
	}
	if err := d.remember(proof); err != nil {
		return nil, err
	}
	return tok, nil
}

// requestURL is the URL a proof for r names in htu.
func (d *DPoPResource) requestURL(r *http.Request) string {
	if d.cfg.BaseURL != "" {
		return strings.TrimSuffix(d.cfg.BaseURL, "/") + r.URL.Path
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.Path
}

// remember records a proof's jti until it expires; one seen before is
// refused.
func (d *DPoPResource) remember(p dpop.Proof) error {
	k := sha256.Sum256([]byte(p.JKT + "\x00" + p.JTI))
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if until, ok := d.seen[k]; ok && now.Before(until) {
		return refused(dpop.InvalidProof, "the DPoP proof was used before (jti replayed)")
	}
	if len(d.seen) >= d.cfg.MaxProofs {
		for k, until := range d.seen {
			if !now.Before(until) {
				delete(d.seen, k)
			}
		}
		if len(d.seen) >= d.cfg.MaxProofs {
			return &DPoPError{Status: http.StatusServiceUnavailable, Description: "too many DPoP proofs to remember; retry shortly"}
		}
	}
	d.seen[k] = p.IssuedAt.Add(dpop.Lifetime + dpop.Skew)
	return nil
}

// verifyToken checks a JWT access token of the issuer: typ at+jwt, a
// signature by a published key with that key's algorithm, iss, exp, aud.
func (d *DPoPResource) verifyToken(ctx context.Context, raw string) (*DPoPToken, error) {
	parsed, err := jwt.ParseSigned(raw, tokenAlgorithms)
	if err != nil {
		return nil, refused(oauth.InvalidToken, "the access token is not a JWT signed with %v", tokenAlgorithms)
	}
	h := parsed.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return nil, refused(oauth.InvalidToken, "the token is not an access token (typ %q)", typ)
	}
	key, err := d.key(ctx, h.KeyID)
	if err != nil {
		return nil, err
	}
	if key.Algorithm != "" && key.Algorithm != h.Algorithm {
		return nil, refused(oauth.InvalidToken, "the access token's algorithm is not its key's")
	}
	var c accessClaims
	var all map[string]any
	if err := parsed.Claims(key.Key, &c, &all); err != nil {
		return nil, refused(oauth.InvalidToken, "the access token's signature does not verify")
	}
	now := d.now()
	switch {
	case c.Issuer != d.cfg.Issuer:
		return nil, refused(oauth.InvalidToken, "the access token is of another issuer")
	case c.Expiry == nil || !now.Before(c.Expiry.Time()):
		return nil, refused(oauth.InvalidToken, "the access token expired")
	case d.cfg.Audience != "" && !slices.Contains([]string(c.Audience), d.cfg.Audience):
		return nil, refused(oauth.InvalidToken, "the access token is not for this API")
	}
	t := &DPoPToken{Subject: c.Subject, ClientID: c.ClientID, Scope: c.Scope, Audience: c.Audience, Expiry: c.Expiry.Time(), ID: c.ID, Claims: all}
	if c.Cnf != nil {
		t.JKT = c.Cnf.JKT
	}
	return t, nil
}

// keysRefetch bounds how often an unknown key id refetches the keys.
const keysRefetch = 10 * time.Second

// maxDocumentBytes bounds the discovery document and the key set.
const maxDocumentBytes = 1 << 20

// key returns the issuer's published key kid, fetching the key set when
// it does not have it (at most every keysRefetch).
func (d *DPoPResource) key(ctx context.Context, kid string) (jose.JSONWebKey, error) {
	d.keysMu.Lock()
	defer d.keysMu.Unlock()
	if ks := d.keys.Key(kid); len(ks) > 0 {
		return ks[0], nil
	}
	if !d.fetchedAt.IsZero() && d.now().Sub(d.fetchedAt) < keysRefetch {
		return jose.JSONWebKey{}, refused(oauth.InvalidToken, "the access token is signed with an unknown key")
	}
	d.fetchedAt = d.now()
	var meta struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := d.getJSON(ctx, d.cfg.Issuer+"/.well-known/openid-configuration", &meta); err != nil {
		return jose.JSONWebKey{}, err
	}
	if meta.Issuer != d.cfg.Issuer || meta.JWKSURI == "" {
		return jose.JSONWebKey{}, fmt.Errorf("client: the discovery document of %s names issuer %q and jwks_uri %q", d.cfg.Issuer, meta.Issuer, meta.JWKSURI)
	}
	var ks jose.JSONWebKeySet
	if err := d.getJSON(ctx, meta.JWKSURI, &ks); err != nil {
		return jose.JSONWebKey{}, err
	}
	d.keys = ks
	if found := ks.Key(kid); len(found) > 0 {
		return found[0], nil
	}
	return jose.JSONWebKey{}, refused(oauth.InvalidToken, "the access token is signed with an unknown key")
}

func (d *DPoPResource) getJSON(ctx context.Context, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return fmt.Errorf("client: fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("client: fetch %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return fmt.Errorf("client: fetch %s: %w", url, err)
	}
	if len(b) > maxDocumentBytes {
		return fmt.Errorf("client: %s exceeds %d bytes", url, maxDocumentBytes)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("client: %s: %w", url, err)
	}
	return nil
}
