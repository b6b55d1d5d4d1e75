package passkey_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/credential/passkey"
	"github.com/castellan-iam/castellan/internal/credential/passkey/passkeytest"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/keyring"
	"github.com/castellan-iam/castellan/internal/pii"
)

var ctx = context.Background()

var b64 = base64.RawURLEncoding

const (
	inst   = "i1"
	rpID   = "login.example.com"
	origin = "https://login.example.com"
)

// userAdded stands in for package user's first event (which imports this
// package): a user whose aggregate exists.
type userAdded struct{}

func (userAdded) EventType() string { return "test.user.added" }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	store *eventstore.Store
	cmds  *passkey.Commands
	clock *clock
}

// relyingParties answers instance i1 with login.example.com and i2 with
// other.example.
func relyingParties(_ context.Context, instanceID string) (string, string, []string, error) {
	switch instanceID {
	case inst:
		id, name, origins := passkey.FromInstance(instance.Instance{ID: inst, Name: "Example", PrimaryDomain: rpID}, "https://castellan.local")
		return id, name, origins, nil
	case "i2":
		return "other.example", "Other", []string{"https://other.example"}, nil
	}
	return "", "", nil, failure.NotFound("instance %s not found", instanceID)
}

// each runs fn on SQLite and, when configured, PostgreSQL.
func each(t *testing.T, fn func(t *testing.T, f *fixture)) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		db := src.Open(t, slices.Concat(eventstore.Migrations, pii.Migrations, passkey.Migrations))
		r := eventstore.NewRegistry()
		eventstore.Register[userAdded](r, 1)
		passkey.RegisterEvents(r)
		clk := &clock{t: time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)}
		key, err := keyring.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		ring, err := keyring.New(key)
		if err != nil {
			t.Fatal(err)
		}
		store, err := eventstore.New(db, r, nil, eventstore.Options{Now: clk.now, Sealer: pii.New(ring)})
		if err != nil {
			t.Fatal(err)
		}
		fn(t, &fixture{store: store, cmds: passkey.NewCommands(store, relyingParties, passkey.Config{}).WithClock(clk.now), clock: clk})
	})
}

func (f *fixture) user(t *testing.T, instanceID, id string) eventstore.Aggregate {
	t.Helper()
	u := eventstore.Aggregate{InstanceID: instanceID, Type: "user", ID: id, Owner: "o1"}
	if _, err := f.store.Push(ctx, eventstore.SystemEditor, eventstore.Append{Aggregate: u, ExpectedSequence: eventstore.NewAggregate,
		Events: []eventstore.Payload{&userAdded{}}}); err != nil {
		t.Fatal(err)
	}
	return u
}

var editor = eventstore.Editor{UserID: "u1"}

// register runs a whole registration of a with the user.
func (f *fixture) register(t *testing.T, a *passkeytest.Authenticator, u eventstore.Aggregate, passwordless bool, name string) (passkey.Credential, *passkeytest.Key) {
	t.Helper()
	cid, opts, err := f.cmds.BeginRegistration(ctx, u, passkey.UserInfo{ID: u.ID, LoginName: "ada@example.com", DisplayName: "Ada"}, passwordless)
	if err != nil {
		t.Fatal(err)
	}
	resp, key, err := a.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := f.cmds.FinishRegistration(ctx, editor, u, cid, name, resp)
	if err != nil {
		t.Fatalf("finish registration: %v", err)
	}
	return cred, key
}

// login runs a whole login of a (with key k, or its choice when nil).
func (f *fixture) login(t *testing.T, a *passkeytest.Authenticator, instanceID string, u *eventstore.Aggregate, k *passkeytest.Key) (passkey.Result, error) {
	t.Helper()
	cid, opts, err := f.cmds.BeginLogin(ctx, instanceID, u, "")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Get(opts, k)
	if err != nil {
		t.Fatal(err)
	}
	return f.cmds.FinishLogin(ctx, instanceID, cid, resp)
}

// events returns the passkey events of the user's aggregate.
func (f *fixture) events(t *testing.T, u eventstore.Aggregate) []eventstore.Payload {
	t.Helper()
	events, err := f.store.Query(ctx, eventstore.Filter{InstanceID: u.InstanceID, AggregateTypes: []string{"user"}, AggregateIDs: []string{u.ID}})
	if err != nil {
		t.Fatal(err)
	}
	var ps []eventstore.Payload
	for _, e := range events {
		if strings.HasPrefix(e.Type, "user.passkey.") {
			ps = append(ps, e.Payload)
		}
	}
	return ps
}

func wantKind(t *testing.T, err error, k failure.Kind, field string) {
	t.Helper()
	if !failure.Is(err, k) {
		t.Fatalf("error %v: want %s", err, k)
	}
	if field != "" {
		if fe := err.(*failure.Error); fe.Field != field {
			t.Fatalf("error %v: field %q, want %q", err, fe.Field, field)
		}
	}
}

// wantRefusedAssertion checks the one answer to a failed assertion.
func wantRefusedAssertion(t *testing.T, err error) {
	t.Helper()
	wantKind(t, err, failure.KindUnauthenticated, "")
	if msg := err.(*failure.Error).Message; msg != "the passkey could not be verified" {
		t.Fatalf("refusal %q says more than the one answer", msg)
	}
}

func TestSecondFactor(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		u := f.user(t, inst, "u1")
		a := &passkeytest.Authenticator{Origin: origin}

		cid, opts, err := f.cmds.BeginRegistration(ctx, u, passkey.UserInfo{ID: u.ID, LoginName: "ada@example.com", DisplayName: "Ada"}, false)
		if err != nil {
			t.Fatal(err)
		}
		var o struct {
			PublicKey struct {
				RP   struct{ ID, Name string }
				User struct {
					ID   string `json:"id"`
					Name string `json:"name"`
				}
				Attestation            string `json:"attestation"`
				AuthenticatorSelection struct {
					ResidentKey      string `json:"residentKey"`
					UserVerification string `json:"userVerification"`
				} `json:"authenticatorSelection"`
			} `json:"publicKey"`
		}
		if err := json.Unmarshal(opts, &o); err != nil {
			t.Fatal(err)
		}
		p := o.PublicKey
		if p.RP.ID != rpID || p.RP.Name != "Example" || p.User.ID != b64.EncodeToString([]byte("u1")) || p.User.Name != "ada@example.com" ||
			p.Attestation != "none" || p.AuthenticatorSelection.ResidentKey != "discouraged" || p.AuthenticatorSelection.UserVerification != "preferred" {
			t.Fatalf("creation options: %s", opts)
		}
		resp, key, err := a.Create(opts)
		if err != nil {
			t.Fatal(err)
		}
		cred, err := f.cmds.FinishRegistration(ctx, editor, u, cid, "  YubiKey  ", resp)
		if err != nil {
			t.Fatal(err)
		}
		if cred.ID != b64.EncodeToString(key.ID) || cred.Name != "YubiKey" || cred.Passwordless || cred.Discoverable ||
			cred.AAGUID != "00000000-0000-0000-0000-000000000000" || !cred.CreatedAt.Equal(f.clock.now()) || !cred.LastUsedAt.IsZero() {
			t.Fatalf("credential %+v", cred)
		}
		added := f.events(t, u)[0].(*passkey.Added)
		if added.CredentialID != cred.ID || !added.UserPresent || added.UserVerified || added.AttestationFormat != "none" ||
			!slices.Equal(added.Transports, []string{"internal", "hybrid"}) || len(added.PublicKey) == 0 {
			t.Fatalf("added %+v", added)
		}
		if sf, pl, err := f.cmds.Has(ctx, u); err != nil || !sf || pl {
			t.Fatalf("has: %v %v %v", sf, pl, err)
		}

		f.clock.advance(time.Minute)
		res, err := f.login(t, a, inst, &u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res != (passkey.Result{UserID: "u1", CredentialID: cred.ID}) {
			t.Fatalf("result %+v", res)
		}
		evs := f.events(t, u)
		if used, ok := evs[len(evs)-1].(*passkey.Used); !ok || used.SignCount != 1 || used.CredentialID != cred.ID {
			t.Fatalf("used event %#v", evs[len(evs)-1])
		}
		list, err := f.cmds.List(ctx, u)
		if err != nil || len(list) != 1 || !list[0].LastUsedAt.Equal(f.clock.now()) {
			t.Fatalf("list %+v %v", list, err)
		}
		// The counter goes on growing.
		if _, err := f.login(t, a, inst, &u, nil); err != nil {
			t.Fatal(err)
		}
	})
}

func TestPasswordless(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		u := f.user(t, inst, "u1")
		other := f.user(t, inst, "u2")
		a := &passkeytest.Authenticator{Origin: origin, UV: true, Synced: true}

		cid, opts, err := f.cmds.BeginRegistration(ctx, u, passkey.UserInfo{LoginName: "ada"}, true)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(opts, []byte(`"residentKey":"required"`)) || !bytes.Contains(opts, []byte(`"userVerification":"required"`)) {
			t.Fatalf("passwordless creation options: %s", opts)
		}
		resp, _, err := a.Create(opts)
		if err != nil {
			t.Fatal(err)
		}
		cred, err := f.cmds.FinishRegistration(ctx, editor, u, cid, "", resp)
		if err != nil {
			t.Fatal(err)
		}
		if !cred.Passwordless || !cred.Discoverable || cred.Name != passkey.DefaultName || !cred.BackupEligible || !cred.BackedUp {
			t.Fatalf("credential %+v", cred)
		}
		if sf, pl, err := f.cmds.Has(ctx, u); err != nil || !sf || !pl {
			t.Fatalf("has: %v %v %v", sf, pl, err)
		}
		if sf, pl, err := f.cmds.Has(ctx, other); err != nil || sf || pl {
			t.Fatalf("has of a user without credentials: %v %v %v", sf, pl, err)
		}

		// Discoverable: no user named, the user handle tells.
		cid, opts, err = f.cmds.BeginLogin(ctx, inst, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(opts, []byte("allowCredentials")) || !bytes.Contains(opts, []byte(`"userVerification":"required"`)) {
			t.Fatalf("discoverable request options: %s", opts)
		}
		resp, err = a.Get(opts, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := f.cmds.FinishLogin(ctx, inst, cid, resp)
		if err != nil {
			t.Fatal(err)
		}
		if res != (passkey.Result{UserID: "u1", CredentialID: cred.ID, UserVerified: true, Passwordless: true}) {
			t.Fatalf("result %+v", res)
		}

		// A passkey also serves as a second factor of its user.
		if res, err := f.login(t, a, inst, &u, nil); err != nil || res.Passwordless || res.UserID != "u1" {
			t.Fatalf("second factor with a passkey: %+v %v", res, err)
		}

		// An authenticator that cannot verify the user cannot register a
		// passkey for passwordless sign-in.
		weak := &passkeytest.Authenticator{Origin: origin}
		cid, opts, err = f.cmds.BeginRegistration(ctx, other, passkey.UserInfo{LoginName: "bob"}, true)
		if err != nil {
			t.Fatal(err)
		}
		resp, _, err = weak.Create(opts)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.cmds.FinishRegistration(ctx, editor, other, cid, "", resp)
		wantKind(t, err, failure.KindInvalidArgument, "credential")

		// A discoverable assertion whose user handle names another user
		// than the credential's is refused.
		k := a.Keys[0].Clone()
		k.UserHandle = []byte("u2")
		if _, err := f.login(t, &passkeytest.Authenticator{Origin: origin, UV: true, Synced: true, Keys: []*passkeytest.Key{k}}, inst, nil, nil); err == nil {
			t.Fatal("an assertion under another user's handle was accepted")
		} else {
			wantRefusedAssertion(t, err)
		}
		// …and one whose handle names nobody, or cannot be a user id.
		for _, handle := range [][]byte{[]byte("nobody"), {0, 0xff, 'u'}, bytes.Repeat([]byte("u"), 65)} {
			k.UserHandle = handle
			_, err = f.login(t, &passkeytest.Authenticator{Origin: origin, UV: true, Synced: true, Keys: []*passkeytest.Key{k}}, inst, nil, nil)
			wantRefusedAssertion(t, err)
		}
	})
}

func TestWrongOriginIsRefused(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		u := f.user(t, inst, "u1")
		evil := &passkeytest.Authenticator{Origin: "https://login.example.com.evil.example"}
		cid, opts, err := f.cmds.BeginRegistration(ctx, u, passkey.UserInfo{LoginName: "ada"}, false)
		if err != nil {
			t.Fatal(err)
		}
		resp, _, err := evil.Create(opts)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.cmds.FinishRegistration(ctx, editor, u, cid, "", resp)
		wantKind(t, err, failure.KindInvalidArgument, "credential")

		good := &passkeytest.Authenticator{Origin: origin}
		_, key := f.register(t, good, u, false, "key")
		evil.Keys = []*passkeytest.Key{key}
		_, err = f.login(t, evil, inst, &u, nil)
		wantRefusedAssertion(t, err)
		if evs := f.events(t, u); len(evs) != 1 {
			t.Fatalf("a refused login was recorded: %v", evs)
		}
	})
}

func TestCeremoniesAreOneTime(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		u := f.user(t, inst, "u1")
		a := &passkeytest.Authenticator{Origin: origin}
		cid, opts, err := f.cmds.BeginRegistration(ctx, u, passkey.UserInfo{LoginName: "ada"}, false)
		if err != nil {
			t.Fatal(err)
		}
		resp, _, err := a.Create(opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.cmds.FinishRegistration(ctx, editor, u, cid, "", resp); err != nil {
			t.Fatal(err)
		}
		_, err = f.cmds.FinishRegistration(ctx, editor, u, cid, "", resp)
		wantKind(t, err, failure.KindInvalidArgument, "ceremonyId")

		cid, opts, err = f.cmds.BeginLogin(ctx, inst, &u, "")
		if err != nil {
			t.Fatal(err)
		}
		assertion, err := a.Get(opts, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.cmds.FinishLogin(ctx, inst, cid, assertion); err != nil {
			t.Fatal(err)
		}
		_, err = f.cmds.FinishLogin(ctx, inst, cid, assertion)
		wantKind(t, err, failure.KindInvalidArgument, "ceremonyId")

		// The same assertion against a fresh ceremony: its challenge is
		// not the one signed.
		cid, _, err = f.cmds.BeginLogin(ctx, inst, &u, "")
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.cmds.FinishLogin(ctx, inst, cid, assertion)
		wantRefusedAssertion(t, err)
		// A failed finish spends the ceremony too.
		_, err = f.cmds.FinishLogin(ctx, inst, cid, assertion)
		wantKind(t, err, failure.KindInvalidArgument, "ceremonyId")

		// A ceremony is the instance's, the user's and of its purpose.
		cid, opts, err = f.cmds.BeginLogin(ctx, inst, &u, "")
		if err != nil {
			t.Fatal(err)
		}
		assertion, err = a.Get(opts, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.cmds.FinishLogin(ctx, "i2", cid, assertion)
		wantKind(t, err, failure.KindInvalidArgument, "ceremonyId")
		_, err = f.cmds.FinishRegistration(ctx, editor, u, cid, "", resp)
		wantKind(t, err, failure.KindInvalidArgument, "ceremonyId")
		if _, err := f.cmds.FinishLogin(ctx, inst, cid, assertion); err != nil {
			t.Fatalf("the ceremony was spent by a finish that did not match it: %v", err)
		}
		other := f.user(t, inst, "u2")
		rcid, ropts, err := f.cmds.BeginRegistration(ctx, u, passkey.UserInfo{LoginName: "ada"}, false)
		if err != nil {
			t.Fatal(err)
		}
		resp2, _, err := (&passkeytest.Authenticator{Origin: origin}).Create(ropts)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.cmds.FinishRegistration(ctx, editor, other, rcid, "", resp2)
		wantKind(t, err, failure.KindInvalidArgument, "ceremonyId")
		for _, id := range []string{"", "\x00\xff", strings.Repeat("A", 1000)} {
			_, err = f.cmds.FinishRegistration(ctx, editor, u, id, "", resp2)
			wantKind(t, err, failure.KindInvalidArgument, "ceremonyId")
		}
	})
}

func TestClonedAuthenticatorIsRefusedAndRecorded(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		u := f.user(t, inst, "u1")
		a := &passkeytest.Authenticator{Origin: origin}
		cred, key := f.register(t, a, u, false, "key")
		copyOf := &passkeytest.Authenticator{Origin: origin, Keys: []*passkeytest.Key{key.Clone()}}
		if _, err := f.login(t, a, inst, &u, nil); err != nil { // counter 1
			t.Fatal(err)
		}
		if _, err := f.login(t, a, inst, &u, nil); err != nil { // counter 2
			t.Fatal(err)
		}
		_, err := f.login(t, copyOf, inst, &u, nil) // the copy's counter: 1
		wantRefusedAssertion(t, err)
		evs := f.events(t, u)
		warning, ok := evs[len(evs)-1].(*passkey.CloneWarning)
		if !ok || *warning != (passkey.CloneWarning{CredentialID: cred.ID, StoredSignCount: 2, ReceivedSignCount: 1}) {
			t.Fatalf("last event %#v, want a clone warning", evs[len(evs)-1])
		}
		list, err := f.cmds.List(ctx, u)
		if err != nil || list[0].CloneWarnings != 1 {
			t.Fatalf("list %+v %v", list, err)
		}
		// An equal counter is refused as well.
		copyOf.Keys[0].Counter = 1
		_, err = f.login(t, copyOf, inst, &u, nil)
		wantRefusedAssertion(t, err)
		// The genuine authenticator goes on.
		if _, err := f.login(t, a, inst, &u, nil); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAuthenticatorsWithoutCounter(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		u := f.user(t, inst, "u1")
		a := &passkeytest.Authenticator{Origin: origin, UV: true, Synced: true}
		_, key := f.register(t, a, u, true, "synced")
		key.NoCounter = true
		// Both counters zero: nothing to compare (§6.1.1), no clone.
		for range 3 {
			if _, err := f.login(t, a, inst, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		for _, e := range f.events(t, u) {
			if _, ok := e.(*passkey.CloneWarning); ok {
				t.Fatal("a clone warning for an authenticator without counter")
			}
		}
	})
}

func TestExpiredCeremonyIsRefused(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		u := f.user(t, inst, "u1")
		a := &passkeytest.Authenticator{Origin: origin}
		cid, opts, err := f.cmds.BeginRegistration(ctx, u, passkey.UserInfo{LoginName: "ada"}, false)
		if err != nil {
			t.Fatal(err)
		}
		resp, _, err := a.Create(opts)
		if err != nil {
			t.Fatal(err)
		}
		f.clock.advance(passkey.CeremonyLifetime)
		_, err = f.cmds.FinishRegistration(ctx, editor, u, cid, "", resp)
		wantKind(t, err, failure.KindInvalidArgument, "ceremonyId")

		// Just in time still works.
		_, key := f.register(t, a, u, false, "")
		cid, opts, err = f.cmds.BeginLogin(ctx, inst, &u, "")
		if err != nil {
			t.Fatal(err)
		}
		assertion, err := a.Get(opts, key)
		if err != nil {
			t.Fatal(err)
		}
		f.clock.advance(passkey.CeremonyLifetime - time.Microsecond)
		if _, err := f.cmds.FinishLogin(ctx, inst, cid, assertion); err != nil {
			t.Fatalf("within the lifetime: %v", err)
		}
		cid, opts, err = f.cmds.BeginLogin(ctx, inst, &u, "")
		if err != nil {
			t.Fatal(err)
		}
		if assertion, err = a.Get(opts, key); err != nil {
			t.Fatal(err)
		}
		f.clock.advance(passkey.CeremonyLifetime + time.Second)
		_, err = f.cmds.FinishLogin(ctx, inst, cid, assertion)
		wantKind(t, err, failure.KindInvalidArgument, "ceremonyId")

		// Expired rows are cleaned up.
		if _, _, err := f.cmds.BeginLogin(ctx, inst, &u, ""); err != nil {
			t.Fatal(err)
		}
		f.clock.advance(passkey.CeremonyLifetime)
		if n, err := f.cmds.DeleteExpiredCeremonies(ctx); err != nil || n != 1 {
			t.Fatalf("deleted %d expired ceremonies, %v; want 1", n, err)
		}
	})
}

func TestReRegistrationExcludesCredentials(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		u := f.user(t, inst, "u1")
		a := &passkeytest.Authenticator{Origin: origin}
		cred, _ := f.register(t, a, u, false, "first")
		_, opts, err := f.cmds.BeginRegistration(ctx, u, passkey.UserInfo{LoginName: "ada"}, true)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(opts, []byte(`"excludeCredentials":[{"type":"public-key","id":"`+cred.ID+`"`)) {
			t.Fatalf("creation options do not exclude %s: %s", cred.ID, opts)
		}
		if _, _, err := a.Create(opts); err != passkeytest.ErrExcluded {
			t.Fatalf("the authenticator was not excluded: %v", err)
		}
		// A client that ignores the exclusion cannot register the same
		// credential twice.
		a.IgnoreExclusions = true
		cid, opts, err := f.cmds.BeginRegistration(ctx, u, passkey.UserInfo{LoginName: "ada"}, false)
		if err != nil {
			t.Fatal(err)
		}
		resp, _, err := a.Create(opts)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.cmds.FinishRegistration(ctx, editor, u, cid, "", resp)
		wantKind(t, err, failure.KindAlreadyExists, "")
		// Nor for another user of the instance.
		other := f.user(t, inst, "u2")
		cid, opts, err = f.cmds.BeginRegistration(ctx, other, passkey.UserInfo{LoginName: "bob"}, false)
		if err != nil {
			t.Fatal(err)
		}
		if resp, _, err = a.Create(opts); err != nil {
			t.Fatal(err)
		}
		_, err = f.cmds.FinishRegistration(ctx, editor, other, cid, "", resp)
		wantKind(t, err, failure.KindAlreadyExists, "credential")
		// A second authenticator is welcome.
		f.register(t, &passkeytest.Authenticator{Origin: origin}, u, false, "second")
		if list, err := f.cmds.List(ctx, u); err != nil || len(list) != 2 || list[0].Name != "first" || list[1].Name != "second" {
			t.Fatalf("list %+v %v", list, err)
		}
	})
}

func TestRemove(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		u := f.user(t, inst, "u1")
		a := &passkeytest.Authenticator{Origin: origin, UV: true}
		cred, key := f.register(t, a, u, true, "phone")
		if err := f.cmds.Remove(ctx, editor, u, "unknown"); !failure.Is(err, failure.KindNotFound) {
			t.Fatalf("remove an unknown credential: %v", err)
		}
		// A login begun before the removal cannot finish with it.
		cid, opts, err := f.cmds.BeginLogin(ctx, inst, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := f.cmds.Remove(ctx, editor, u, cred.ID); err != nil {
			t.Fatal(err)
		}
		assertion, err := a.Get(opts, key)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.cmds.FinishLogin(ctx, inst, cid, assertion)
		wantRefusedAssertion(t, err)
		if list, err := f.cmds.List(ctx, u); err != nil || len(list) != 0 {
			t.Fatalf("list after removal %+v %v", list, err)
		}
		if sf, pl, err := f.cmds.Has(ctx, u); err != nil || sf || pl {
			t.Fatalf("has after removal: %v %v %v", sf, pl, err)
		}
		_, _, err = f.cmds.BeginLogin(ctx, inst, &u, "")
		wantKind(t, err, failure.KindFailedPrecondition, "")
		// The credential's id is free again: the same authenticator may
		// register it anew.
		a.IgnoreExclusions = true
		f.register(t, a, u, true, "phone again")
	})
}

func TestCredentialsAreTheUsersAndTheInstances(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ada := f.user(t, inst, "u1")
		bob := f.user(t, inst, "u2")
		adas := &passkeytest.Authenticator{Origin: origin}
		_, adaKey := f.register(t, adas, ada, false, "")
		f.register(t, &passkeytest.Authenticator{Origin: origin}, bob, false, "")
		// Ada's key in a login of Bob.
		_, err := f.login(t, adas, inst, &bob, adaKey)
		wantRefusedAssertion(t, err)

		// Instance i2 is another relying party: a key of i1 does not
		// sign in there, not even for a user of the same id.
		ada2 := f.user(t, "i2", "u1")
		other := &passkeytest.Authenticator{Origin: "https://other.example"}
		f.register(t, other, ada2, false, "")
		_, err = f.login(t, &passkeytest.Authenticator{Origin: "https://other.example", Keys: []*passkeytest.Key{adaKey}}, "i2", &ada2, adaKey)
		wantRefusedAssertion(t, err)
		if _, err := f.login(t, other, "i2", &ada2, nil); err != nil {
			t.Fatal(err)
		}
		_, _, err = f.cmds.BeginLogin(ctx, inst, &ada2, "")
		wantKind(t, err, failure.KindInvalidArgument, "user")
	})
}

func TestBadInput(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		u := f.user(t, inst, "u1")
		a := &passkeytest.Authenticator{Origin: origin}
		cid, opts, err := f.cmds.BeginRegistration(ctx, u, passkey.UserInfo{LoginName: "ada"}, false)
		if err != nil {
			t.Fatal(err)
		}
		resp, _, err := a.Create(opts)
		if err != nil {
			t.Fatal(err)
		}
		for name, body := range map[string][]byte{
			"empty":     nil,
			"not JSON":  []byte("{"),
			"too large": append(resp[:len(resp)-1], []byte(`,"pad":"`+strings.Repeat("x", passkey.MaxResponseSize)+`"}`)...),
			"no type":   bytes.Replace(resp, []byte(`"type":"public-key"`), []byte(`"type":"x"`), 1),
		} {
			_, err := f.cmds.FinishRegistration(ctx, editor, u, cid, "", body)
			if !failure.Is(err, failure.KindInvalidArgument) || err.(*failure.Error).Field != "credential" {
				t.Fatalf("%s: %v", name, err)
			}
		}
		_, err = f.cmds.FinishRegistration(ctx, editor, u, cid, strings.Repeat("n", passkey.MaxNameLength+1), resp)
		wantKind(t, err, failure.KindInvalidArgument, "name")
		_, err = f.cmds.FinishRegistration(ctx, editor, u, cid, "a\nb", resp)
		wantKind(t, err, failure.KindInvalidArgument, "name")
		// None of these spent the ceremony.
		if _, err := f.cmds.FinishRegistration(ctx, editor, u, cid, "", resp); err != nil {
			t.Fatal(err)
		}
		_, _, err = f.cmds.BeginLogin(ctx, inst, &u, "sometimes")
		wantKind(t, err, failure.KindInvalidArgument, "userVerification")
		_, _, err = f.cmds.BeginRegistration(ctx, eventstore.Aggregate{InstanceID: inst, Type: "user", ID: "nobody"}, passkey.UserInfo{LoginName: "x"}, false)
		wantKind(t, err, failure.KindNotFound, "")
		_, err = f.cmds.FinishLogin(ctx, inst, "unknown", resp)
		wantKind(t, err, failure.KindInvalidArgument, "credential") // a registration response is no assertion
	})
}

func TestAttestationPreference(t *testing.T) {
	if err := (passkey.Config{Attestation: "sometimes"}).Validate(); err == nil {
		t.Fatal("an unknown attestation preference passed")
	}
	each(t, func(t *testing.T, f *fixture) {
		u := f.user(t, inst, "u1")
		cmds := passkey.NewCommands(f.store, relyingParties, passkey.Config{Attestation: "direct"})
		_, opts, err := cmds.BeginRegistration(ctx, u, passkey.UserInfo{LoginName: "ada"}, false)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(opts, []byte(`"attestation":"direct"`)) {
			t.Fatalf("options %s", opts)
		}
		_, _, err = passkey.NewCommands(f.store, relyingParties, passkey.Config{Attestation: "sometimes"}).BeginRegistration(ctx, u, passkey.UserInfo{LoginName: "ada"}, false)
		wantKind(t, err, failure.KindInternal, "")
	})
}

func TestTheNameIsPersonalData(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		u := f.user(t, inst, "u1")
		a := &passkeytest.Authenticator{Origin: origin}
		cred, _ := f.register(t, a, u, false, "Ada's YubiKey")
		var n int
		if err := f.store.DB().Reader().QueryRowContext(ctx, `SELECT count(*) FROM events WHERE CAST(payload AS TEXT) LIKE '%YubiKey%'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("the name is in %d stored payloads in plain text (%v)", n, err)
		}
		if list, err := f.cmds.List(ctx, u); err != nil || list[0].Name != "Ada's YubiKey" {
			t.Fatalf("list %+v %v", list, err)
		}
		if _, err := f.store.Push(ctx, eventstore.SystemEditor, eventstore.Append{Aggregate: u, ExpectedSequence: eventstore.AnySequence,
			Events: []eventstore.Payload{&userAdded{}}, ErasePersonal: true}); err != nil {
			t.Fatal(err)
		}
		list, err := f.cmds.List(ctx, u)
		if err != nil || len(list) != 1 || list[0].Name != "" || list[0].ID != cred.ID {
			t.Fatalf("list after erasure %+v %v", list, err)
		}
	})
}

// A key registered as a second factor stays one: even discoverable and
// verifying its user, it does not sign its user in alone.
func TestASecondFactorKeyIsNoPasskey(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		u := f.user(t, inst, "u1")
		a := &passkeytest.Authenticator{Origin: origin, UV: true}
		_, key := f.register(t, a, u, false, "")
		// The authenticator kept it as a discoverable credential, though
		// it was not asked to.
		key.Resident = true
		res, err := f.login(t, a, inst, nil, key)
		if err != nil {
			t.Fatal(err)
		}
		if res.Passwordless || res.UserID != "u1" {
			t.Fatalf("a second-factor key in a discoverable login: %+v", res)
		}
	})
}
