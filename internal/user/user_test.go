package user

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/eventstore/eventstoretest"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/password"
	"github.com/castellan-iam/castellan/internal/userschema"
	"github.com/castellan-iam/castellan/internal/usertype"
)

const inst = "inst-1"

var (
	ctx   = context.Background()
	admin = eventstore.Editor{UserID: "admin"}
)

// employee is a custom user type: a unique employee number per
// organization, a band only administrators may set, and a note the user
// may not even read.
const employee = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "permission": {"self": "r", "admin": "rw"},
  "additionalProperties": false,
  "required": ["employee_id"],
  "properties": {
    "employee_id": {"type": "string", "pattern": "^E[0-9]{4}$", "unique": "org", "search": true},
    "band": {"type": "integer", "minimum": 1, "maximum": 9, "search": true},
    "nickname": {"type": "string", "maxLength": 50, "permission": {"self": "rw", "admin": "rw"}},
    "note": {"type": "string", "permission": {"self": "", "admin": "rw"}, "search": true}
  }
}`

type fixture struct {
	*eventstoretest.Store
	users *Commands
	types *usertype.Commands
}

func setup(t testing.TB) *fixture {
	t.Helper()
	s := eventstoretest.New(t, inst, func(r *eventstore.Registry) {
		RegisterEvents(r)
		usertype.RegisterEvents(r)
		org.RegisterEvents(r)
	}, slices.Concat(usertype.Migrations, org.Migrations, Migrations), usertype.Projection{}, org.Projection{}, Projection{})
	defaults, err := usertype.DefaultCreations(inst)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []string{"o1", "o2"} {
		a, err := org.Creation(inst, o, "Org "+o)
		if err != nil {
			t.Fatal(err)
		}
		defaults = append(defaults, a)
	}
	s.Given(t, defaults...)
	f := &fixture{Store: s, users: NewCommands(s.Store, password.NewHasher(password.Params{MemoryKiB: 8192, Iterations: 1, Parallelism: 1}, 2)), types: usertype.NewCommands(s.Store)}
	if _, err := f.types.Create(ctx, admin, inst, "employee", []byte(employee)); err != nil {
		t.Fatal(err)
	}
	s.Given(t)
	return f
}

func (f *fixture) create(t *testing.T, n New) string {
	t.Helper()
	id, err := f.users.Create(ctx, admin, inst, n)
	if err != nil {
		t.Fatalf("create %s: %v", n.LoginName, err)
	}
	return id
}

func wantKind(t *testing.T, err error, kind failure.Kind) *failure.Error {
	t.Helper()
	var fe *failure.Error
	if !errors.As(err, &fe) || fe.Kind != kind {
		t.Fatalf("got %v, want %s", err, kind)
	}
	return fe
}

func TestCreateValidatesAgainstTheType(t *testing.T) {
	f := setup(t)
	id := f.create(t, New{OrgID: "o1", Type: "human", LoginName: "Ada", Email: "ada@example.com", Password: "correct horse battery",
		Traits: json.RawMessage(`{"profile": {"given_name": "Ada", "family_name": "Lovelace", "gender": "female"}}`)})
	u, err := Get(ctx, f.DB(), inst, id, userschema.Admin)
	if err != nil {
		t.Fatal(err)
	}
	if u.Type != "human" || u.LoginName != "Ada" || !u.HasPassword || u.State != StateActive || !strings.Contains(string(u.Traits), `"Lovelace"`) {
		t.Fatalf("read back %+v", u)
	}

	for _, tc := range []struct {
		name  string
		n     New
		kind  failure.Kind
		field string
	}{
		{"fail/login name taken in another case", New{OrgID: "o1", Type: "human", LoginName: "ADA"}, failure.KindAlreadyExists, "loginName"},
		{"fail/unknown type", New{OrgID: "o1", Type: "robot", LoginName: "r2"}, failure.KindInvalidArgument, "type"},
		{"fail/trait outside the enum", New{OrgID: "o1", Type: "human", LoginName: "bob", Traits: json.RawMessage(`{"profile": {"gender": "x"}}`)}, failure.KindInvalidArgument, ""},
		{"fail/undeclared trait", New{OrgID: "o1", Type: "human", LoginName: "bob", Traits: json.RawMessage(`{"shoe_size": 44}`)}, failure.KindInvalidArgument, ""},
		{"fail/bad email", New{OrgID: "o1", Type: "human", LoginName: "bob", Email: "bob@"}, failure.KindInvalidArgument, "email"},
		{"fail/bad phone", New{OrgID: "o1", Type: "human", LoginName: "bob", Phone: "0791234567"}, failure.KindInvalidArgument, "phone"},
		{"fail/short password", New{OrgID: "o1", Type: "human", LoginName: "bob", Password: "short"}, failure.KindInvalidArgument, "password"},
		{"fail/login name with a space", New{OrgID: "o1", Type: "human", LoginName: "bob smith"}, failure.KindInvalidArgument, "loginName"},
		{"fail/required trait missing", New{OrgID: "o1", Type: "employee", LoginName: "e1", Traits: json.RawMessage(`{}`)}, failure.KindInvalidArgument, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.users.Create(ctx, admin, inst, tc.n)
			fe := wantKind(t, err, tc.kind)
			if tc.field != "" && fe.Field != tc.field {
				t.Fatalf("error names %q, want %q: %v", fe.Field, tc.field, err)
			}
		})
	}
	f.Then(t, &Added{SchemaID: u.SchemaID, SchemaType: "human", SchemaRevision: 1, LoginName: "Ada", Email: "ada@example.com",
		Traits: json.RawMessage(`{"profile":{"family_name":"Lovelace","gender":"female","given_name":"Ada"}}`)},
		&credential.PasswordSet{Hash: passwordHash(t, f.DB(), id)})
}

func passwordHash(t *testing.T, db *database.DB, userID string) string {
	var h string
	if err := db.Reader().QueryRow(`SELECT password_hash FROM users WHERE id = $1`, userID).Scan(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestViolationsNameTheirPointers(t *testing.T) {
	f := setup(t)
	_, err := f.users.Create(ctx, admin, inst, New{OrgID: "o1", Type: "employee", LoginName: "e1", Traits: json.RawMessage(`{"employee_id": "X1", "band": 12}`)})
	var ve *userschema.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want a validation error", err)
	}
	var pointers []string
	for _, v := range ve.Violations {
		pointers = append(pointers, v.Pointer)
	}
	if !slices.Contains(pointers, "/employee_id") || !slices.Contains(pointers, "/band") {
		t.Fatalf("violations %v should name /employee_id and /band", ve.Violations)
	}
}

func TestUniqueTraitsPerOrganization(t *testing.T) {
	f := setup(t)
	first := f.create(t, New{OrgID: "o1", Type: "employee", LoginName: "e1", Traits: json.RawMessage(`{"employee_id": "E0001"}`)})
	_, err := f.users.Create(ctx, admin, inst, New{OrgID: "o1", Type: "employee", LoginName: "e2", Traits: json.RawMessage(`{"employee_id": "E0001"}`)})
	if fe := wantKind(t, err, failure.KindAlreadyExists); fe.Field != "traits/employee_id" {
		t.Fatalf("duplicate names %q", fe.Field)
	}
	f.create(t, New{OrgID: "o2", Type: "employee", LoginName: "e3", Traits: json.RawMessage(`{"employee_id": "E0001"}`)})
	// Changing the number frees the old one.
	if err := f.users.Update(ctx, admin, inst, first, userschema.Admin, Patch{Traits: json.RawMessage(`{"employee_id": "E0002"}`)}); err != nil {
		t.Fatal(err)
	}
	f.create(t, New{OrgID: "o1", Type: "employee", LoginName: "e4", Traits: json.RawMessage(`{"employee_id": "E0001"}`)})
	// Deleting releases the login name and the number.
	if err := f.users.Delete(ctx, admin, inst, first); err != nil {
		t.Fatal(err)
	}
	f.create(t, New{OrgID: "o1", Type: "employee", LoginName: "E1", Traits: json.RawMessage(`{"employee_id": "E0002"}`)})
	if _, err := Get(ctx, f.DB(), inst, first, userschema.Admin); !failure.Is(err, failure.KindNotFound) {
		t.Fatalf("deleted user readable: %v", err)
	}
}

func TestFieldPermissions(t *testing.T) {
	f := setup(t)
	id := f.create(t, New{OrgID: "o1", Type: "employee", LoginName: "e1", Traits: json.RawMessage(`{"employee_id": "E0001", "band": 3, "note": "promote"}`)})
	self, err := Get(ctx, f.DB(), inst, id, userschema.Self)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(self.Traits), "promote") || !strings.Contains(string(self.Traits), "E0001") {
		t.Fatalf("self reads %s", self.Traits)
	}
	f.Given(t)
	if err := f.users.Update(ctx, eventstore.Editor{UserID: id}, inst, id, userschema.Self, Patch{Traits: json.RawMessage(`{"band": 9}`)}); err == nil {
		t.Fatal("a user raised its own band")
	}
	nick := "Ed"
	if err := f.users.Update(ctx, eventstore.Editor{UserID: id}, inst, id, userschema.Self, Patch{LoginName: &nick}); !failure.Is(err, failure.KindPermissionDenied) {
		t.Fatalf("self renaming its login: %v", err)
	}
	f.Then(t)
	if err := f.users.Update(ctx, eventstore.Editor{UserID: id}, inst, id, userschema.Self, Patch{Traits: json.RawMessage(`{"nickname": "Ed"}`)}); err != nil {
		t.Fatalf("self writing its nickname: %v", err)
	}
	f.Then(t, &TraitsUpdated{SchemaRevision: 1, Traits: json.RawMessage(`{"band":3,"employee_id":"E0001","nickname":"Ed","note":"promote"}`)})
}

func TestNewRevisionsValidateWritesButNotReads(t *testing.T) {
	f := setup(t)
	id := f.create(t, New{OrgID: "o1", Type: "employee", LoginName: "e1", Traits: json.RawMessage(`{"employee_id": "E0001"}`)})
	et, err := usertype.ByName(ctx, f.DB(), inst, "employee")
	if err != nil {
		t.Fatal(err)
	}
	v2 := strings.Replace(employee, `"required": ["employee_id"]`, `"required": ["employee_id", "band"]`, 1)
	if rev, err := f.types.Update(ctx, admin, inst, et.ID, []byte(v2)); err != nil || rev != 2 {
		t.Fatalf("update type: %d %v", rev, err)
	}
	if _, err := Get(ctx, f.DB(), inst, id, userschema.Admin); err != nil {
		t.Fatalf("reading a user of revision 1: %v", err)
	}
	wantKind(t, f.users.Update(ctx, admin, inst, id, userschema.Admin, Patch{Traits: json.RawMessage(`{"nickname": "x"}`)}), failure.KindInvalidArgument)
	if err := f.users.Update(ctx, admin, inst, id, userschema.Admin, Patch{Traits: json.RawMessage(`{"band": 2}`)}); err != nil {
		t.Fatal(err)
	}
	if u, _ := Get(ctx, f.DB(), inst, id, userschema.Admin); u.SchemaRevision != 2 {
		t.Fatalf("user revision %d after an update, want 2", u.SchemaRevision)
	}
	wantKind(t, f.types.Delete(ctx, admin, inst, et.ID, CountByType(f.DB())), failure.KindFailedPrecondition)
	if err := f.types.Deactivate(ctx, admin, inst, et.ID); err != nil {
		t.Fatal(err)
	}
	_, err = f.users.Create(ctx, admin, inst, New{OrgID: "o1", Type: "employee", LoginName: "e2", Traits: json.RawMessage(`{"employee_id": "E0002", "band": 1}`)})
	wantKind(t, err, failure.KindFailedPrecondition)
}

func TestInitialUsersBecomeActiveWithAPassword(t *testing.T) {
	f := setup(t)
	invited := f.create(t, New{OrgID: "o1", Type: "human", LoginName: "invited", Email: "invited@example.com"})
	bot := f.create(t, New{OrgID: "o1", Type: "machine", LoginName: "bot", Traits: json.RawMessage(`{"name": "Bot"}`)})
	vouched := f.create(t, New{OrgID: "o1", Type: "human", LoginName: "vouched", Email: "v@example.com", EmailVerified: true})
	for id, want := range map[string]State{invited: StateInitial, bot: StateActive, vouched: StateActive} {
		if u, _ := Get(ctx, f.DB(), inst, id, userschema.Admin); u.State != want {
			t.Fatalf("%s is %s, want %s", u.LoginName, u.State, want)
		}
	}
	wantKind(t, f.users.Lock(ctx, admin, inst, invited), failure.KindFailedPrecondition)
	if err := f.users.SetPassword(ctx, admin, inst, invited, "a fine password", true); err != nil {
		t.Fatal(err)
	}
	if u, _ := Get(ctx, f.DB(), inst, invited, userschema.Admin); u.State != StateActive {
		t.Fatalf("after a password: %s", u.State)
	}
}

func TestLifecycle(t *testing.T) {
	f := setup(t)
	id := f.create(t, New{OrgID: "o1", Type: "human", LoginName: "ada", Password: "correct horse battery"})
	f.Given(t)
	steps := []struct {
		name string
		do   func(context.Context, eventstore.Editor, string, string) error
		fail bool
	}{
		{"unlock an active user", f.users.Unlock, true},
		{"lock", f.users.Lock, false},
		{"lock twice", f.users.Lock, true},
		{"unlock", f.users.Unlock, false},
		{"deactivate", f.users.Deactivate, false},
		{"lock an inactive user", f.users.Lock, true},
		{"reactivate", f.users.Reactivate, false},
		{"delete", f.users.Delete, false},
		{"reactivate a deleted user", f.users.Reactivate, true},
	}
	for _, s := range steps {
		err := s.do(ctx, admin, inst, id)
		if s.fail != (err != nil) {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	f.Then(t, &Locked{}, &Unlocked{}, &Deactivated{}, &Reactivated{}, &Deleted{})
}

func TestSearch(t *testing.T) {
	f := setup(t)
	for i := range 25 {
		org := "o1"
		if i%5 == 0 {
			org = "o2"
		}
		f.create(t, New{OrgID: org, Type: "employee", LoginName: fmt.Sprintf("user%02d", i), Email: fmt.Sprintf("User%02d@Example.com", i),
			Traits: json.RawMessage(fmt.Sprintf(`{"employee_id": "E%04d", "band": %d}`, i, i%3+1))})
	}
	f.create(t, New{OrgID: "o1", Type: "human", LoginName: "zed"})
	names := func(p Page) []string {
		var out []string
		for _, u := range p.Users {
			out = append(out, u.LoginName)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		s     Search
		want  []string
		total int
	}{
		{"ok/organization and type", Search{OrgID: "o2", Type: "employee"}, []string{"user00", "user05", "user10", "user15", "user20"}, 5},
		{"ok/login name prefix", Search{LoginNamePrefix: "USER1"}, []string{"user10", "user11", "user12", "user13", "user14", "user15", "user16", "user17", "user18", "user19"}, 10},
		{"ok/email in any case", Search{Email: "user07@example.COM"}, []string{"user07"}, 1},
		{"ok/trait equality", Search{Traits: []TraitFilter{{Pointer: "/employee_id", Value: "E0013"}}}, []string{"user13"}, 1},
		{"ok/trait prefix and number", Search{OrgID: "o1", Traits: []TraitFilter{{Pointer: "/employee_id", Value: "E001", Prefix: true}, {Pointer: "/band", Value: "2"}}}, []string{"user13", "user16", "user19"}, 3},
		{"ok/newest first", Search{SortBy: "createdAt", Descending: true, Limit: 2}, []string{"zed", "user24"}, 26},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Find(ctx, f.DB(), inst, tc.s, userschema.Admin)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(names(p), tc.want) || p.Total != tc.total {
				t.Fatalf("got %v (total %d), want %v (total %d)", names(p), p.Total, tc.want, tc.total)
			}
		})
	}
	// Walking all pages visits every user once, in order.
	for _, sortBy := range []string{"loginName", "createdAt"} {
		var all []string
		s := Search{Limit: 7, SortBy: sortBy}
		for pages := 0; ; pages++ {
			p, err := Find(ctx, f.DB(), inst, s, userschema.Admin)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, names(p)...)
			if p.NextCursor == "" {
				break
			}
			if pages > 10 {
				t.Fatal("pagination does not end")
			}
			s.Cursor = p.NextCursor
		}
		if len(all) != 26 || all[0] != "user00" || all[25] != "zed" {
			t.Fatalf("%s pages: %v", sortBy, all)
		}
	}
	for _, bad := range []Search{{Cursor: "garbage"}, {Limit: 5000}, {SortBy: "shoeSize"}, {Traits: []TraitFilter{{Pointer: "band"}}}} {
		if _, err := Find(ctx, f.DB(), inst, bad, userschema.Admin); !failure.Is(err, failure.KindInvalidArgument) {
			t.Fatalf("search %+v: %v", bad, err)
		}
	}
}

func eventstoreFilter(userID string) eventstore.Filter {
	return eventstore.Filter{InstanceID: inst, AggregateIDs: []string{userID}}
}

func TestOrganizationDomainPolicy(t *testing.T) {
	f := setup(t)
	acme, err := org.Creation(inst, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	acme.Events = append(acme.Events, &org.DomainAdded{Domain: "acme.example"}, &org.DomainVerified{Domain: "acme.example"},
		&org.PrimaryDomainSet{Domain: "acme.example"}, &org.DomainAdded{Domain: "unproven.example"}, &org.DomainPolicySet{LoginNameMustBeDomain: true})
	f.Given(t, acme)
	id := f.create(t, New{OrgID: "acme", Type: "human", LoginName: "grace"})
	if u, _ := Get(ctx, f.DB(), inst, id, userschema.Admin); u.LoginName != "grace@acme.example" {
		t.Fatalf("login name %q, want it completed with the primary domain", u.LoginName)
	}
	f.create(t, New{OrgID: "acme", Type: "human", LoginName: "ada@ACME.example"})
	for _, name := range []string{"bob@unproven.example", "bob@gmail.com"} {
		_, err := f.users.Create(ctx, admin, inst, New{OrgID: "acme", Type: "human", LoginName: name})
		if fe := wantKind(t, err, failure.KindInvalidArgument); fe.Field != "loginName" {
			t.Fatalf("%s: %v", name, err)
		}
	}
	renamed := "grace.hopper"
	if err := f.users.Update(ctx, admin, inst, id, userschema.Admin, Patch{LoginName: &renamed}); err != nil {
		t.Fatal(err)
	}
	if u, _ := Get(ctx, f.DB(), inst, id, userschema.Admin); u.LoginName != "grace.hopper@acme.example" {
		t.Fatalf("renamed to %q", u.LoginName)
	}
	// Other organizations keep free login names.
	f.create(t, New{OrgID: "o1", Type: "human", LoginName: "plain"})
}

// openUserStore opens src with the migrations, events and projections of
// users, user types and organizations, and pushes as editor the default
// user types and an organization "Org ID" for each id of orgs.
func openUserStore(t *testing.T, src dbtest.Source, editor eventstore.Editor, orgs ...string) (*database.DB, *eventstore.Store) {
	t.Helper()
	db := src.Open(t, slices.Concat(eventstore.Migrations, usertype.Migrations, org.Migrations, Migrations))
	r := eventstore.NewRegistry()
	RegisterEvents(r)
	usertype.RegisterEvents(r)
	org.RegisterEvents(r)
	store, err := eventstore.New(db, r, []eventstore.Projection{usertype.Projection{}, org.Projection{}, Projection{}}, eventstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	given, err := usertype.DefaultCreations(inst)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range orgs {
		a, err := org.Creation(inst, o, "Org "+o)
		if err != nil {
			t.Fatal(err)
		}
		given = append(given, a)
	}
	if _, err := store.Push(ctx, editor, given...); err != nil {
		t.Fatal(err)
	}
	return db, store
}
