package trustset

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
)

// CacheTTL is how long a replica verifies with a trust set it read: a
// changed set (a new CRL) counts on every replica at most this much later.
const CacheTTL = time.Second

const maxCached = 1000

// Refused is why a certificate was not accepted: precise, for the log and
// the audit trail, never for the client.
type Refused struct{ Reason string }

func (r *Refused) Error() string { return "certificate refused: " + r.Reason }

func refused(format string, args ...any) error { return &Refused{Reason: fmt.Sprintf(format, args...)} }

// Verifier verifies client certificate chains against trust sets. It is
// safe for concurrent use.
type Verifier struct {
	db  *database.DB
	now func() time.Time

	mu    sync.Mutex
	cache map[string]cachedSet // instance NUL set id ("" for the default)
	// verified remembers chains that verified, by set and the chain's
	// SHA-256, until the set they verified with is read again: a client
	// on a kept-alive connection is not verified anew at every grant.
	verified map[verifiedKey]time.Time
}

type verifiedKey struct {
	set   string
	chain [32]byte
}

type cachedSet struct {
	p     *parsed
	err   error
	until time.Time
}

// NewVerifier returns a verifier; now may be nil (time.Now).
func NewVerifier(db *database.DB, now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	return &Verifier{db: db, now: now, cache: map[string]cachedSet{}, verified: map[verifiedKey]time.Time{}}
}

func (v *Verifier) load(ctx context.Context, instanceID, setID string) (*parsed, error) {
	key := instanceID + "\x00" + setID
	now := v.now()
	v.mu.Lock()
	e, ok := v.cache[key]
	v.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.p, e.err
	}
	var t TrustSet
	var err error
	if setID == "" {
		t, err = Default(ctx, v.db, instanceID)
	} else {
		t, err = Get(ctx, v.db, instanceID, setID)
	}
	var p *parsed
	switch {
	case failure.Is(err, failure.KindNotFound):
		err = refused("%v", err)
	case err != nil:
		return nil, err // not cached: the database may be back soon
	default:
		if p, err = parse(t); err != nil {
			err = refused("trust set %s does not parse: %v", t.ID, err)
		}
	}
	v.mu.Lock()
	if len(v.cache) >= maxCached {
		v.cache = map[string]cachedSet{}
	}
	v.cache[key] = cachedSet{p: p, err: err, until: now.Add(CacheTTL)}
	v.mu.Unlock()
	return p, err
}

// Verify checks that chain (the client's certificate first, then the
// intermediates it sent) chains to a certificate of the trust set setID,
// or of the instance's default set when setID is "", for client
// authentication, now, and that no certificate of the chain is revoked
// by a CRL of the set. A refusal is a *Refused; any other error is the
// server's.
func (v *Verifier) Verify(ctx context.Context, instanceID, setID string, chain []*x509.Certificate) error {
	if len(chain) == 0 {
		return refused("no client certificate")
	}
	p, until, err := v.loadUntil(ctx, instanceID, setID)
	if err != nil {
		return err
	}
	now := v.now()
	leaf := chain[0]
	h := sha256.New()
	for _, c := range chain {
		h.Write(c.Raw)
	}
	key := verifiedKey{set: instanceID + "\x00" + setID}
	h.Sum(key.chain[:0])
	v.mu.Lock()
	ok := now.Before(v.verified[key])
	v.mu.Unlock()
	if ok && !now.After(leaf.NotAfter) {
		return nil
	}
	if now.Before(leaf.NotBefore) {
		return refused("certificate %s (serial %s) is not valid before %s", leaf.Subject, leaf.SerialNumber, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(leaf.NotAfter) {
		return refused("certificate %s (serial %s) expired at %s", leaf.Subject, leaf.SerialNumber, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: p.roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		var unknown x509.UnknownAuthorityError
		if errors.As(err, &unknown) {
			return refused("certificate %s (serial %s) is issued by %s, which trust set %q does not trust", leaf.Subject, leaf.SerialNumber, leaf.Issuer, p.set.Name)
		}
		return refused("certificate %s (serial %s) does not verify with trust set %q: %v", leaf.Subject, leaf.SerialNumber, p.set.Name, err)
	}
	var last error
	for _, c := range chains {
		if last = p.checkRevoked(c, now); last == nil {
			v.mu.Lock()
			if len(v.verified) >= maxVerified {
				v.verified = map[verifiedKey]time.Time{}
			}
			v.verified[key] = until
			v.mu.Unlock()
			return nil
		}
	}
	return last
}

// maxVerified bounds the remembered chains; past it, it starts empty.
const maxVerified = 10000

// loadUntil is load, with the time until which the set read is used.
func (v *Verifier) loadUntil(ctx context.Context, instanceID, setID string) (*parsed, time.Time, error) {
	p, err := v.load(ctx, instanceID, setID)
	if err != nil {
		return nil, time.Time{}, err
	}
	v.mu.Lock()
	until := v.cache[instanceID+"\x00"+setID].until
	v.mu.Unlock()
	return p, until, nil
}

// checkRevoked checks each certificate of a verified chain against the
// CRL of its issuer, when the set has one.
func (p *parsed) checkRevoked(chain []*x509.Certificate, now time.Time) error {
	for i := 0; i+1 < len(chain); i++ {
		cert, issuer := chain[i], chain[i+1]
		for _, crl := range p.crls {
			if string(crl.RawIssuer) != string(issuer.RawSubject) || crl.CheckSignatureFrom(issuer) != nil {
				continue
			}
			if !crl.NextUpdate.IsZero() && now.After(crl.NextUpdate) {
				return refused("the CRL of %s in trust set %q is stale since %s; update the trust set", issuer.Subject, p.set.Name,
					crl.NextUpdate.UTC().Format(time.RFC3339))
			}
			for _, r := range crl.RevokedCertificateEntries {
				if r.SerialNumber.Cmp(cert.SerialNumber) == 0 {
					return refused("certificate %s (serial %s) was revoked at %s (CRL of %s)", cert.Subject, cert.SerialNumber,
						r.RevocationTime.UTC().Format(time.RFC3339), issuer.Subject)
				}
			}
		}
	}
	return nil
}
