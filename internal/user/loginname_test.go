package user

import (
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/password"
	"github.com/castellan-iam/castellan/internal/userschema"
)

func TestParseLoginName(t *testing.T) {
	for _, tc := range []struct {
		name, in, display, key string
	}{
		{"ok/case is kept for display", "Ada", "Ada", "ada"},
		{"ok/fullwidth maps to ASCII", "ＡＤＭＩＮ", "ADMIN", "admin"},
		{"ok/fullwidth and ASCII mixed", "ａdmin", "admin", "admin"},
		{"ok/NFD composes to NFC", "E\u0301mile", "\u00c9mile", "\u00e9mile"},
		{"ok/email-like", "Ada.Lovelace+test@Example.com", "Ada.Lovelace+test@Example.com", "ada.lovelace+test@example.com"},
		{"ok/Cyrillic mailbox at a Cyrillic domain", "Иван@пример.рф", "Иван@пример.рф", "иван@пример.рф"},
		{"ok/Greek", "Ελένη", "Ελένη", "ελένη"},
		{"ok/Japanese with Latin", "山田taroタロウ", "山田taroタロウ", "山田taroタロウ"},
		{"ok/Korean", "김철수", "김철수", "김철수"},
		{"ok/Hebrew", "דוד", "דוד", "דוד"},
		{"ok/digits and ASCII punctuation", "o'brien_2-x", "o'brien_2-x", "o'brien_2-x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := ParseLoginName(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if n.Display != tc.display || n.Key != tc.key {
				t.Fatalf("ParseLoginName(%q) = %+q, want display %q key %q", tc.in, n, tc.display, tc.key)
			}
			if err := (LoginNameRules{}).check(n); err != nil {
				t.Fatalf("refused by the default rules: %v", err)
			}
			if got := LoginNameKey(tc.in); got != tc.key {
				t.Fatalf("LoginNameKey(%q) = %q, want %q", tc.in, got, tc.key)
			}
		})
	}
	for _, tc := range []struct {
		name, in, message string
	}{
		{"fail/empty", "", "1 to 200"},
		{"fail/too long", strings.Repeat("a", 201), "1 to 200"},
		{"fail/too long after width mapping", strings.Repeat("ａ", 201), "1 to 200"},
		{"fail/not UTF-8", "ada\xff", "UTF-8"},
		{"fail/space", "bob smith", "spaces (U+0020)"},
		{"fail/ideographic space", "bob\u3000smith", "spaces"},
		{"fail/tab", "bob\tsmith", "spaces"},
		{"fail/control character", "bob\x07", "control characters (U+0007)"},
		{"fail/zero-width space", "bob\u200bsmith", "invisible formatting characters (U+200B)"},
		{"fail/symbol", "bob☃", "'☃' (U+2603)"},
		{"fail/right-to-left letter in left-to-right text", "abc\u05d0", "RFC 5893"},
		{"fail/zero-width joiner out of context", "ab\u200dc", "contextual"},
		{"fail/middle dot out of context", "a\u00b7b", "contextual"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseLoginName(tc.in)
			fe := wantKind(t, err, failure.KindInvalidArgument)
			if fe.Field != "loginName" || !strings.Contains(fe.Message, tc.message) {
				t.Fatalf("ParseLoginName(%q): field %q message %q, want loginName and %q", tc.in, fe.Field, fe.Message, tc.message)
			}
		})
	}
}

func TestMixedScriptLoginNames(t *testing.T) {
	for _, tc := range []struct {
		name, in, message string
	}{
		{"fail/Cyrillic a in a Latin name", "\u0430dmin", "Cyrillic and Latin letters"},
		{"fail/Cyrillic letter in the local part", "p\u0430ypal@example.com", "Latin and Cyrillic"},
		{"fail/Cyrillic letter in the domain", "admin@ex\u0430mple.com", "Latin and Cyrillic"},
		{"fail/Greek omicron in a Latin name", "g\u03bfogle", "Latin and Greek"},
		{"fail/fullwidth Cyrillic cannot hide", "ａ\u0430", "Latin and Cyrillic"},
		{"fail/Hangul with Hiragana", "김やまだ", "Hangul and Hiragana"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := ParseLoginName(tc.in)
			if err != nil {
				t.Fatalf("RFC 8265 refused %q: %v", tc.in, err)
			}
			fe := wantKind(t, LoginNameRules{}.check(n), failure.KindInvalidArgument)
			if fe.Field != "loginName" || !strings.Contains(fe.Message, tc.message) {
				t.Fatalf("%q: field %q message %q, want loginName and %q", tc.in, fe.Field, fe.Message, tc.message)
			}
			if err := (LoginNameRules{AllowMixedScripts: true}).check(n); err != nil {
				t.Fatalf("allowed mixed scripts, still refused: %v", err)
			}
		})
	}
}

// TestLoginNamesCompareByKey: the width, case and normalization forms of a
// name are one name for uniqueness, sign-in and search.
func TestLoginNamesCompareByKey(t *testing.T) {
	f := setup(t)
	admin1 := f.create(t, New{OrgID: "o1", Type: "human", LoginName: "admin", Password: "correct horse battery"})
	emile := f.create(t, New{OrgID: "o1", Type: "human", LoginName: "E\u0301mile@example.com", Password: "correct horse battery"})
	if u, _ := Get(ctx, f.DB(), inst, emile, userschema.Admin); u.LoginName != "\u00c9mile@example.com" {
		t.Fatalf("stored %q, want the NFC form of what was typed", u.LoginName)
	}
	for _, name := range []string{"ADMIN", "ＡＤＭＩＮ", "ａdmin", "\u00e9mile@EXAMPLE.com", "e\u0301mile@example.com"} {
		_, err := f.users.Create(ctx, admin, inst, New{OrgID: "o2", Type: "human", LoginName: name})
		if fe := wantKind(t, err, failure.KindAlreadyExists); fe.Field != "loginName" {
			t.Fatalf("%q: %v", name, err)
		}
	}
	for name, want := range map[string]string{"ＡＤＭＩＮ": admin1, "Admin": admin1, "E\u0301MILE@example.com": emile, "émile@example.com": emile} {
		if got, err := f.users.CheckPassword(ctx, inst, name, "correct horse battery"); err != nil || got != want {
			t.Fatalf("sign in as %q: %q %v", name, got, err)
		}
		p, err := Find(ctx, f.DB(), inst, Search{LoginName: name}, userschema.Admin)
		if err != nil || len(p.Users) != 1 || p.Users[0].ID != want {
			t.Fatalf("search for %q: %+v %v", name, p.Users, err)
		}
	}
	if p, err := Find(ctx, f.DB(), inst, Search{LoginNamePrefix: "ＡＤ"}, userschema.Admin); err != nil || len(p.Users) != 1 || p.Users[0].ID != admin1 {
		t.Fatalf("prefix search in fullwidth: %+v %v", p.Users, err)
	}
	_, err := f.users.Create(ctx, admin, inst, New{OrgID: "o1", Type: "human", LoginName: "bob smith"})
	if fe := wantKind(t, err, failure.KindInvalidArgument); fe.Field != "loginName" || !strings.Contains(fe.Message, "spaces") {
		t.Fatalf("a name with a space: %v", err)
	}

	// A rename to another form of the same name changes nothing; a real
	// rename frees the old name and claims the new one by key.
	f.Given(t)
	wide := "ａdmin"
	if err := f.users.Update(ctx, admin, inst, admin1, userschema.Admin, Patch{LoginName: &wide}); err != nil {
		t.Fatal(err)
	}
	f.Then(t)
	renamed := "Ｒoot"
	if err := f.users.Update(ctx, admin, inst, admin1, userschema.Admin, Patch{LoginName: &renamed}); err != nil {
		t.Fatal(err)
	}
	f.Then(t, &LoginNameChanged{LoginName: "Root"})
	f.create(t, New{OrgID: "o2", Type: "human", LoginName: "ADMIN"})
	_, err = f.users.Create(ctx, admin, inst, New{OrgID: "o2", Type: "human", LoginName: "root"})
	wantKind(t, err, failure.KindAlreadyExists)
	if err := f.users.Delete(ctx, admin, inst, emile); err != nil {
		t.Fatal(err)
	}
	f.create(t, New{OrgID: "o2", Type: "human", LoginName: "émile@example.com"})
}

func TestMixedScriptLoginNamesAreASetting(t *testing.T) {
	f := setup(t)
	spoof := New{OrgID: "o1", Type: "human", LoginName: "\u0430dmin"}
	_, err := f.users.Create(ctx, admin, inst, spoof)
	if fe := wantKind(t, err, failure.KindInvalidArgument); fe.Field != "loginName" || !strings.Contains(fe.Message, "Cyrillic and Latin") {
		t.Fatalf("a Cyrillic а in a Latin name: %v", err)
	}
	id := f.create(t, New{OrgID: "o1", Type: "human", LoginName: "admin"})
	mixed := "\u0430dmin"
	wantKind(t, f.users.Update(ctx, admin, inst, id, userschema.Admin, Patch{LoginName: &mixed}), failure.KindInvalidArgument)
	res, err := f.users.Import(ctx, admin, inst, []ImportUser{{New: spoof}}, ImportOptions{})
	if err != nil || res.Imported != 0 || len(res.Failed) != 1 {
		t.Fatalf("import of a mixed-script name: %+v %v", res, err)
	}

	lenient := f.users.WithLoginNameRules(LoginNameRules{AllowMixedScripts: true})
	if _, err := lenient.Create(ctx, admin, inst, spoof); err != nil {
		t.Fatalf("with mixed scripts allowed: %v", err)
	}
}

// TestLoginNamesOfEarlierVersionsRebuild: names stored before login names
// were normalized — claimed and kept in the read model in lower case —
// take their keys in a rebuild of the users projection, which also claims
// them anew; two old names that now normalize alike keep working for the
// first of them. On both backends: the rebuild relies on ON CONFLICT and
// on replacing claims with INSERT … SELECT.
func TestLoginNamesOfEarlierVersionsRebuild(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		db, store := openUserStore(t, src, admin, "o1", "o2")
		users := NewCommands(store, password.NewHasher(password.Params{MemoryKiB: 8192, Iterations: 1, Parallelism: 1}, 2))

		legacy := func(id, name string) {
			t.Helper()
			// What earlier versions appended: the name as typed, claimed in
			// lower case, and kept in lower case in the read model.
			_, err := store.Push(ctx, admin, eventstore.Append{
				Aggregate:        eventstore.Aggregate{InstanceID: inst, Type: AggregateType, ID: id, Owner: "o1"},
				ExpectedSequence: eventstore.NewAggregate,
				Events:           []eventstore.Payload{&Added{SchemaType: "human", LoginName: name, Traits: []byte(`{}`)}},
				Unique:           []eventstore.Unique{{Kind: uniqueLoginName, Value: name, FoldCase: true}},
			})
			if err != nil {
				t.Fatal(err)
			}
			err = db.InTx(ctx, func(tx *database.Tx) error {
				_, err := tx.ExecContext(ctx, `UPDATE users SET login_name_lower = $1 WHERE id = $2`, strings.ToLower(name), id)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		legacy("wide", "ＡＤＭＩＮ")
		legacy("plain", "admin")     // a second account that now normalizes alike
		legacy("snow", "Snow☃Man")   // refused by RFC 8265 today
		legacy("nfd", "E\u0301mile") // decomposed
		for _, id := range []string{"wide", "plain", "snow", "nfd"} {
			if err := users.SetPassword(ctx, admin, inst, id, "correct horse battery", false); err != nil {
				t.Fatal(err)
			}
		}

		if _, err := store.Rebuild(ctx, "users"); err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]string{"admin": "wide", "ＡＤＭＩＮ": "wide", "snow☃man": "snow", "\u00e9mile": "nfd"} {
			if got, err := users.CheckPassword(ctx, inst, name, "correct horse battery"); err != nil || got != want {
				t.Fatalf("after the rebuild, sign in as %q: %q %v, want %s", name, got, err, want)
			}
		}
		for _, name := range []string{"Admin", "\u00c9MILE"} {
			_, err := users.Create(ctx, admin, inst, New{OrgID: "o2", Type: "human", LoginName: name})
			if !failure.Is(err, failure.KindAlreadyExists) {
				t.Fatalf("after the rebuild, creating %q: %v, want it taken", name, err)
			}
		}
		// Deleting the second "admin" does not free the first's name;
		// deleting the first does.
		if err := users.Delete(ctx, admin, inst, "plain"); err != nil {
			t.Fatal(err)
		}
		_, err := users.Create(ctx, admin, inst, New{OrgID: "o2", Type: "human", LoginName: "admin"})
		wantKind(t, err, failure.KindAlreadyExists)
		if err := users.Delete(ctx, admin, inst, "wide"); err != nil {
			t.Fatal(err)
		}
		if _, err := users.Create(ctx, admin, inst, New{OrgID: "o2", Type: "human", LoginName: "admin"}); err != nil {
			t.Fatal(err)
		}

		// Rows rebuilt equal rows kept inline.
		inline := dumpUsers(t, db)
		if _, err := store.Rebuild(ctx, "users"); err != nil {
			t.Fatal(err)
		}
		if rebuilt := dumpUsers(t, db); strings.Join(rebuilt, "\n") != strings.Join(inline, "\n") {
			t.Fatalf("rebuilt rows differ:\ninline  %v\nrebuilt %v", inline, rebuilt)
		}
	})
}

func dumpUsers(t *testing.T, db *database.DB) []string {
	t.Helper()
	rows, err := db.Reader().Query(`SELECT id, login_name, login_name_lower, state, sequence FROM users ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, name, key, state string
		var seq int64
		if err := rows.Scan(&id, &name, &key, &state, &seq); err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.Join([]string{id, name, key, state}, "|"))
	}
	return out
}
