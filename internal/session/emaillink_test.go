package session_test

import (
	"context"
	"slices"
	"testing"

	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/session"
	"github.com/castellan-iam/castellan/internal/settings"
	"github.com/castellan-iam/castellan/internal/user"
)

func TestEmailLinkIsAFirstFactor(t *testing.T) { dbtest.Each(t, testEmailLinkIsAFirstFactor) }

func testEmailLinkIsAFirstFactor(t *testing.T, src dbtest.Source) {
	f := newFixture(t, src)
	alice := eventstore.Aggregate{InstanceID: f.instance, Type: user.AggregateType, ID: f.alice, Owner: f.org}
	link := func() string {
		var token string
		if err := f.creds.SendEmailLink(ctx, alice, func(_ context.Context, tok string) error { token = tok; return nil }); err != nil {
			t.Fatal(err)
		}
		return token
	}
	commands := func(sett settings.Settings, secondFactors ...session.Factor) *session.Commands {
		return session.NewCommands(session.Deps{Store: f.store, Credentials: f.creds, OTP: f.creds,
			Settings: func(context.Context, string, string) (settings.Settings, error) { return sett, nil },
			UserFacts: func(context.Context, eventstore.Aggregate, []eventstore.Event) (session.Facts, error) {
				return session.Facts{SecondFactors: secondFactors}, nil
			},
		}).WithClock(f.clock.now)
	}
	byLink := func(token string) session.Checks {
		return session.Checks{User: &session.UserCheck{UserID: f.alice}, EmailLink: &token}
	}
	on := settings.BuiltIn()
	on.Login.MagicLinkAllowed = true

	// "ok/a link signs in, once"
	token := link()
	s, _, _, err := commands(on).Create(ctx, f.instance, session.Client{}, byLink(token), session.Challenges{})
	if err != nil || !s.Status.Authenticated || !slices.Equal(s.Status.AMR, []string{"otp", "email"}) || s.UserID != f.alice {
		t.Fatalf("by link: %+v %v", s, err)
	}
	if _, _, _, err := commands(on).Create(ctx, f.instance, session.Client{}, byLink(token), session.Challenges{}); !failure.Is(err, failure.KindUnauthenticated) {
		t.Fatalf("a used link: %v", err)
	}

	// "fail/the settings do not allow links": the answer of a wrong link,
	// and the link stays unused.
	token = link()
	if _, _, _, err := commands(settings.BuiltIn()).Create(ctx, f.instance, session.Client{}, byLink(token), session.Challenges{}); !failure.Is(err, failure.KindUnauthenticated) {
		t.Fatalf("links not allowed: %v", err)
	}

	// "ok/MFA required: a second factor follows, an email code not among them"
	mfa := on
	mfa.Login.MFARequired = settings.MFAEveryone
	for _, tc := range []struct {
		factors []session.Factor
		next    []string
	}{
		{[]session.Factor{session.FactorOTPEmail}, []string{session.NextRegisterSecondFactor}},
		{[]session.Factor{session.FactorOTPEmail, session.FactorTOTP}, []string{"totp"}},
	} {
		s, _, _, err := commands(mfa, tc.factors...).Create(ctx, f.instance, session.Client{}, byLink(link()), session.Challenges{})
		if err != nil || s.Status.Authenticated || !slices.Equal(s.Status.Next, tc.next) {
			t.Fatalf("MFA with %v: %+v %v, want next %v", tc.factors, s.Status, err, tc.next)
		}
	}

	// "fail/a link without a user check"
	tok := link()
	if _, _, _, err := commands(on).Create(ctx, f.instance, session.Client{}, session.Checks{EmailLink: &tok}, session.Challenges{}); !failure.Is(err, failure.KindFailedPrecondition) {
		t.Fatalf("no user: %v", err)
	}
}
