package op

import (
	"net/http"
	"strconv"

	"github.com/go-jose/go-jose/v4"

	"github.com/castellan-iam/castellan/internal/oauth/token"
)

// keys serves the instance's JWK Set (RFC 7517 section 5): the next,
// current and retired keys of every algorithm. Clients may cache it for
// token.KeySetMaxAge, and a key is published at least that long before it
// signs, so a cached set always holds the key of a fresh token; a client
// that meets an unknown kid fetches the set again anyway.
func (p *Provider) keys(w http.ResponseWriter, r *http.Request) {
	allowAnyOrigin(w)
	inst, _ := p.issuer(r)
	keys, err := p.d.Tokens.Keys().PublicKeys(r.Context(), inst.ID)
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys))}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.Public)
	}
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(token.KeySetMaxAge.Seconds())))
	w.Header().Set("Content-Type", "application/jwk-set+json")
	writeJSON(w, http.StatusOK, set)
}
