package pat

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/eventstore/eventstoretest"
	"github.com/castellan-iam/castellan/internal/failure"
)

var (
	ctx = context.Background()
	now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
)

func machine(instance string) eventstore.Aggregate {
	return eventstore.Aggregate{InstanceID: instance, Type: "user", ID: "machine-1", Owner: "org-1"}
}

func TestTokens(t *testing.T) {
	s := eventstoretest.New(t, "inst-a", RegisterEvents, Migrations, Projection{})
	a, tokenID, token, err := New(machine("inst-a"), now.Add(24*time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, Prefix) || len(token) != 47 {
		t.Fatalf("token %q", token)
	}
	if strings.Contains(a.Events[0].(*Added).Hash, token) {
		t.Fatal("the event carries the token")
	}
	s.Given(t, a)

	for _, tc := range []struct {
		name     string
		instance string
		token    string
		at       time.Time
		ok       bool
	}{
		{"ok/valid token", "inst-a", token, now, true},
		{"fail/other instance", "inst-b", token, now, false},
		{"fail/expired", "inst-a", token, now.Add(24 * time.Hour), false},
		{"fail/altered", "inst-a", altered(token), now, false},
		{"fail/not a token", "inst-a", "Bearer " + token, now, false},
		{"fail/empty", "inst-a", "", now, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user, err := Authenticate(ctx, s.DB(), tc.instance, tc.token, tc.at)
			if tc.ok && (err != nil || user != "machine-1") {
				t.Fatalf("Authenticate = %q, %v", user, err)
			}
			if !tc.ok && !failure.Is(err, failure.KindUnauthenticated) {
				t.Fatalf("Authenticate = %q, %v; want unauthenticated", user, err)
			}
		})
	}

	if _, err := s.Push(ctx, eventstore.SystemEditor, Revoke(machine("inst-a"), tokenID)); err != nil {
		t.Fatal(err)
	}
	if _, err := Authenticate(ctx, s.DB(), "inst-a", token, now); !failure.Is(err, failure.KindUnauthenticated) {
		t.Fatalf("revoked token accepted: %v", err)
	}
	for _, exp := range []time.Time{now, now.AddDate(11, 0, 0)} {
		if _, _, _, err := New(machine("inst-a"), exp, now); !failure.Is(err, failure.KindInvalidArgument) {
			t.Fatalf("expiry %v accepted: %v", exp, err)
		}
	}
}

// The bearer value comes from the network.
func FuzzAuthenticate(f *testing.F) {
	s := eventstoretest.New(f, "inst-a", RegisterEvents, Migrations, Projection{})
	a, _, token, err := New(machine("inst-a"), now.Add(time.Hour), now)
	if err != nil {
		f.Fatal(err)
	}
	s.Given(f, a)
	f.Add(token)
	f.Add("cst_")
	f.Add("")
	f.Fuzz(func(t *testing.T, candidate string) {
		user, err := Authenticate(ctx, s.DB(), "inst-a", candidate, now)
		if (err == nil) != (candidate == token) {
			t.Fatalf("Authenticate(%q) = %q, %v", candidate, user, err)
		}
	})
}

// altered changes one character of token's secret to a different one. It
// picks a character well inside the base64url text: the last one carries
// padding bits, so some changes to it decode to the same bytes.
func altered(token string) string {
	i := len(token) - 5
	c := byte('A')
	if token[i] == c {
		c = 'B'
	}
	return token[:i] + string(c) + token[i+1:]
}
