package op

import (
	"net/http"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/oauth/dpop"
)

// DPoP (RFC 9449) at the provider's endpoints:
//
//   - token endpoint (every grant) and PAR: a DPoP header is checked
//     (dpop.Checker: proof, nonce, replay) for POST to the endpoint's URL;
//     the grant then binds what it issues to the proof's key. An
//     application with DPoP.Required gets nothing without a proof.
//   - userinfo: "Authorization: DPoP <token>" with a proof whose ath is
//     the token's hash and whose key is the token's cnf.jkt. A token with
//     cnf.jkt is refused as a bearer token.
//
// A client whose application requires nonces gets a fresh one in
// DPoP-Nonce with every answer of these endpoints, and use_dpop_nonce
// (400 at the token endpoint and PAR, 401 with a DPoP challenge at
// userinfo) when its proof has none or an expired one.

// proofOf checks the DPoP proof of a request to the token endpoint at
// endpoint, of the client app: nil when there is none and app does
// not require one. Errors are *oauth.Error for the client, or the replay
// store's.
//
// A FAPI 2.0 client gets sender-constrained tokens only: it must present a
// proof unless it binds its tokens to its TLS client certificate (then a
// request without a certificate is refused by the grant).
func (p *Provider) proofOf(w http.ResponseWriter, r *http.Request, instanceID, endpoint string, app client.Application) (*dpop.Proof, error) {
	if app.FAPI && !app.CertificateBoundTokens && len(r.Header.Values(dpop.HeaderProof)) == 0 {
		if app.DPoP.NonceRequired && p.d.DPoP != nil {
			p.sendNonce(w, instanceID)
		}
		return nil, oauth.Errorf(dpop.InvalidProof, "this client follows FAPI 2.0, whose tokens are sender-constrained: present a DPoP proof (RFC 9449), or bind its tokens to its TLS client certificate (RFC 8705)")
	}
	proof, err := p.checkProof(w, r, instanceID, dpop.Target{Method: r.Method, URL: endpoint}, app.DPoP.NonceRequired, app.DPoP.Required)
	if err == nil {
		err = fapiProof(app, proof)
	}
	if err != nil {
		return nil, err
	}
	return proof, nil
}

// fapiProof refuses a DPoP proof of a FAPI 2.0 client signed with another
// algorithm than PS256, ES256 or EdDSA (FAPI 2.0 Security Profile section
// 5.4.1: no RSASSA-PKCS1-v1_5, no ES384/ES512 either).
func fapiProof(app client.Application, proof *dpop.Proof) error {
	if !app.FAPI || proof == nil || slices.Contains(client.FAPIAlgorithms, jose.SignatureAlgorithm(proof.Algorithm)) {
		return nil
	}
	return oauth.Errorf(dpop.InvalidProof, "this client follows FAPI 2.0: its DPoP proofs must be signed with PS256, ES256 or EdDSA, not %s", proof.Algorithm)
}

// checkProof checks the DPoP header of r for target t. A missing header
// is nil, or invalid_dpop_proof when required.
func (p *Provider) checkProof(w http.ResponseWriter, r *http.Request, instanceID string, t dpop.Target, nonceRequired, required bool) (*dpop.Proof, error) {
	values := r.Header.Values(dpop.HeaderProof)
	if p.d.DPoP == nil {
		if len(values) > 0 || required {
			return nil, oauth.Errorf(dpop.InvalidProof, "DPoP is not offered by this server")
		}
		return nil, nil
	}
	if nonceRequired {
		p.sendNonce(w, instanceID)
	}
	switch {
	case len(values) == 0 && required:
		return nil, oauth.Errorf(dpop.InvalidProof, "this client must present a DPoP proof (RFC 9449)")
	case len(values) == 0:
		return nil, nil
	case len(values) > 1:
		return nil, oauth.Errorf(dpop.InvalidProof, "the request has more than one DPoP header")
	}
	proof, err := p.d.DPoP.Check(r.Context(), instanceID, values[0], t, nonceRequired)
	if e := oauth.AsError(err); e != nil && e.Code == dpop.UseNonce {
		p.sendNonce(w, instanceID)
	}
	if err != nil {
		return nil, err
	}
	return &proof, nil
}

// sendNonce sets DPoP-Nonce to the instance's current nonce.
func (p *Provider) sendNonce(w http.ResponseWriter, instanceID string) {
	if w.Header().Get(dpop.HeaderNonce) != "" {
		return
	}
	n, err := p.d.DPoP.NonceFor(instanceID)
	if err != nil {
		p.d.Log.Error("DPoP nonce", "err", err)
		return
	}
	w.Header().Set(dpop.HeaderNonce, n)
	w.Header().Add("Access-Control-Expose-Headers", dpop.HeaderNonce)
}

// tokenPreflight answers the preflight of a browser client's token
// request with a DPoP header (a form POST alone needs none). It may
// answer any origin: the token response itself is readable only by the
// client's own origins (allowClientOrigin).
func tokenPreflight(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" || len(origin) > 300 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", "POST")
	h.Set("Access-Control-Allow-Headers", "Content-Type, DPoP")
	h.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
}

// presentedToken is an access token as a protected resource received it:
// with the scheme it came with.
type presentedToken struct {
	raw string
	// dpop: "Authorization: DPoP"; else Bearer (header or form).
	dpop bool
}

// schemeOf splits an Authorization header value into its scheme and
// token.
func schemeOf(header string) (scheme, value string) {
	scheme, value, _ = strings.Cut(header, " ")
	return scheme, strings.TrimSpace(value)
}
