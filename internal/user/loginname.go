package user

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
	"golang.org/x/text/secure/bidirule"
	"golang.org/x/text/secure/precis"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/width"

	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/org"
)

// Login names follow RFC 8265 (PRECIS usernames). A name is kept in two
// forms:
//
//   - Display: what the user typed, with wide and narrow characters mapped to
//     their ordinary forms and normalized to NFC (the UsernameCasePreserved
//     profile, RFC 8265 §3.4). It is what events and the API carry, so
//     "Ada" stays "Ada" while "Ａda" (fullwidth) becomes "Ada".
//   - Key: the Display form case-mapped (the UsernameCaseMapped profile,
//     RFC 8265 §3.3). It is what is unique per instance and what sign-in and
//     search look names up by: "ａdmin", "admin" and "ADMIN" are one name,
//     and so are the NFC and NFD forms of "émile".
//
// Both profiles build on the IdentifierClass (RFC 8264 §4.2): letters and
// digits of any script and printable ASCII — so '@', '.', '-', '_' and '+'
// are fine and email-like names work — but no spaces, controls, invisible
// formatting characters, symbols beyond ASCII or compatibility forms, and
// right-to-left text must pass the Bidi Rule (RFC 5893).
//
// On top of RFC 8265, new names must not mix scripts in a way that can
// impersonate another name (see LoginNameRules.AllowMixedScripts).

// maxLoginNameBytes bounds the Display form.
const maxLoginNameBytes = 200

// LoginName is a login name prepared for storage: see the forms above.
type LoginName struct {
	Display string
	Key     string
}

// ParseLoginName prepares a new login name under RFC 8265. A string the
// profiles refuse fails with an invalid-argument error for "loginName" that
// names the problem, such as the first character not allowed.
func ParseLoginName(name string) (LoginName, error) {
	if name == "" || len(name) > 4*maxLoginNameBytes {
		return LoginName{}, failure.InvalidArgument("loginName", "a login name has 1 to %d characters", maxLoginNameBytes)
	}
	if !utf8.ValidString(name) {
		return LoginName{}, failure.InvalidArgument("loginName", "a login name is UTF-8 text")
	}
	display, err := precis.UsernameCasePreserved.String(name)
	if err != nil {
		return LoginName{}, loginNameProblem(name, err)
	}
	key, err := precis.UsernameCaseMapped.String(display)
	if err != nil {
		return LoginName{}, loginNameProblem(display, err)
	}
	if display == "" || len(display) > maxLoginNameBytes {
		return LoginName{}, failure.InvalidArgument("loginName", "a login name has 1 to %d characters", maxLoginNameBytes)
	}
	return LoginName{Display: display, Key: key}, nil
}

// ValidateLoginName reports whether ParseLoginName accepts name.
func ValidateLoginName(name string) error {
	_, err := ParseLoginName(name)
	return err
}

// loginNameProblem explains why a PRECIS profile refused name: the first
// character the identifier class does not allow, else the rule that failed.
func loginNameProblem(name string, err error) error {
	mapped, _, terr := transform.String(transform.Chain(width.Fold, norm.NFC), name)
	if terr != nil {
		mapped = name
	}
	allowed := precis.UsernameCasePreserved.Allowed()
	for _, r := range mapped {
		switch {
		case contextual(r):
			continue // allowed in some places: the rule is named below
		case unicode.IsSpace(r):
			return failure.InvalidArgument("loginName", "a login name cannot contain spaces (U+%04X)", r)
		case unicode.IsControl(r):
			return failure.InvalidArgument("loginName", "a login name cannot contain control characters (U+%04X)", r)
		case unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r):
			if !allowed.Contains(r) {
				return failure.InvalidArgument("loginName", "a login name cannot contain invisible formatting characters (U+%04X)", r)
			}
		case !allowed.Contains(r):
			return failure.InvalidArgument("loginName", "a login name cannot contain %q (U+%04X): it allows letters, digits and printable ASCII (RFC 8265)", r, r)
		}
	}
	if errors.Is(err, bidirule.ErrInvalid) {
		return failure.InvalidArgument("loginName", "a login name cannot mix right-to-left and left-to-right text this way (RFC 5893 Bidi Rule)")
	}
	return failure.InvalidArgument("loginName", "a login name cannot use a joiner or other contextual character where it stands (RFC 8264 contextual rules)")
}

// contextual reports whether RFC 8264 allows r only in some contexts
// (CONTEXTJ and CONTEXTO, RFC 5892 Appendix A).
func contextual(r rune) bool {
	switch {
	case r == 0x200C, r == 0x200D, r == 0x00B7, r == 0x0375, r == 0x05F3, r == 0x05F4, r == 0x30FB:
		return true
	case 0x0660 <= r && r <= 0x0669, 0x06F0 <= r && r <= 0x06F9:
		return true
	}
	return false
}

// LoginNameKey returns the key a login name is found by: its
// UsernameCaseMapped form. A string that profile refuses cannot be a new
// name; its key is its lower case, the key names had before they were
// normalized, so that a name stored then keeps signing in.
func LoginNameKey(name string) string {
	if key, err := precis.UsernameCaseMapped.String(name); err == nil && key != "" {
		return key
	}
	return strings.ToLower(name)
}

// loginNamePrefixKey maps the start of a login name as keys are mapped
// (width, case, NFC) without the rules a whole name must pass, for prefix
// search. A prefix that ends inside a character's decomposition (an "e"
// meant as the start of "é") does not find what NFC composed.
func loginNamePrefixKey(prefix string) string {
	mapped, _, err := transform.String(transform.Chain(width.Fold, cases.Lower(language.Und, cases.HandleFinalSigma(false)), norm.NFC), prefix)
	if err != nil {
		return strings.ToLower(prefix)
	}
	return mapped
}

// LoginNameRules are the rules for new login names beyond RFC 8265. The
// zero value is the strict default.
type LoginNameRules struct {
	// AllowMixedScripts accepts names that mix scripts in a way that can
	// impersonate another name, such as "аdmin" with a Cyrillic "а" (the
	// setting users.allow_mixed_script_login_names).
	AllowMixedScripts bool
}

// WithLoginNameRules returns the commands with other rules for new login
// names.
func (c *Commands) WithLoginNameRules(r LoginNameRules) *Commands {
	cp := *c
	cp.loginNames = r
	return &cp
}

// check applies the rules to a parsed name.
//
// Mixed scripts follow the "highly restrictive" level of UTS #39 §5.2: the
// characters of the local part (before the last '@') and, separately, of
// the domain part must all come from one script — Common and Inherited
// characters (digits, ASCII punctuation, combining marks) go with any — or
// from one of the sets Latin+Han+Hiragana+Katakana, Latin+Han+Bopomofo and
// Latin+Han+Hangul that Japanese, Chinese and Korean names use. So
// "аdmin" (Cyrillic а, Latin dmin) is refused while "ivan@пример.рф",
// "山田taro" and "Ελένη" pass.
//
// Not covered: whole-script confusables (a name written entirely in
// Cyrillic letters that look Latin, like "ѕсоре", needs the UTS #39
// confusables table), and Script_Extensions (a character is taken with its
// Script property from Go's unicode tables; characters newer than those
// tables count as one script of their own).
func (r LoginNameRules) check(n LoginName) error {
	if r.AllowMixedScripts {
		return nil
	}
	parts := []string{n.Key}
	if at := strings.LastIndex(n.Key, "@"); at >= 0 {
		parts = []string{n.Key[:at], n.Key[at+1:]}
	}
	for _, part := range parts {
		if a, b, ok := mixedScripts(part); ok {
			return failure.InvalidArgument("loginName", "a login name cannot mix %s and %s letters (%q U+%04X, %q U+%04X): letters that look alike could impersonate another name",
				a.script, b.script, a.r, a.r, b.r, b.r)
		}
	}
	return nil
}

// scripted is a character and its script.
type scripted struct {
	r      rune
	script string
}

// highlyRestrictive lists the script sets UTS #39 §5.2 allows together.
var highlyRestrictive = [][]string{
	{"Latin", "Han", "Hiragana", "Katakana"},
	{"Latin", "Han", "Bopomofo"},
	{"Latin", "Han", "Hangul"},
}

// mixedScripts reports whether s mixes scripts beyond the highly
// restrictive level, with the first characters of two scripts that do not
// go together. Checking pairs is enough: when every two scripts go
// together, all of them fit one of the sets.
func mixedScripts(s string) (a, b scripted, mixed bool) {
	var seen []scripted // the first character of each script, in order
	for _, r := range s {
		sc := scriptOf(r)
		if sc != "" && !slices.ContainsFunc(seen, func(x scripted) bool { return x.script == sc }) {
			seen = append(seen, scripted{r, sc})
		}
	}
	for i, x := range seen {
		for _, y := range seen[i+1:] {
			if !slices.ContainsFunc(highlyRestrictive, func(set []string) bool { return slices.Contains(set, x.script) && slices.Contains(set, y.script) }) {
				return x, y, true
			}
		}
	}
	return scripted{}, scripted{}, false
}

// frequentScripts are tried first: most names are written in them.
var frequentScripts = []string{"Latin", "Cyrillic", "Greek", "Han", "Hiragana", "Katakana", "Hangul", "Arabic", "Hebrew", "Devanagari", "Thai"}

// scriptsInOrder holds every script of the unicode package, the frequent
// ones first, then by name, so that lookups are deterministic.
var scriptsInOrder = func() []string {
	names := slices.Clone(frequentScripts)
	rest := make([]string, 0, len(unicode.Scripts))
	for name := range unicode.Scripts {
		if !slices.Contains(names, name) && name != "Common" && name != "Inherited" {
			rest = append(rest, name)
		}
	}
	slices.Sort(rest)
	return append(names, rest...)
}()

// scriptOf returns the script of r, "" for the Common and Inherited
// scripts, which go with any other, and "Unknown" for characters newer
// than the unicode package's tables.
func scriptOf(r rune) string {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' {
			return "Latin"
		}
		return ""
	}
	if unicode.Is(unicode.Common, r) || unicode.Is(unicode.Inherited, r) {
		return ""
	}
	for _, name := range scriptsInOrder {
		if unicode.Is(unicode.Scripts[name], r) {
			return name
		}
	}
	return "Unknown"
}

// loginName prepares a new or changed login name of a user of orgID:
// normalized (ParseLoginName), completed and checked by the
// organization's domain policy, and checked against the commands'
// LoginNameRules. It returns the Display form.
func (c *Commands) loginName(o org.Org, name string) (string, error) {
	n, err := ParseLoginName(name)
	if err != nil {
		return "", err
	}
	completed, err := orgLoginName(o, n.Display)
	if err != nil {
		return "", err
	}
	if n, err = ParseLoginName(completed); err != nil {
		return "", err
	}
	if err := c.loginNames.check(n); err != nil {
		return "", err
	}
	return n.Display, nil
}

// claimedLoginName returns the value user userID's login name is claimed
// under: the key the read model holds for it. That is LoginNameKey of its
// name, except for a name stored before login names were normalized and
// not yet rebuilt (its lower case), and for one of two old names that
// normalize alike (see doc.go) — releasing exactly what was claimed frees
// the name without freeing another user's.
func (c *Commands) claimedLoginName(ctx context.Context, instanceID, userID, name string) (string, error) {
	var key string
	err := c.db().Reader().QueryRowContext(ctx, `SELECT login_name_lower FROM users WHERE instance_id = $1 AND id = $2`, instanceID, userID).Scan(&key)
	if errors.Is(err, sql.ErrNoRows) {
		return LoginNameKey(name), nil
	}
	if err != nil {
		return "", fmt.Errorf("user: login name of %s: %w", userID, err)
	}
	return key, nil
}
