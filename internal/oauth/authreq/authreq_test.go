package authreq

import (
	"context"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/failure"
)

var ctx = context.Background()

const inst = "inst-a"

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newRequests(t *testing.T, src dbtest.Source) (*Requests, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	return New(src.Open(t, Migrations), c.now), c
}

func pending(t *testing.T, s *Requests) Request {
	t.Helper()
	r, err := s.Create(ctx, Request{InstanceID: inst, ClientID: "client-1", RedirectURI: "https://app.example/cb", Issuer: "https://id.example",
		Scopes: []string{"openid", "offline_access"}, State: "st-1", Nonce: "n-1", CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		Prompt: []string{"login", "consent"}, MaxAge: 300, LoginHint: "ada", UILocales: "fr de",
		Resources: []string{"https://api.example/", "urn:example:billing"}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var grant = Grant{SessionID: "sess-1", UserID: "user-1", OrgID: "org-1", AuthTime: time.Date(2026, 12, 1, 11, 59, 0, 0, time.UTC), AMR: []string{"pwd", "otp"}}

// finished creates a request, finishes it and returns it with its code.
func finished(t *testing.T, s *Requests) (Request, string) {
	t.Helper()
	r := pending(t, s)
	u, err := s.Finish(ctx, inst, r.ID, grant)
	if err != nil {
		t.Fatal(err)
	}
	return r, codeOf(t, u)
}

func codeOf(t *testing.T, callback string) string {
	t.Helper()
	u, err := url.Parse(callback)
	if err != nil {
		t.Fatal(err)
	}
	code := u.Query().Get("code")
	if !strings.HasPrefix(code, CodePrefix) {
		t.Fatalf("callback %s has no code", callback)
	}
	return code
}

func pass(Request) error { return nil }

func sameIssued(a, b Issued) bool {
	return a.AccessTokenID == b.AccessTokenID && a.FamilyID == b.FamilyID && a.AccessTokenExpiry.Equal(b.AccessTokenExpiry)
}

var issued = Issued{AccessTokenID: "at-1", AccessTokenExpiry: time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC), FamilyID: "grant-1"}

func TestRequestLifecycle(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		s, c := newRequests(t, src)

		t.Run("ok/a created request reads back whole", func(t *testing.T) {
			r := pending(t, s)
			if len(r.ID) < 20 || r.CreatedAt.IsZero() || !r.ExpiresAt.Equal(r.CreatedAt.Add(Lifetime)) {
				t.Fatalf("created %+v", r)
			}
			got, err := s.Get(ctx, inst, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.AMR) == 0 {
				got.AMR = nil // no grant yet: none or empty
			}
			if !reflect.DeepEqual(got, r) {
				t.Fatalf("Get = %+v\nwant %+v", got, r)
			}
			if !got.HasPrompt("consent") || got.HasPrompt("none") {
				t.Fatalf("prompt %v", got.Prompt)
			}
		})
		t.Run("fail/another instance's request", func(t *testing.T) {
			r := pending(t, s)
			if _, err := s.Get(ctx, "inst-b", r.ID); !failure.Is(err, failure.KindNotFound) {
				t.Fatalf("Get = %v", err)
			}
			if _, err := s.Finish(ctx, "inst-b", r.ID, grant); !failure.Is(err, failure.KindNotFound) {
				t.Fatalf("Finish = %v", err)
			}
		})
		t.Run("fail/unknown, empty and oversized ids", func(t *testing.T) {
			for _, id := range []string{"", "nope", strings.Repeat("a", 65)} {
				if _, err := s.Get(ctx, inst, id); !failure.Is(err, failure.KindNotFound) {
					t.Fatalf("Get(%q) = %v", id, err)
				}
			}
		})
		t.Run("fail/finish without a signed-in user", func(t *testing.T) {
			r := pending(t, s)
			if _, err := s.Finish(ctx, inst, r.ID, Grant{SessionID: "sess-1"}); !failure.Is(err, failure.KindFailedPrecondition) {
				t.Fatalf("Finish = %v", err)
			}
		})
		t.Run("ok/finish returns the code, state and issuer to the redirect URI", func(t *testing.T) {
			r := pending(t, s)
			cb, err := s.Finish(ctx, inst, r.ID, grant)
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(cb)
			q := u.Query()
			if u.Scheme+"://"+u.Host+u.Path != r.RedirectURI || q.Get("state") != "st-1" || q.Get("iss") != "https://id.example" || len(q) != 3 {
				t.Fatalf("callback %s", cb)
			}
			if len(q.Get("code")) < len(CodePrefix)+43 {
				t.Fatalf("code %q is short", q.Get("code"))
			}
		})
		t.Run("fail/finish twice", func(t *testing.T) {
			r := pending(t, s)
			if _, err := s.Finish(ctx, inst, r.ID, grant); err != nil {
				t.Fatal(err)
			}
			other := grant
			other.SessionID, other.UserID = "sess-evil", "user-evil"
			if _, err := s.Finish(ctx, inst, r.ID, other); !failure.Is(err, failure.KindNotFound) {
				t.Fatalf("second Finish = %v", err)
			}
			if _, err := s.Get(ctx, inst, r.ID); !failure.Is(err, failure.KindNotFound) {
				t.Fatalf("Get of a finished request = %v", err)
			}
			if _, err := s.Deny(ctx, inst, r.ID, "access_denied", ""); !failure.Is(err, failure.KindNotFound) {
				t.Fatalf("Deny of a finished request = %v", err)
			}
		})
		t.Run("ok/deny returns the error with state and iss, and ends the request", func(t *testing.T) {
			r := pending(t, s)
			cb, err := s.Deny(ctx, inst, r.ID, "access_denied", "the user said no & left")
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(cb)
			q := u.Query()
			if q.Get("error") != "access_denied" || q.Get("error_description") != "the user said no & left" || q.Get("state") != "st-1" ||
				q.Get("iss") != "https://id.example" || q.Has("code") {
				t.Fatalf("callback %s", cb)
			}
			if _, err := s.Finish(ctx, inst, r.ID, grant); !failure.Is(err, failure.KindNotFound) {
				t.Fatalf("Finish after Deny = %v", err)
			}
			if _, err := s.Deny(ctx, inst, r.ID, "access_denied", ""); !failure.Is(err, failure.KindNotFound) {
				t.Fatalf("second Deny = %v", err)
			}
		})
		t.Run("fail/an expired request cannot be read, finished or denied", func(t *testing.T) {
			r := pending(t, s)
			c.add(Lifetime - time.Second)
			if _, err := s.Get(ctx, inst, r.ID); err != nil {
				t.Fatalf("a second before expiry: %v", err)
			}
			c.add(time.Second)
			if _, err := s.Get(ctx, inst, r.ID); !failure.Is(err, failure.KindNotFound) {
				t.Fatalf("Get = %v", err)
			}
			if _, err := s.Finish(ctx, inst, r.ID, grant); !failure.Is(err, failure.KindNotFound) {
				t.Fatalf("Finish = %v", err)
			}
			if _, err := s.Deny(ctx, inst, r.ID, "access_denied", ""); !failure.Is(err, failure.KindNotFound) {
				t.Fatalf("Deny = %v", err)
			}
		})
	})
}

func TestRedeem(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		s, c := newRequests(t, src)

		t.Run("ok/redeemed once; a replay returns the first redemption, then the code is gone", func(t *testing.T) {
			r, code := finished(t, s)
			var checked Request
			got, err := s.Redeem(ctx, inst, "client-1", code, func(r Request) error { checked = r; return nil }, issued)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != r.ID || got.UserID != "user-1" || got.SessionID != "sess-1" || got.OrgID != "org-1" || !got.AuthTime.Equal(grant.AuthTime) ||
				!reflect.DeepEqual(got.AMR, grant.AMR) || got.Nonce != "n-1" || !reflect.DeepEqual(got.Scopes, r.Scopes) || !sameIssued(got.Issued, issued) {
				t.Fatalf("Redeem = %+v", got)
			}
			if checked.ID != r.ID || checked.CodeChallenge != r.CodeChallenge || checked.RedirectURI != r.RedirectURI {
				t.Fatalf("check saw %+v", checked)
			}
			second := Issued{AccessTokenID: "at-2", AccessTokenExpiry: issued.AccessTokenExpiry, FamilyID: "grant-2"}
			again, err := s.Redeem(ctx, inst, "client-1", code, pass, second)
			if !errors.Is(err, ErrCodeReused) {
				t.Fatalf("replay = %v; want ErrCodeReused", err)
			}
			if !sameIssued(again.Issued, issued) || again.ID != r.ID || again.UserID != "user-1" || again.OrgID != "org-1" || again.ClientID != "client-1" {
				t.Fatalf("the replay reports %+v; want the first redemption %+v", again, issued)
			}
			if _, err := s.Redeem(ctx, inst, "client-1", code, pass, second); !errors.Is(err, ErrInvalidCode) {
				t.Fatalf("third redemption = %v; want ErrInvalidCode (revoked once)", err)
			}
		})
		t.Run("ok/a replay after the code's lifetime still reports the first redemption", func(t *testing.T) {
			_, code := finished(t, s)
			if _, err := s.Redeem(ctx, inst, "client-1", code, pass, issued); err != nil {
				t.Fatal(err)
			}
			c.add(keepRedeemed - time.Second)
			if got, err := s.Redeem(ctx, inst, "client-1", code, pass, Issued{}); !errors.Is(err, ErrCodeReused) || !sameIssued(got.Issued, issued) {
				t.Fatalf("late replay = %+v, %v", got.Issued, err)
			}
		})
		t.Run("fail/a wrong check leaves the code unspent", func(t *testing.T) {
			_, code := finished(t, s)
			wrong := errors.New("wrong verifier")
			for range 3 {
				if _, err := s.Redeem(ctx, inst, "client-1", code, func(Request) error { return wrong }, issued); !errors.Is(err, wrong) {
					t.Fatalf("Redeem = %v; want the check's error", err)
				}
			}
			if _, err := s.Redeem(ctx, inst, "client-1", code, pass, issued); err != nil {
				t.Fatalf("the right check after wrong ones: %v", err)
			}
		})
		t.Run("fail/another client's code, which stays the owner's", func(t *testing.T) {
			_, code := finished(t, s)
			called := false
			if _, err := s.Redeem(ctx, inst, "client-2", code, func(Request) error { called = true; return nil }, issued); !errors.Is(err, ErrInvalidCode) {
				t.Fatalf("Redeem = %v", err)
			}
			if called {
				t.Fatal("the check ran for another client")
			}
			if _, err := s.Redeem(ctx, inst, "client-1", code, pass, issued); err != nil {
				t.Fatal(err)
			}
			// Another client replaying the spent code learns nothing and
			// does not end the record the owner's replay needs.
			if got, err := s.Redeem(ctx, inst, "client-2", code, pass, issued); !errors.Is(err, ErrInvalidCode) || got.Issued != (Issued{}) {
				t.Fatalf("another client's replay = %+v, %v", got, err)
			}
			if _, err := s.Redeem(ctx, inst, "client-1", code, pass, issued); !errors.Is(err, ErrCodeReused) {
				t.Fatalf("owner's replay = %v", err)
			}
		})
		t.Run("fail/another instance's code", func(t *testing.T) {
			_, code := finished(t, s)
			if _, err := s.Redeem(ctx, "inst-b", "client-1", code, pass, issued); !errors.Is(err, ErrInvalidCode) {
				t.Fatalf("Redeem = %v", err)
			}
		})
		t.Run("fail/malformed codes", func(t *testing.T) {
			_, code := finished(t, s)
			for _, bad := range []string{"", strings.TrimPrefix(code, CodePrefix), code + "x", code[:len(code)-1], CodePrefix + strings.Repeat("a", 100), strings.ToUpper(code)} {
				if _, err := s.Redeem(ctx, inst, "client-1", bad, pass, issued); !errors.Is(err, ErrInvalidCode) {
					t.Fatalf("Redeem(%q) = %v", bad, err)
				}
			}
			if _, err := s.Redeem(ctx, inst, "client-1", code, pass, issued); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("fail/an expired code", func(t *testing.T) {
			_, early := finished(t, s)
			_, code := finished(t, s)
			c.add(CodeLifetime - time.Second)
			if _, err := s.Redeem(ctx, inst, "client-1", early, pass, issued); err != nil {
				t.Fatalf("a second before expiry: %v", err)
			}
			c.add(time.Second)
			if _, err := s.Redeem(ctx, inst, "client-1", code, pass, issued); !errors.Is(err, ErrInvalidCode) {
				t.Fatalf("Redeem = %v; want ErrInvalidCode", err)
			}
		})
		t.Run("fail/a code of a request that expired before it was finished", func(t *testing.T) {
			r := pending(t, s)
			c.add(Lifetime)
			if _, err := s.Finish(ctx, inst, r.ID, grant); !failure.Is(err, failure.KindNotFound) {
				t.Fatalf("Finish = %v", err)
			}
		})
	})
}

// Concurrent redemptions of one code issue once: every other one sees a
// reuse (which revokes the first) or an invalid code. The check waits
// for the others, so that on a backend where transactions overlap they
// all read the unspent code before any writes it.
func TestConcurrentRedemptionsIssueOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		s, _ := newRequests(t, src)
		for round := range 5 {
			_, code := finished(t, s)
			const n = 4
			var arrived atomic.Int32
			allIn := make(chan struct{})
			check := func(Request) error {
				if arrived.Add(1) == n {
					close(allIn)
				}
				select {
				case <-allIn:
				case <-time.After(300 * time.Millisecond):
				}
				return nil
			}
			var mu sync.Mutex
			var ok, reused, invalid int
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := s.Redeem(ctx, inst, "client-1", code, check, Issued{AccessTokenID: "at-" + string(rune('a'+i)), FamilyID: "f"})
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						ok++
					case errors.Is(err, ErrCodeReused):
						reused++
					case errors.Is(err, ErrInvalidCode):
						invalid++
					default:
						t.Errorf("Redeem = %v", err)
					}
				}()
			}
			wg.Wait()
			if ok != 1 {
				t.Fatalf("round %d: %d of %d concurrent redemptions of one code issued tokens (%d reused, %d invalid); want exactly 1",
					round, ok, n, reused, invalid)
			}
		}
	})
}

// Concurrent finishes of one request bind it once: one session gets a
// code, the others are told the request is gone.
func TestConcurrentFinishesBindOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		s, _ := newRequests(t, src)
		for round := range 10 {
			r := pending(t, s)
			const n = 6
			var mu sync.Mutex
			var codes []string
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					g := grant
					g.SessionID = "sess-" + string(rune('a'+i))
					<-start
					cb, err := s.Finish(ctx, inst, r.ID, g)
					if err != nil {
						if !failure.Is(err, failure.KindNotFound) {
							t.Errorf("Finish = %v", err)
						}
						return
					}
					mu.Lock()
					defer mu.Unlock()
					codes = append(codes, codeOf(t, cb))
				}()
			}
			close(start)
			wg.Wait()
			if len(codes) != 1 {
				live := 0
				for _, code := range codes {
					if _, err := s.Redeem(ctx, inst, "client-1", code, pass, issued); err == nil {
						live++
					}
				}
				t.Fatalf("round %d: %d of %d concurrent finishes of one request returned a code (%d of them redeemable); want exactly 1",
					round, len(codes), n, live)
			}
		}
	})
}

func TestPushedRequests(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		s, c := newRequests(t, src)
		push := func(t *testing.T) Request {
			t.Helper()
			r, err := s.CreatePushed(ctx, Request{InstanceID: inst, ClientID: "client-1", RedirectURI: "https://app.example/cb", Issuer: "https://id.example",
				Scopes: []string{"openid"}, State: "st-1", CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", MaxAge: -1})
			if err != nil {
				t.Fatal(err)
			}
			if !r.ExpiresAt.Equal(r.CreatedAt.Add(PushedLifetime)) {
				t.Fatalf("pushed %+v", r)
			}
			return r
		}

		t.Run("ok/claimed once, then a pending request", func(t *testing.T) {
			r := push(t)
			got, err := s.Claim(ctx, inst, "client-1", RequestURIPrefix+r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != r.ID || got.State != "st-1" || got.RedirectURI != r.RedirectURI || !got.ExpiresAt.Equal(c.now().Add(Lifetime)) {
				t.Fatalf("Claim = %+v", got)
			}
			if _, err := s.Claim(ctx, inst, "client-1", RequestURIPrefix+r.ID); !failure.Is(err, failure.KindNotFound) {
				t.Fatalf("second Claim = %v", err)
			}
			if _, err := s.Finish(ctx, inst, r.ID, grant); err != nil {
				t.Fatalf("Finish of the claimed request: %v", err)
			}
		})
		t.Run("fail/an unclaimed pushed request cannot be read, finished or denied", func(t *testing.T) {
			r := push(t)
			if _, err := s.Get(ctx, inst, r.ID); !failure.Is(err, failure.KindNotFound) {
				t.Fatalf("Get = %v", err)
			}
			if _, err := s.Finish(ctx, inst, r.ID, grant); !failure.Is(err, failure.KindNotFound) {
				t.Fatalf("Finish = %v", err)
			}
			if _, err := s.Deny(ctx, inst, r.ID, "access_denied", ""); !failure.Is(err, failure.KindNotFound) {
				t.Fatalf("Deny = %v", err)
			}
		})
		t.Run("fail/another client's, another instance's or a malformed request_uri", func(t *testing.T) {
			r := push(t)
			for _, tc := range []struct{ instance, client, uri string }{
				{inst, "client-2", RequestURIPrefix + r.ID},
				{"inst-b", "client-1", RequestURIPrefix + r.ID},
				{inst, "client-1", r.ID},
				{inst, "client-1", RequestURIPrefix},
				{inst, "client-1", "urn:ietf:params:oauth:request_uri:" + r.ID + "x"},
				{inst, "client-1", RequestURIPrefix + strings.Repeat("a", 65)},
			} {
				if _, err := s.Claim(ctx, tc.instance, tc.client, tc.uri); !failure.Is(err, failure.KindNotFound) {
					t.Fatalf("Claim(%s, %s, %s) = %v", tc.instance, tc.client, tc.uri, err)
				}
			}
			if _, err := s.Claim(ctx, inst, "client-1", RequestURIPrefix+r.ID); err != nil {
				t.Fatalf("the owner's claim after the others: %v", err)
			}
		})
		t.Run("fail/a request created at the authorization endpoint is not a pushed one", func(t *testing.T) {
			r := pending(t, s)
			if _, err := s.Claim(ctx, inst, "client-1", RequestURIPrefix+r.ID); !failure.Is(err, failure.KindNotFound) {
				t.Fatalf("Claim = %v", err)
			}
		})
		t.Run("fail/expired after PushedLifetime", func(t *testing.T) {
			early, late := push(t), push(t)
			c.add(PushedLifetime - time.Second)
			if _, err := s.Claim(ctx, inst, "client-1", RequestURIPrefix+early.ID); err != nil {
				t.Fatalf("a second before expiry: %v", err)
			}
			c.add(time.Second)
			if _, err := s.Claim(ctx, inst, "client-1", RequestURIPrefix+late.ID); !failure.Is(err, failure.KindNotFound) {
				t.Fatalf("Claim = %v", err)
			}
		})
		t.Run("ok/concurrent claims of one request_uri succeed once", func(t *testing.T) {
			for round := range 10 {
				r := push(t)
				const n = 6
				var mu sync.Mutex
				claimed := 0
				var wg sync.WaitGroup
				start := make(chan struct{})
				for range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						_, err := s.Claim(ctx, inst, "client-1", RequestURIPrefix+r.ID)
						if err != nil && !failure.Is(err, failure.KindNotFound) {
							t.Errorf("Claim = %v", err)
						}
						mu.Lock()
						defer mu.Unlock()
						if err == nil {
							claimed++
						}
					}()
				}
				close(start)
				wg.Wait()
				if claimed != 1 {
					t.Fatalf("round %d: %d of %d concurrent claims of one request_uri succeeded; want exactly 1", round, claimed, n)
				}
			}
		})
	})
}

func TestSweep(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		s, c := newRequests(t, src)
		old := pending(t, s)
		_, redeemed := finished(t, s)
		if _, err := s.Redeem(ctx, inst, "client-1", redeemed, pass, issued); err != nil {
			t.Fatal(err)
		}
		_, unredeemed := finished(t, s)
		count := func() int {
			t.Helper()
			var n int
			if err := s.db.Reader().QueryRowContext(ctx, `SELECT count(*) FROM auth_requests`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n, err := s.Sweep(ctx); err != nil || n != 0 {
			t.Fatalf("Sweep = %d, %v; nothing has expired", n, err)
		}
		// The codes are kept past their lifetime so that a replay is
		// recognized, then swept.
		c.add(CodeLifetime + keepRedeemed + time.Second)
		if _, err := s.Redeem(ctx, inst, "client-1", unredeemed, pass, issued); !errors.Is(err, ErrInvalidCode) {
			t.Fatalf("Redeem = %v", err)
		}
		if n, err := s.Sweep(ctx); err != nil || n != 2 {
			t.Fatalf("Sweep = %d, %v; want the two codes", n, err)
		}
		if _, err := s.Redeem(ctx, inst, "client-1", redeemed, pass, issued); !errors.Is(err, ErrInvalidCode) {
			t.Fatalf("a swept code = %v", err)
		}
		fresh := pending(t, s)
		c.add(Lifetime - CodeLifetime - keepRedeemed)
		if n, err := s.Sweep(ctx); err != nil || n != 1 {
			t.Fatalf("Sweep = %d, %v; want the old request", n, err)
		}
		if count() != 1 {
			t.Fatalf("%d rows left; want the fresh request", count())
		}
		if _, err := s.Get(ctx, inst, old.ID); !failure.Is(err, failure.KindNotFound) {
			t.Fatalf("Get(old) = %v", err)
		}
		if _, err := s.Get(ctx, inst, fresh.ID); err != nil {
			t.Fatalf("Get(fresh) = %v", err)
		}
	})
}

func TestCallback(t *testing.T) {
	for _, tc := range []struct {
		name, uri, state string
		want             url.Values
	}{
		{"ok/plain URI", "https://app.example/cb", "xyz", url.Values{"code": {"c&d=e"}, "state": {"xyz"}, "iss": {"https://id.example/t a"}}},
		{"ok/an existing query is kept", "https://app.example/cb?tenant=acme&x=", "a b&c=d#e", url.Values{"tenant": {"acme"}, "x": {""},
			"code": {"c&d=e"}, "state": {"a b&c=d#e"}, "iss": {"https://id.example/t a"}}},
		{"ok/a URI ending in ?", "https://app.example/cb?", "", url.Values{"code": {"c&d=e"}, "iss": {"https://id.example/t a"}}},
		{"ok/a URI ending in &", "https://app.example/cb?tenant=acme&", "s", url.Values{"tenant": {"acme"}, "code": {"c&d=e"}, "state": {"s"},
			"iss": {"https://id.example/t a"}}},
		{"ok/a custom scheme", "com.example.app:/oauth2redirect", "s", url.Values{"code": {"c&d=e"}, "state": {"s"}, "iss": {"https://id.example/t a"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Callback(Request{RedirectURI: tc.uri, Issuer: "https://id.example/t a", State: tc.state}, url.Values{"code": {"c&d=e"}})
			checkCallback(t, got, tc.uri, tc.want)
		})
	}
	t.Run("ok/error callback", func(t *testing.T) {
		got := ErrorCallback("https://app.example/cb?tenant=acme", "https://id.example", "s&t", "login_required", "sign in & retry")
		checkCallback(t, got, "https://app.example/cb?tenant=acme", url.Values{"tenant": {"acme"}, "error": {"login_required"},
			"error_description": {"sign in & retry"}, "state": {"s&t"}, "iss": {"https://id.example"}})
	})
	t.Run("ok/error callback without description or state", func(t *testing.T) {
		got := ErrorCallback("https://app.example/cb", "https://id.example", "", "access_denied", "")
		checkCallback(t, got, "https://app.example/cb", url.Values{"error": {"access_denied"}, "iss": {"https://id.example"}})
	})
}

func checkCallback(t *testing.T, got, uri string, want url.Values) {
	t.Helper()
	base, _, _ := strings.Cut(uri, "?")
	if !strings.HasPrefix(got, base+"?") || strings.Contains(got, "?&") || strings.Contains(got, "&&") || strings.Contains(got, "#") {
		t.Fatalf("callback %s does not extend %s", got, uri)
	}
	u, err := url.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		t.Fatalf("callback %s: %v", got, err)
	}
	if !reflect.DeepEqual(q, want) {
		t.Fatalf("callback %s\n query %v\n want  %v", got, q, want)
	}
}
