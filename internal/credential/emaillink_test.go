package credential

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/castellan-iam/castellan/internal/failure"
)

func wantWrongLink(t *testing.T, err error) {
	t.Helper()
	if fe := wantKind(t, err, failure.KindUnauthenticated); fe.Message != "the sign-in link is not valid" {
		t.Fatalf("message %q reveals more than it should", fe.Message)
	}
}

func TestEmailLinks(t *testing.T) {
	pol := DefaultPolicy
	pol.CodeSends = 3
	each(t, pol, func(t *testing.T, f *fixture) {
		var tokens []string
		send := func(_ context.Context, token string) error {
			tokens = append(tokens, token)
			return nil
		}
		last := func() string { return tokens[len(tokens)-1] }

		// "ok/a link signs in once"
		if err := f.cmds.SendEmailLink(ctx, f.user, send); err != nil {
			t.Fatal(err)
		}
		token := last()
		if len(token) != 43 {
			t.Fatalf("token %q is not 256 bits in base64url", token)
		}
		f.then(t, &EmailLinkSent{TokenHash: emailLinkHash(token), ExpiresAt: f.clock.now().Add(EmailLinkLifetime)})
		if strings.Contains(storedPayload(t, f, "user.signin_link.sent"), token) {
			t.Fatal("the stored event holds the token in clear")
		}
		// The first character carries six bits of the token (the last only
		// four), so changing it always yields a different token.
		other := "A"
		if token[0] == 'A' {
			other = "B"
		}
		wantWrongLink(t, f.cmds.CheckEmailLink(ctx, f.user, other+token[1:]))
		wantWrongLink(t, f.cmds.CheckEmailLink(ctx, f.user, ""))
		wantWrongLink(t, f.cmds.CheckEmailLink(ctx, f.user, strings.Repeat("a", 200)))
		f.then(t)
		if err := f.cmds.CheckEmailLink(ctx, f.user, token); err != nil {
			t.Fatal(err)
		}
		f.then(t, &EmailLinkUsed{})
		// "fail/a used link"
		wantWrongLink(t, f.cmds.CheckEmailLink(ctx, f.user, token))
		f.then(t)

		// "fail/an expired link"
		if err := f.cmds.SendEmailLink(ctx, f.user, send); err != nil {
			t.Fatal(err)
		}
		f.given(t)
		f.clock.advance(EmailLinkLifetime)
		wantWrongLink(t, f.cmds.CheckEmailLink(ctx, f.user, last()))

		// "fail/a link replaced by a newer one"
		if err := f.cmds.SendEmailLink(ctx, f.user, send); err != nil {
			t.Fatal(err)
		}
		older := last()
		// "fail/too many links within the window"
		wantKind(t, f.cmds.SendEmailLink(ctx, f.user, send), failure.KindResourceExhausted)
		f.clock.advance(pol.CodeWindow)
		if err := f.cmds.SendEmailLink(ctx, f.user, send); err != nil {
			t.Fatal(err)
		}
		wantWrongLink(t, f.cmds.CheckEmailLink(ctx, f.user, older))

		// "ok/concurrent uses: exactly one succeeds"
		token = last()
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if f.cmds.CheckEmailLink(ctx, f.user, token) == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if ok != 1 {
			t.Fatalf("%d concurrent uses of one link succeeded", ok)
		}
	})
}
