package dpop_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/dpop"
	"github.com/castellan-iam/castellan/internal/oauth/dpop/dpoptest"
)

const tokenURL = "https://login.example.com/oauth/v2/token"

func TestParse(t *testing.T) {
	now := time.Now()
	es := dpoptest.NewKey(t, jose.ES256)
	other := dpoptest.NewKey(t, jose.ES256)
	target := dpop.Target{Method: "POST", URL: tokenURL}
	ok := dpoptest.Claims{HTM: "POST", HTU: tokenURL}
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.PS256, jose.RS256, jose.EdDSA} {
		t.Run("ok/"+string(alg), func(t *testing.T) {
			k := dpoptest.NewKey(t, alg)
			p, err := dpop.Parse(k.Proof(t, ok), target, now)
			if err != nil {
				t.Fatal(err)
			}
			if p.JKT != k.JKT(t) || p.JTI == "" {
				t.Fatalf("proof %+v, want jkt %s", p, k.JKT(t))
			}
		})
	}
	tests := []struct {
		name   string
		raw    string
		target dpop.Target
		want   string
	}{
		{"ok/htu normalised: case, default port, dot segments", es.Proof(t, dpoptest.Claims{HTM: "POST", HTU: "HTTPS://Login.Example.com:443/oauth/v2/./token"}), target, ""},
		{"ok/htu query and fragment ignored", es.Proof(t, dpoptest.Claims{HTM: "POST", HTU: tokenURL + "?a=b#c"}), target, ""},
		{"ok/ath of the token", es.Proof(t, dpoptest.Claims{HTM: "GET", HTU: tokenURL, AccessToken: "tok"}), dpop.Target{Method: "GET", URL: tokenURL, AccessToken: "tok"}, ""},
		{"ok/iat within the skew ahead", es.Proof(t, dpoptest.Claims{HTM: "POST", HTU: tokenURL, IAT: now.Add(5 * time.Second)}), target, ""},
		{"fail/empty", "", target, "empty"},
		{"fail/too long", strings.Repeat("a", dpop.MaxProofBytes+1), target, "exceeds"},
		{"fail/not a JWS", "a.b.c", target, "well-formed"},
		{"fail/wrong htm", es.Proof(t, dpoptest.Claims{HTM: "GET", HTU: tokenURL}), target, "htm"},
		{"fail/htm lower case", es.Proof(t, dpoptest.Claims{HTM: "post", HTU: tokenURL}), target, "htm"},
		{"fail/wrong htu path", es.Proof(t, dpoptest.Claims{HTM: "POST", HTU: "https://login.example.com/oauth/v2/introspect"}), target, "htu"},
		{"fail/wrong htu host", es.Proof(t, dpoptest.Claims{HTM: "POST", HTU: "https://evil.example.com/oauth/v2/token"}), target, "htu"},
		{"fail/wrong htu scheme", es.Proof(t, dpoptest.Claims{HTM: "POST", HTU: "http://login.example.com/oauth/v2/token"}), target, "htu"},
		{"fail/wrong htu port", es.Proof(t, dpoptest.Claims{HTM: "POST", HTU: "https://login.example.com:8443/oauth/v2/token"}), target, "htu"},
		{"fail/no htu", es.Proof(t, dpoptest.Claims{HTM: "POST"}), target, "htu"},
		{"fail/old iat", es.Proof(t, dpoptest.Claims{HTM: "POST", HTU: tokenURL, IAT: now.Add(-dpop.Lifetime - time.Second)}), target, "iat"},
		{"fail/future iat", es.Proof(t, dpoptest.Claims{HTM: "POST", HTU: tokenURL, IAT: now.Add(time.Minute)}), target, "iat"},
		{"fail/no iat", es.Proof(t, dpoptest.Claims{HTM: "POST", HTU: tokenURL, Extra: map[string]any{"iat": nil}}), target, "iat"},
		{"fail/iat a string", es.Proof(t, dpoptest.Claims{HTM: "POST", HTU: tokenURL, Extra: map[string]any{"iat": "now"}}), target, "claims"},
		{"fail/no jti", es.Proof(t, dpoptest.Claims{HTM: "POST", HTU: tokenURL, Extra: map[string]any{"jti": nil}}), target, "jti"},
		{"fail/long jti", es.Proof(t, dpoptest.Claims{HTM: "POST", HTU: tokenURL, JTI: strings.Repeat("j", 300)}), target, "jti"},
		{"fail/wrong typ", es.Proof(t, dpoptest.Claims{HTM: "POST", HTU: tokenURL, Typ: "JWT"}), target, "typ"},
		{"fail/no ath for a token", es.Proof(t, dpoptest.Claims{HTM: "GET", HTU: tokenURL}), dpop.Target{Method: "GET", URL: tokenURL, AccessToken: "tok"}, "ath"},
		{"fail/ath of another token", es.Proof(t, dpoptest.Claims{HTM: "GET", HTU: tokenURL, AccessToken: "other"}), dpop.Target{Method: "GET", URL: tokenURL, AccessToken: "tok"}, "ath"},
		{"fail/signed by another key than its jwk", es.ProofWithHeaderKey(t, other.JWK(), ok), target, "signature"},
		{"fail/private jwk", es.ProofWithHeaderKey(t, jose.JSONWebKey{Key: es.Private}, ok), target, "well-formed"},
		{"fail/symmetric jwk", es.ProofWithHeaderKey(t, jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef")}, ok), target, "well-formed"},
		{"fail/hmac", hmacProof(t), target, "well-formed"},
		{"fail/none", unsignedProof(), target, "well-formed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dpop.Parse(tt.raw, tt.target, now)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			e := oauth.AsError(err)
			if e == nil || e.Code != dpop.InvalidProof || !strings.Contains(e.Description, tt.want) {
				t.Fatalf("err = %v, want invalid_dpop_proof about %q", err, tt.want)
			}
		})
	}
}

func hmacProof(t *testing.T) string {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, (&jose.SignerOptions{}).WithType("dpop+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign([]byte(`{"jti":"x","htm":"POST","htu":"` + tokenURL + `","iat":` + strconv.FormatInt(time.Now().Unix(), 10) + `}`))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := jws.CompactSerialize()
	return raw
}

func unsignedProof() string {
	return "eyJhbGciOiJub25lIiwidHlwIjoiZHBvcCtqd3QifQ.eyJqdGkiOiJ4In0."
}

func TestSameURL(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		same bool
	}{
		{"https://a.example/x", "https://A.EXAMPLE/x", true},
		{"https://a.example", "https://a.example/", true},
		{"http://a.example:80/x", "http://a.example/x", true},
		{"https://a.example/a/../x", "https://a.example/x", true},
		{"https://a.example/%78", "https://a.example/x", true},
		{"https://a.example/x", "https://a.example/X", false},
		{"https://a.example/x/", "https://a.example/x", false},
		{"ftp://a.example/x", "ftp://a.example/x", false},
		{"https://user@a.example/x", "https://a.example/x", false},
		{"/x", "/x", false},
	} {
		if got := dpop.SameURL(tt.a, tt.b); got != tt.same {
			t.Errorf("SameURL(%q, %q) = %v", tt.a, tt.b, got)
		}
	}
}

// FuzzParse feeds the proof parser arbitrary headers: it must never
// panic, and whatever it accepts must be a proof for the target.
func FuzzParse(f *testing.F) {
	k := dpoptest.NewKey(f, jose.ES256)
	now := time.Now()
	f.Add(k.Proof(f, dpoptest.Claims{HTM: "POST", HTU: tokenURL, IAT: now}))
	f.Add(k.Proof(f, dpoptest.Claims{HTM: "GET", HTU: tokenURL, IAT: now, AccessToken: "tok", Nonce: "n"}))
	f.Add(unsignedProof())
	f.Add("")
	f.Add("eyJ9.e30.")
	target := dpop.Target{Method: "POST", URL: tokenURL}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := dpop.Parse(raw, target, now)
		if err == nil && (p.JKT == "" || p.JTI == "") {
			t.Fatalf("accepted a proof without key or jti: %q", raw)
		}
		if err != nil && oauth.AsError(err) == nil {
			t.Fatalf("error not for the client: %v", err)
		}
	})
}
