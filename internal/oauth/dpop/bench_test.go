package dpop_test

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/castellan-iam/castellan/internal/oauth/dpop"
	"github.com/castellan-iam/castellan/internal/oauth/dpop/dpoptest"
)

// BenchmarkParse measures a proof's complete check by Parse (ES256)
// against its reference, in the same loop: the bare ECDSA P-256
// verification of the same signing input — what no check of a proof can
// avoid. ratio is Parse's time over the verification's.
func BenchmarkParse(b *testing.B) {
	k := dpoptest.NewKey(b, jose.ES256)
	raw := k.Proof(b, dpoptest.Claims{HTM: "POST", HTU: tokenURL})
	target := dpop.Target{Method: "POST", URL: tokenURL}
	now := time.Now()
	pub := k.Private.Public().(*ecdsa.PublicKey)
	digest := sha256.Sum256([]byte(raw))
	sig, err := ecdsa.SignASN1(nil, k.Private.(*ecdsa.PrivateKey), digest[:])
	if err != nil {
		b.Fatal(err)
	}
	var parse, verify time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := dpop.Parse(raw, target, now); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		d := sha256.Sum256([]byte(raw))
		if !ecdsa.VerifyASN1(pub, d[:], sig) {
			b.Fatal("verify")
		}
		t2 := time.Now()
		parse += t1.Sub(t0)
		verify += t2.Sub(t1)
	}
	b.ReportMetric(float64(parse.Microseconds())/float64(b.N), "parse-µs/op")
	b.ReportMetric(float64(verify.Microseconds())/float64(b.N), "verify-µs/op")
	b.ReportMetric(float64(parse)/float64(verify), "ratio")
}
