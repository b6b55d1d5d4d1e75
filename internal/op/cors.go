package op

import (
	"net/http"
	"net/url"

	"github.com/castellan-iam/castellan/internal/oauth/client"
)

// Cross-origin requests from browser applications (single-page
// applications, public clients with PKCE). Never with credentials: the
// provider's answers depend on bearer tokens and client credentials in
// the request, never on cookies, so no Access-Control-Allow-Credentials.
//
//   - discovery and the key set are public: any origin;
//   - userinfo takes a bearer token: any origin, with the Authorization
//     header allowed by the preflight;
//   - the token and revocation endpoints answer a client's origin only:
//     an origin of one of its registered redirect URIs (what Keycloak calls
//     web origins, derived rather than registered twice). A form POST
//     needs no preflight; a browser client authenticates with none.

// corsMaxAge is how long a browser may cache a preflight's answer.
const corsMaxAge = "600"

// allowAnyOrigin answers a public endpoint's cross-origin requests.
func allowAnyOrigin(w http.ResponseWriter) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
}

// preflight answers the preflight of userinfo: GET and POST, with the
// Authorization, Content-Type and DPoP headers.
func (p *Provider) preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, DPoP")
	h.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
}

// allowClientOrigin lets the request's Origin read the answer when it is
// the origin of one of the application's redirect URIs.
func allowClientOrigin(w http.ResponseWriter, r *http.Request, app client.Application) {
	origin := r.Header.Get("Origin")
	if origin == "" || len(origin) > 300 {
		return
	}
	w.Header().Add("Vary", "Origin")
	for _, uri := range app.RedirectURIs {
		u, err := url.Parse(uri)
		if err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Scheme+"://"+u.Host == origin {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			return
		}
	}
}
