package claims

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/eventstore/eventstoretest"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/password"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
	"github.com/castellan-iam/castellan/internal/usertype"
)

const inst = "inst-a"

var (
	ctx   = context.Background()
	admin = eventstore.Editor{UserID: "admin"}
)

type fixture struct {
	*eventstoretest.Store
	users *user.Commands
	orgs  *org.Commands
}

func setup(t *testing.T) *fixture {
	t.Helper()
	s := eventstoretest.New(t, inst, func(r *eventstore.Registry) {
		user.RegisterEvents(r)
		usertype.RegisterEvents(r)
		org.RegisterEvents(r)
	}, slices.Concat(usertype.Migrations, org.Migrations, user.Migrations), usertype.Projection{}, org.Projection{}, user.Projection{})
	given, err := usertype.DefaultCreations(inst)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []string{"o1", "o2"} {
		a, err := org.Creation(inst, o, "Org "+o)
		if err != nil {
			t.Fatal(err)
		}
		given = append(given, a)
	}
	s.Given(t, given...)
	return &fixture{Store: s, users: user.NewCommands(s.Store, password.NewHasher(password.Params{MemoryKiB: 8192, Iterations: 1, Parallelism: 1}, 1)),
		orgs: org.NewCommands(s.Store, nil)}
}

func (f *fixture) create(t *testing.T, n user.New) string {
	t.Helper()
	if n.Type == "" {
		n.Type = "human"
	}
	if n.Password == "" {
		n.Password = "correct horse battery staple"
	}
	id, err := f.users.Create(ctx, admin, inst, n)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestOf(t *testing.T) {
	f := setup(t)
	ada := f.create(t, user.New{OrgID: "o1", LoginName: "ada", Email: "ada@example.com", EmailVerified: true, Phone: "+41791234567",
		Traits: json.RawMessage(`{"profile": {"given_name": "Ada", "family_name": "Lovelace", "display_name": "Ada Lovelace", "preferred_language": "en-GB"}}`)})
	bare := f.create(t, user.New{OrgID: "o1", LoginName: "bare"})
	u, err := user.Get(ctx, f.DB(), inst, ada, userschema.Admin)
	if err != nil {
		t.Fatal(err)
	}
	updated := u.ChangedAt.Unix()

	for _, tc := range []struct {
		name   string
		userID string
		scopes []string
		want   map[string]any
	}{
		{"ok/openid alone releases nothing", ada, []string{ScopeOpenID}, map[string]any{}},
		{"ok/no scopes release nothing", ada, nil, map[string]any{}},
		{"ok/profile releases the login name and the annotated traits", ada, []string{ScopeOpenID, ScopeProfile}, map[string]any{
			"preferred_username": "ada", "updated_at": updated, "given_name": "Ada", "family_name": "Lovelace", "name": "Ada Lovelace", "locale": "en-GB"}},
		{"ok/email", ada, []string{ScopeEmail}, map[string]any{"email": "ada@example.com", "email_verified": true}},
		{"ok/phone, unverified", ada, []string{ScopePhone}, map[string]any{"phone_number": "+41791234567", "phone_number_verified": false}},
		{"ok/email and phone of a user without them release nothing", bare, []string{ScopeEmail, ScopePhone}, map[string]any{}},
		{"ok/profile of a user without traits", bare, []string{ScopeProfile}, map[string]any{"preferred_username": "bare", "updated_at": func() int64 {
			u, _ := user.Get(ctx, f.DB(), inst, bare, userschema.Admin)
			return u.ChangedAt.Unix()
		}()}},
		{"ok/offline_access and unknown scopes release nothing", ada, []string{ScopeOfflineAccess, "orders:read"}, map[string]any{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Of(ctx, f.DB(), inst, tc.userID, tc.scopes)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Of = %#v\nwant %#v", got, tc.want)
			}
		})
	}

	t.Run("fail/an unknown user", func(t *testing.T) {
		if _, err := Of(ctx, f.DB(), inst, "nope", []string{ScopeProfile}); !failure.Is(err, failure.KindNotFound) {
			t.Fatalf("Of = %v", err)
		}
	})
	t.Run("fail/another instance's user", func(t *testing.T) {
		if _, err := Of(ctx, f.DB(), "inst-b", ada, []string{ScopeEmail}); !failure.Is(err, failure.KindNotFound) {
			t.Fatalf("Of = %v", err)
		}
	})
	t.Run("fail/a deactivated user tells nothing", func(t *testing.T) {
		id := f.create(t, user.New{OrgID: "o1", LoginName: "gone", Email: "gone@example.com"})
		if err := f.users.Deactivate(ctx, admin, inst, id); err != nil {
			t.Fatal(err)
		}
		for _, scopes := range [][]string{nil, {ScopeProfile, ScopeEmail}} {
			if got, err := Of(ctx, f.DB(), inst, id, scopes); !failure.Is(err, failure.KindNotFound) || got != nil {
				t.Fatalf("Of(%v) = %v, %v", scopes, got, err)
			}
		}
	})
	t.Run("fail/a user of a deactivated organization tells nothing", func(t *testing.T) {
		id := f.create(t, user.New{OrgID: "o2", LoginName: "eve", Email: "eve@example.com"})
		if _, err := Of(ctx, f.DB(), inst, id, []string{ScopeEmail}); err != nil {
			t.Fatal(err)
		}
		if err := f.orgs.Deactivate(ctx, admin, inst, "o2"); err != nil {
			t.Fatal(err)
		}
		if got, err := Of(ctx, f.DB(), inst, id, []string{ScopeEmail}); !failure.Is(err, failure.KindNotFound) || got != nil {
			t.Fatalf("Of = %v, %v", got, err)
		}
	})
}

// Every claim Of can release is listed in Supported, which discovery
// publishes.
func TestSupportedListsTheReleasedClaims(t *testing.T) {
	f := setup(t)
	id := f.create(t, user.New{OrgID: "o1", LoginName: "ada", Email: "ada@example.com", Phone: "+41791234567",
		Traits: json.RawMessage(`{"profile": {"given_name": "Ada", "family_name": "Lovelace", "display_name": "Ada Lovelace"}}`)})
	got, err := Of(ctx, f.DB(), inst, id, Standard)
	if err != nil {
		t.Fatal(err)
	}
	for name := range got {
		if !slices.Contains(Supported, name) {
			t.Errorf("claim %s is released but not in Supported", name)
		}
	}
}
