package settings

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/eventstore/eventstoretest"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/org"
)

const inst = "inst-1"

var (
	ctx    = context.Background()
	editor = eventstore.Editor{UserID: "admin-1"}
)

func registerEvents(r *eventstore.Registry) {
	org.RegisterEvents(r)
	RegisterEvents(r)
}

func migrations() []database.Migration { return append(slices.Clone(org.Migrations), Migrations...) }

func projections() []eventstore.Projection {
	return []eventstore.Projection{org.Projection{}, Projection{}}
}

func orgCreated(t testing.TB, id, name string) eventstore.Append {
	t.Helper()
	a, err := org.Creation(inst, id, name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func setup(t *testing.T) (*eventstoretest.Store, *Commands) {
	t.Helper()
	s := eventstoretest.New(t, inst, registerEvents, migrations(), projections()...)
	s.Given(t, orgCreated(t, "o1", "Acme"), orgCreated(t, "o2", "Globex"))
	return s, NewCommands(s.Store)
}

func effective(t *testing.T, db *database.DB, orgID string) Settings {
	t.Helper()
	s, err := Effective(ctx, db, inst, orgID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func wantKind(t *testing.T, err error, kind failure.Kind) {
	t.Helper()
	if !failure.Is(err, kind) {
		t.Fatalf("got %v, want %s", err, kind)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestOrganizationOverridesInstanceOverridesBuiltIn(t *testing.T) {
	s, c := setup(t)
	instanceSession := Session{Lifetime: 8 * time.Hour, IdleTimeout: time.Hour}
	acmeSession := Session{Lifetime: 2 * time.Hour, IdleTimeout: 30 * time.Minute}
	strict := Lockout{MaxPasswordAttempts: 3, MaxOTPAttempts: 5, ShowLocked: true}

	must(t, c.Set(ctx, editor, inst, "", instanceSession))
	must(t, c.Set(ctx, editor, inst, "o1", acmeSession))
	must(t, c.Set(ctx, editor, inst, "o1", strict))
	s.Then(t, &SessionSet{instanceSession}, &SessionSet{acmeSession}, &LockoutSet{strict})

	builtIn := BuiltIn()
	for _, tc := range []struct {
		name    string
		orgID   string
		session Session
		lockout Lockout
		sources map[Group]Level
	}{
		{"ok/the organization's override wins", "o1", acmeSession, strict,
			map[Group]Level{GroupSession: LevelOrganization, GroupLockout: LevelOrganization}},
		{"ok/another organization gets the instance's default", "o2", instanceSession, builtIn.Lockout,
			map[Group]Level{GroupSession: LevelInstance}},
		{"ok/the instance itself", "", instanceSession, builtIn.Lockout,
			map[Group]Level{GroupSession: LevelInstance}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := effective(t, s.DB(), tc.orgID)
			if got.Session != tc.session || got.Lockout != tc.lockout {
				t.Fatalf("session %+v lockout %+v, want %+v %+v", got.Session, got.Lockout, tc.session, tc.lockout)
			}
			want := BuiltIn().Sources
			for g, l := range tc.sources {
				want[g] = l
			}
			if !reflect.DeepEqual(got.Sources, want) {
				t.Fatalf("sources %v, want %v", got.Sources, want)
			}
			if !reflect.DeepEqual(got.Login, builtIn.Login) || !reflect.DeepEqual(got.Privacy, builtIn.Privacy) {
				t.Fatalf("groups nobody set changed: %+v %+v", got.Login, got.Privacy)
			}
		})
	}

	// Resetting the override falls back to the instance, then to the
	// built-in value.
	s.Given(t)
	must(t, c.Reset(ctx, editor, inst, "o1", GroupSession))
	if got := effective(t, s.DB(), "o1"); got.Session != instanceSession || got.Sources[GroupSession] != LevelInstance {
		t.Fatalf("after the organization's reset: %+v from %s", got.Session, got.Sources[GroupSession])
	}
	must(t, c.Reset(ctx, editor, inst, "", GroupSession))
	if got := effective(t, s.DB(), "o1"); got.Session != builtIn.Session || got.Sources[GroupSession] != LevelBuiltIn {
		t.Fatalf("after the instance's reset: %+v from %s", got.Session, got.Sources[GroupSession])
	}
	if got := effective(t, s.DB(), "o1"); got.Lockout != strict {
		t.Fatalf("resetting one group reset another: %+v", got.Lockout)
	}
	s.Then(t, &SessionReset{}, &SessionReset{})
}

func TestAnOverrideReplacesTheWholeGroup(t *testing.T) {
	s, c := setup(t)
	must(t, c.Set(ctx, editor, inst, "", Privacy{TermsURL: "https://example.com/terms", SupportEmail: "help@example.com",
		DefaultLanguage: "de", AllowedLanguages: []string{"de", "en"}}))
	mine := Privacy{DefaultLanguage: "fr", AllowedLanguages: []string{"fr"}}
	must(t, c.Set(ctx, editor, inst, "o1", mine))
	if got := effective(t, s.DB(), "o1").Privacy; !reflect.DeepEqual(got, mine) {
		t.Fatalf("an override merged with the instance's group: %+v", got)
	}
}

func TestSetAndResetAreIdempotent(t *testing.T) {
	s, c := setup(t)
	v := Password{MinLength: 12, RequireDigit: true}
	must(t, c.Set(ctx, editor, inst, "o1", v))
	must(t, c.Set(ctx, editor, inst, "o1", v))
	must(t, c.Reset(ctx, editor, inst, "o1", GroupLockout))
	must(t, c.Reset(ctx, editor, inst, "", GroupPassword))
	s.Then(t, &PasswordSet{v})
	// The normal form counts: "en-us" is the "en-US" already set.
	p := Privacy{DefaultLanguage: "en-US", AllowedLanguages: []string{"en-US"}}
	must(t, c.Set(ctx, editor, inst, "", p))
	must(t, c.Set(ctx, editor, inst, "", Privacy{DefaultLanguage: "en-us", AllowedLanguages: []string{"EN-us"}}))
	s.Then(t, &PasswordSet{v}, &PrivacySet{p})
}

func TestOrganizationMustExist(t *testing.T) {
	s, c := setup(t)
	must(t, c.Set(ctx, editor, inst, "o2", BuiltIn().Tokens))
	_, err := s.Push(ctx, editor, eventstore.Append{Aggregate: eventstore.Aggregate{InstanceID: inst, Type: org.AggregateType, ID: "o2", Owner: "o2"},
		ExpectedSequence: eventstore.AnySequence, Events: []eventstore.Payload{&org.Removed{}}})
	must(t, err)
	s.Given(t)
	wantKind(t, c.Set(ctx, editor, inst, "missing", BuiltIn().Session), failure.KindNotFound)
	wantKind(t, c.Reset(ctx, editor, inst, "missing", GroupSession), failure.KindNotFound)
	wantKind(t, c.Set(ctx, editor, "other-instance", "o1", BuiltIn().Session), failure.KindNotFound)
	wantKind(t, c.Set(ctx, editor, inst, "o2", BuiltIn().Session), failure.KindNotFound)
	wantKind(t, c.Reset(ctx, editor, inst, "o1", "appearance"), failure.KindInvalidArgument)
	wantKind(t, c.Set(ctx, editor, inst, "o1", nil), failure.KindInvalidArgument)
	wantKind(t, c.Set(ctx, editor, inst, "o1", &Session{Lifetime: time.Hour, IdleTimeout: time.Hour}), failure.KindInvalidArgument)
	s.Then(t)
	// The removed organization's overrides are gone from the read model.
	if got := effective(t, s.DB(), "o2"); got.Sources[GroupTokens] != LevelBuiltIn {
		t.Fatalf("a removed organization's override is still read: %v", got.Sources)
	}
}

func login(mod func(*Login)) Login {
	l := BuiltIn().Login
	l.AllowedAuthenticators = slices.Clone(l.AllowedAuthenticators)
	mod(&l)
	return l
}

func privacy(mod func(*Privacy)) Privacy {
	p := Privacy{DefaultLanguage: "en", AllowedLanguages: []string{"en", "de"}}
	mod(&p)
	return p
}

func TestEveryInvalidValueNamesItsFieldAndWritesNothing(t *testing.T) {
	langs := make([]string, MaxLanguages+1)
	for i := range langs {
		langs[i] = "en-" + string(rune('A'+i/26)) + string(rune('A'+i%26))
	}
	for _, tc := range []struct {
		name  string
		value Value
		field string
	}{
		{"fail/no authenticator", login(func(l *Login) { l.AllowedAuthenticators = nil }), "login.allowedAuthenticators"},
		{"fail/unknown authenticator", login(func(l *Login) { l.AllowedAuthenticators = []string{"password", "totp", "carrier_pigeon"} }), "login.allowedAuthenticators[2]"},
		{"fail/authenticator listed twice", login(func(l *Login) { l.AllowedAuthenticators = []string{"password", "password"} }), "login.allowedAuthenticators[1]"},
		{"fail/only second factors", login(func(l *Login) { l.AllowedAuthenticators, l.PasswordlessAllowed = []string{"totp", "otp_sms"}, false }), "login.allowedAuthenticators"},
		{"fail/passkey without passwordless cannot begin", login(func(l *Login) { l.AllowedAuthenticators, l.PasswordlessAllowed = []string{"passkey", "totp"}, false }), "login.allowedAuthenticators"},
		{"fail/passwordless without passkey", login(func(l *Login) { l.AllowedAuthenticators = []string{"password"} }), "login.passwordlessAllowed"},
		{"fail/unknown MFA requirement", login(func(l *Login) { l.MFARequired = "sometimes" }), "login.mfaRequired"},
		{"fail/empty MFA requirement", login(func(l *Login) { l.MFARequired = "" }), "login.mfaRequired"},
		{"fail/MFA without a second factor", login(func(l *Login) {
			l.AllowedAuthenticators, l.PasswordlessAllowed, l.MFARequired = []string{"password", "idp"}, false, MFAEveryone
		}), "login.mfaRequired"},
		{"fail/zero password check lifetime", login(func(l *Login) { l.PasswordCheckLifetime = 0 }), "login.passwordCheckLifetime"},
		{"fail/negative second factor lifetime", login(func(l *Login) { l.SecondFactorCheckLifetime = -time.Hour }), "login.secondFactorCheckLifetime"},
		{"fail/external login lifetime over a year", login(func(l *Login) { l.ExternalLoginLifetime = MaxLifetime + time.Second }), "login.externalLoginLifetime"},

		{"fail/short minimum length", Password{MinLength: 7}, "password.minLength"},
		{"fail/long minimum length", Password{MinLength: MaxPasswordLength + 1}, "password.minLength"},
		{"fail/negative max age", Password{MinLength: 8, MaxAge: -time.Second}, "password.maxAge"},
		{"fail/max age beyond ten years", Password{MinLength: 8, MaxAge: MaxPasswordAge + time.Hour}, "password.maxAge"},

		{"fail/negative password attempts", Lockout{MaxPasswordAttempts: -1}, "lockout.maxPasswordAttempts"},
		{"fail/too many password attempts", Lockout{MaxPasswordAttempts: MaxAttempts + 1}, "lockout.maxPasswordAttempts"},
		{"fail/negative OTP attempts", Lockout{MaxOTPAttempts: -5}, "lockout.maxOtpAttempts"},

		{"fail/zero session lifetime", Session{IdleTimeout: time.Hour}, "session.lifetime"},
		{"fail/session over a year", Session{Lifetime: MaxLifetime + time.Hour, IdleTimeout: time.Hour}, "session.lifetime"},
		{"fail/idle timeout beyond the lifetime", Session{Lifetime: time.Hour, IdleTimeout: 2 * time.Hour}, "session.idleTimeout"},
		{"fail/zero idle timeout", Session{Lifetime: time.Hour}, "session.idleTimeout"},

		{"fail/zero access token", Tokens{IDToken: time.Hour, RefreshToken: day, RefreshTokenIdle: day}, "tokens.accessToken"},
		{"fail/access token over a week", Tokens{AccessToken: 8 * day, IDToken: time.Hour, RefreshToken: day, RefreshTokenIdle: day}, "tokens.accessToken"},
		{"fail/negative ID token", Tokens{AccessToken: time.Hour, IDToken: -1, RefreshToken: day, RefreshTokenIdle: day}, "tokens.idToken"},
		{"fail/refresh token over a year", Tokens{AccessToken: time.Hour, IDToken: time.Hour, RefreshToken: 400 * day, RefreshTokenIdle: day}, "tokens.refreshToken"},
		{"fail/refresh idle beyond the refresh lifetime", Tokens{AccessToken: time.Hour, IDToken: time.Hour, RefreshToken: day, RefreshTokenIdle: 2 * day}, "tokens.refreshTokenIdle"},

		{"fail/plain http terms", privacy(func(p *Privacy) { p.TermsURL = "http://example.com/terms" }), "privacy.termsUrl"},
		{"fail/relative privacy link", privacy(func(p *Privacy) { p.PrivacyURL = "/privacy" }), "privacy.privacyUrl"},
		{"fail/javascript help link", privacy(func(p *Privacy) { p.HelpURL = "javascript:alert(1)" }), "privacy.helpUrl"},
		{"fail/link with credentials", privacy(func(p *Privacy) { p.HelpURL = "https://user:pw@example.com/" }), "privacy.helpUrl"},
		{"fail/link with a space", privacy(func(p *Privacy) { p.HelpURL = "https://example.com/a b" }), "privacy.helpUrl"},
		{"fail/link too long", privacy(func(p *Privacy) { p.TermsURL = "https://example.com/" + strings.Repeat("a", MaxURLBytes) }), "privacy.termsUrl"},
		{"fail/support email with a name", privacy(func(p *Privacy) { p.SupportEmail = "Help <help@example.com>" }), "privacy.supportEmail"},
		{"fail/support email without domain", privacy(func(p *Privacy) { p.SupportEmail = "help" }), "privacy.supportEmail"},
		{"fail/no languages", privacy(func(p *Privacy) { p.AllowedLanguages = nil }), "privacy.allowedLanguages"},
		{"fail/too many languages", privacy(func(p *Privacy) { p.AllowedLanguages, p.DefaultLanguage = langs, langs[0] }), "privacy.allowedLanguages"},
		{"fail/not a language", privacy(func(p *Privacy) { p.AllowedLanguages = []string{"en", "de", "english!"} }), "privacy.allowedLanguages[2]"},
		{"fail/undetermined language", privacy(func(p *Privacy) { p.AllowedLanguages = []string{"und"} }), "privacy.allowedLanguages[0]"},
		{"fail/language listed twice in two spellings", privacy(func(p *Privacy) { p.AllowedLanguages = []string{"en-US", "en-us"} }), "privacy.allowedLanguages[1]"},
		{"fail/default language not allowed", privacy(func(p *Privacy) { p.DefaultLanguage = "fr" }), "privacy.defaultLanguage"},
		{"fail/no default language", privacy(func(p *Privacy) { p.DefaultLanguage = "" }), "privacy.defaultLanguage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c := setup(t)
			for _, orgID := range []string{"", "o1"} {
				err := c.Set(ctx, editor, inst, orgID, tc.value)
				var fe *failure.Error
				if !errors.As(err, &fe) || fe.Kind != failure.KindInvalidArgument || fe.Field != tc.field {
					t.Fatalf("got %v, want invalid argument on %s", err, tc.field)
				}
			}
			s.Then(t)
		})
	}
}

func TestValidValuesAreAccepted(t *testing.T) {
	s, c := setup(t)
	for _, v := range []Value{
		login(func(l *Login) { l.AllowedAuthenticators, l.PasswordlessAllowed = []string{"idp"}, false }),
		login(func(l *Login) {
			l.AllowedAuthenticators, l.MFARequired = []string{"passkey"}, MFAAdministrators
		}),
		Password{MinLength: 128, MaxAge: MaxPasswordAge},
		Lockout{},
		Session{Lifetime: MaxLifetime, IdleTimeout: MaxLifetime},
		Tokens{AccessToken: MaxTokenLifetime, IDToken: time.Minute, RefreshToken: MaxLifetime, RefreshTokenIdle: time.Hour},
		privacy(func(p *Privacy) {
			p.TermsURL, p.PrivacyURL, p.HelpURL = "https://example.com/terms?x=1#top", "http://localhost:8080/privacy", "http://[::1]/help"
			p.SupportEmail = "help+login@example.co.uk"
		}),
	} {
		if err := c.Set(ctx, editor, inst, "o1", v); err != nil {
			t.Errorf("%T %+v: %v", v, v, err)
		}
	}
	if got := effective(t, s.DB(), "o1"); got.Lockout != (Lockout{}) || got.Sources[GroupLockout] != LevelOrganization {
		t.Fatalf("lockout off was not set: %+v", got.Lockout)
	}
}

func TestLanguagesAreStoredInCanonicalForm(t *testing.T) {
	s, c := setup(t)
	must(t, c.Set(ctx, editor, inst, "", Privacy{DefaultLanguage: "zh-hant-tw", AllowedLanguages: []string{"EN-gb", "zh-Hant-TW"}}))
	want := Privacy{DefaultLanguage: "zh-Hant-TW", AllowedLanguages: []string{"en-GB", "zh-Hant-TW"}}
	if got := effective(t, s.DB(), "o1").Privacy; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// TestReadModel runs on every backend: the table keeps the levels apart
// and per instance, a rebuild derives the same rows, and an organization's
// removal drops its overrides.
func TestReadModel(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		db := src.Open(t, append(slices.Clone(eventstore.Migrations), migrations()...))
		r := eventstore.NewRegistry()
		registerEvents(r)
		store, err := eventstore.New(db, r, projections(), eventstore.Options{})
		must(t, err)
		_, err = store.Push(ctx, eventstore.SystemEditor, orgCreated(t, "o1", "Acme"), orgCreated(t, "o2", "Globex"))
		must(t, err)
		c := NewCommands(store)
		tokens := Tokens{AccessToken: 5 * time.Minute, IDToken: 5 * time.Minute, RefreshToken: day, RefreshTokenIdle: time.Hour}
		mfa := login(func(l *Login) { l.MFARequired = MFAEveryone })
		must(t, c.Set(ctx, editor, inst, "", tokens))
		must(t, c.Set(ctx, editor, inst, "o1", mfa))
		must(t, c.Set(ctx, editor, inst, "o2", Password{MinLength: 20}))
		must(t, c.Set(ctx, editor, "inst-2", "", Password{MinLength: 30}))

		check := func(t *testing.T) {
			t.Helper()
			o1 := effective(t, db, "o1")
			if o1.Tokens != tokens || o1.Login.MFARequired != MFAEveryone || o1.Password.MinLength != 8 {
				t.Fatalf("o1: %+v", o1)
			}
			if o1.Sources[GroupTokens] != LevelInstance || o1.Sources[GroupLogin] != LevelOrganization || o1.Sources[GroupPassword] != LevelBuiltIn {
				t.Fatalf("o1 sources: %v", o1.Sources)
			}
			if o2 := effective(t, db, "o2"); o2.Password.MinLength != 20 || o2.Login.MFARequired != MFANever {
				t.Fatalf("o2: %+v", o2)
			}
			if i := effective(t, db, ""); i.Password.MinLength != 8 || i.Tokens != tokens || i.Sources[GroupLogin] != LevelBuiltIn {
				t.Fatalf("the instance reads an organization's override or another instance's: %+v", i)
			}
		}
		check(t)
		if _, err := store.Rebuild(ctx, Projection{}.Name()); err != nil {
			t.Fatal(err)
		}
		check(t)

		_, err = store.Push(ctx, editor, eventstore.Append{Aggregate: eventstore.Aggregate{InstanceID: inst, Type: org.AggregateType, ID: "o1", Owner: "o1"},
			ExpectedSequence: eventstore.AnySequence, Events: []eventstore.Payload{&org.Removed{}}})
		must(t, err)
		var n int
		must(t, db.Reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM settings WHERE instance_id = $1 AND org_id = 'o1'`, inst).Scan(&n))
		if n != 0 {
			t.Fatalf("%d rows of a removed organization", n)
		}
	})
}

// FuzzPrivacy feeds untrusted links, addresses and language tags to the
// check: it never panics, and what it accepts is its own normal form.
func FuzzPrivacy(f *testing.F) {
	f.Add("https://example.com/terms", "help@example.com", "en-us", "de")
	f.Add("http://127.0.0.1:1/x", "a@b.c", "zh-hant-tw", "x-private")
	f.Add("javascript:alert(1)", "\"q\"@example.com", "und", "i-klingon")
	f.Add("https://[::1", "<a@b.c>", "EN", "sgn-BE-FR")
	f.Fuzz(func(t *testing.T, link, email, lang1, lang2 string) {
		p := Privacy{TermsURL: link, SupportEmail: email, DefaultLanguage: lang1, AllowedLanguages: []string{lang1, lang2}}
		v, err := p.Validate()
		if err != nil {
			var fe *failure.Error
			if !errors.As(err, &fe) || fe.Kind != failure.KindInvalidArgument || !strings.HasPrefix(fe.Field, "privacy.") {
				t.Fatalf("error %v does not name a privacy field", err)
			}
			return
		}
		again, err := v.Validate()
		if err != nil || !reflect.DeepEqual(again, v) {
			t.Fatalf("%+v validates to %+v, which validates to %+v (%v)", p, v, again, err)
		}
	})
}
