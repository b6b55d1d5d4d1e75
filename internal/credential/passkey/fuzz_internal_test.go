package passkey

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/castellan-iam/castellan/internal/failure"
)

// FuzzParseResponses feeds untrusted bytes to the parsing of registration
// and assertion responses (JSON, base64url, CBOR attestation objects and
// authenticator data). They must never panic; anything refused is
// failure.InvalidArgument on "credential"; and input over MaxResponseSize
// is refused before it is read, which bounds the cost of one call (the
// fuzzer's inputs themselves stay under twice the limit).
func FuzzParseResponses(f *testing.F) {
	enc := base64.RawURLEncoding.EncodeToString
	authData := make([]byte, 37)
	authData[32] = 0x41 // UP, AT
	seed := func(v any) []byte { b, _ := json.Marshal(v); return b }
	f.Add(seed(map[string]any{"id": enc([]byte{1}), "rawId": enc([]byte{1}), "type": "public-key", "response": map[string]any{
		"clientDataJSON":    enc([]byte(`{"type":"webauthn.create","challenge":"AAAA","origin":"https://a.example"}`)),
		"attestationObject": enc([]byte{0xa3, 0x63, 'f', 'm', 't', 0x64, 'n', 'o', 'n', 'e', 0x67, 'a', 't', 't', 'S', 't', 'm', 't', 0xa0, 0x68, 'a', 'u', 't', 'h', 'D', 'a', 't', 'a', 0x58, 37}),
	}}))
	f.Add(seed(map[string]any{"id": enc([]byte{1}), "rawId": enc([]byte{1}), "type": "public-key", "response": map[string]any{
		"clientDataJSON":    enc([]byte(`{"type":"webauthn.get","challenge":"AAAA","origin":"https://a.example"}`)),
		"authenticatorData": enc(authData), "signature": enc([]byte{0x30, 0}), "userHandle": enc([]byte("u1")),
	}}))
	f.Add([]byte(`{"id":"AQ","rawId":"AQ","type":"public-key","response":{"attestationObject":"` + enc([]byte{0x9f, 0x9f, 0x9f, 0x9f}) + `"}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 2*MaxResponseSize {
			t.Skip()
		}
		for _, parse := range []func([]byte) error{
			func(b []byte) error { _, err := parseCreation(b); return err },
			func(b []byte) error { _, err := parseAssertion(b); return err },
		} {
			err := parse(b)
			if len(b) > MaxResponseSize && err == nil {
				t.Fatalf("a response of %d bytes was parsed", len(b))
			}
			if err != nil && (!failure.Is(err, failure.KindInvalidArgument) || err.(*failure.Error).Field != "credential") {
				t.Fatalf("refusal %v: want invalid argument on credential", err)
			}
		}
	})
}
