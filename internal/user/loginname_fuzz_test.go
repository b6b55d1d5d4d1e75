package user

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/castellan-iam/castellan/internal/failure"
)

// Login names come from the network. ParseLoginName accepts a name or
// refuses it with an invalid-argument error for loginName; an accepted
// name's forms are stable (parsing them again gives them back), its key is
// what LoginNameKey gives for every form, and neither form holds a space,
// a control character or invalid UTF-8.
func FuzzParseLoginName(f *testing.F) {
	for _, s := range []string{"admin", "ＡＤＭＩＮ", "ａdmin", "\u0430dmin", "E\u0301mile", "ada@example.com", "Иван@пример.рф", "bob smith",
		"bob\x00", "ab\u200dc", "\u0915\u094d\u200d", "col·lecció", "a\u00b7b", "abc\u05d0", "\u05d0\u05d1\u05d2", "İstanbul", "ΣΑΣ", "ǅemal",
		"ß", "\ufb01le", "\u212aelvin", "\xff", strings.Repeat("ａ", 201), "@", ".", "山田taroタロウ", "김やまだ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		n, err := ParseLoginName(name)
		if err != nil {
			var fe *failure.Error
			if !failure.Is(err, failure.KindInvalidArgument) || !errors.As(err, &fe) || fe.Field != "loginName" {
				t.Fatalf("ParseLoginName(%q): %v", name, err)
			}
			return
		}
		for _, form := range []string{n.Display, n.Key} {
			if form == "" || len(n.Display) > maxLoginNameBytes || !utf8.ValidString(form) ||
				strings.ContainsFunc(form, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
				t.Fatalf("ParseLoginName(%q) = %+q", name, n)
			}
		}
		again, err := ParseLoginName(n.Display)
		if err != nil || again != n {
			t.Fatalf("ParseLoginName(%q) = %+q, but its display form parses to %+q, %v", name, n, again, err)
		}
		if k := LoginNameKey(name); k != n.Key {
			t.Fatalf("LoginNameKey(%q) = %q, ParseLoginName's key %q", name, k, n.Key)
		}
		if k := LoginNameKey(n.Key); k != n.Key {
			t.Fatalf("the key %q of %q has the key %q", n.Key, name, k)
		}
		if p := loginNamePrefixKey(n.Display); p != n.Key {
			t.Fatalf("the prefix key of the whole name %q is %q, its key %q", n.Display, p, n.Key)
		}
		_ = LoginNameRules{}.check(n)
	})
}
