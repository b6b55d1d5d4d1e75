package mail

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/language"
)

const sampleLink = "https://login.example.com/ui/login/link?user=u1&token=abc"

var at = time.Date(2025, 3, 3, 9, 41, 0, 0, time.UTC)

func sample(k Kind) Message {
	return Message{Kind: k, Data: Data{Code: "493817", LoginName: "ada", Authenticator: TOTP,
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", Address: "192.0.2.7", At: at,
		Link: sampleLink}}
}

// Every kind renders in English and German, with its own subject, the
// data it carries in both bodies, and no catalogue key left untranslated.
func TestEveryKindInEveryLanguage(t *testing.T) {
	brand := Brand{Name: "Acme Cloud", PrimaryColor: "#aa3300", BackgroundColor: "#fafafa", FontColor: "#111111"}
	want := map[Kind][]string{
		Verification:         {"493817"},
		PasswordReset:        {"493817", "ada"},
		SignInCode:           {"493817"},
		AuthenticatorAdded:   {"ada", "TOTP"},
		AuthenticatorRemoved: {"ada", "TOTP"},
		NewDevice:            {"ada", "Firefox/128.0", "192.0.2.7", "2025-03-03 09:41 UTC"},
		AccountExists:        {"Acme Cloud"},
		SignInLink:           {"ada", "https://login.example.com/ui/login/link?user=u1"},
	}
	subjects := map[string]Kind{}
	for _, lang := range Languages {
		for _, k := range Kinds {
			t.Run(lang.String()+"/"+string(k), func(t *testing.T) {
				e, err := Render(lang, brand, sample(k))
				if err != nil {
					t.Fatal(err)
				}
				if e.Subject == "" || strings.ContainsAny(e.Subject, "\r\n") {
					t.Fatalf("subject %q", e.Subject)
				}
				if other, ok := subjects[e.Subject]; ok {
					t.Fatalf("subject %q is also the subject of %s", e.Subject, other)
				}
				subjects[e.Subject] = k
				for _, s := range want[k] {
					if !strings.Contains(e.Text, s) || !strings.Contains(e.HTML, s) {
						t.Errorf("%q missing:\n%s\n%s", s, e.Text, e.HTML)
					}
				}
				if !strings.Contains(e.HTML, "Acme Cloud") || !strings.Contains(e.Text, "Acme Cloud") {
					t.Error("the instance is not named")
				}
				for _, body := range []string{e.Subject, e.Text, e.HTML} {
					body = strings.ReplaceAll(strings.ReplaceAll(body, sampleLink, ""), "https://login.example.com/ui/login/link?user=u1&amp;token=abc", "")
					if leftover := regexp.MustCompile(`[a-z_]+\.[a-z_.]+[a-z]`).FindString(body); leftover != "" && !strings.Contains(body, "Firefox") {
						t.Errorf("catalogue key %q in %q", leftover, body)
					}
					if strings.Contains(body, "%!") {
						t.Errorf("bad verb in %q", body)
					}
				}
			})
		}
	}
}

// The German messages are German, the English ones English.
func TestLanguageOfTheWords(t *testing.T) {
	for _, tc := range []struct {
		lang          language.Tag
		kind          Kind
		subject, text string
	}{
		{language.English, Verification, "Your verification code for Acme", "Your verification code is 493817."},
		{language.German, Verification, "Ihr Bestätigungscode für Acme", "Ihr Bestätigungscode lautet 493817."},
		{language.English, PasswordReset, "Reset your password at Acme", "Your password reset code is 493817."},
		{language.German, PasswordReset, "Setzen Sie Ihr Passwort bei Acme zurück", "Ihr Code zum Zurücksetzen des Passworts lautet 493817."},
		{language.German, AuthenticatorAdded, "Ihrem Konto bei Acme wurde ein Authentifizierungsmittel hinzugefügt", "Ihrem Konto ada wurde eine Authenticator-App (TOTP) hinzugefügt."},
		{language.German, NewDevice, "Neue Anmeldung bei Ihrem Konto bei Acme", "Gerät: Mozilla/5.0"},
		{language.MustParse("de-AT"), SignInCode, "Ihr Anmeldecode für Acme", "Ihr Anmeldecode lautet 493817."},
		{language.French, SignInCode, "Your sign-in code for Acme", "Your sign-in code is 493817."},
	} {
		t.Run(tc.lang.String()+"/"+string(tc.kind), func(t *testing.T) {
			e, err := Render(tc.lang, Brand{Name: "Acme"}, sample(tc.kind))
			if err != nil {
				t.Fatal(err)
			}
			if e.Subject != tc.subject || !strings.Contains(e.Text, tc.text) {
				t.Fatalf("got %q\n%s", e.Subject, e.Text)
			}
			if want := `lang="` + supported(tc.lang).String() + `"`; !strings.Contains(e.HTML, want) {
				t.Fatalf("no %s in the HTML", want)
			}
		})
	}
}

// User data (a passkey's name, a user agent, the instance's name) is
// escaped in the HTML and kept as it is in the text; a line break in the
// instance's name does not reach the subject.
func TestUserDataIsEscaped(t *testing.T) {
	m := Message{Kind: AuthenticatorAdded, Data: Data{LoginName: "ada", Authenticator: Passkey, PasskeyName: `<img src=x onerror="alert(1)">`}}
	e, err := Render(language.English, Brand{Name: "Evil <b>Corp</b>\r\nBcc: x@example.com"}, m)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(e.HTML, "<img") || strings.Contains(e.HTML, "<b>") || !strings.Contains(e.HTML, "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;") {
		t.Fatalf("not escaped:\n%s", e.HTML)
	}
	if !strings.Contains(e.Text, `<img src=x onerror="alert(1)">`) {
		t.Fatalf("text changed the name:\n%s", e.Text)
	}
	if e.Subject != "A passkey was added to your account at Evil <b>Corp</b> Bcc: x@example.com" {
		t.Fatalf("subject %q", e.Subject)
	}
	d := sample(NewDevice)
	d.UserAgent = `"><script>alert(1)</script>`
	e, err = Render(language.German, Brand{}, d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(e.HTML, "<script>") {
		t.Fatalf("user agent not escaped:\n%s", e.HTML)
	}
}

// The HTML is coloured with the branding, inline, and loads nothing: no
// stylesheet, no remote image or font. A colour that is not #rrggbb is the
// built-in one.
func TestHTMLIsBrandedAndSelfContained(t *testing.T) {
	e, err := Render(language.English, Brand{Name: "Acme", PrimaryColor: "#aa3300", BackgroundColor: "#fafafa", FontColor: "#101010"}, sample(Verification))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"#aa3300", "#fafafa", "#101010"} {
		if !strings.Contains(e.HTML, c) {
			t.Errorf("colour %s not used", c)
		}
	}
	for _, bad := range []string{"<link", "<img", "<style", "<script", "url(", "http://", "https://", "@import"} {
		if strings.Contains(e.HTML, bad) {
			t.Errorf("the HTML has %q", bad)
		}
	}
	e, err = Render(language.English, Brand{Name: "Acme", PrimaryColor: "red;background:url(https://evil.example/x)"}, sample(Verification))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(e.HTML, "evil.example") || !strings.Contains(e.HTML, builtIn.PrimaryColor) {
		t.Fatalf("a bad colour was used:\n%s", e.HTML)
	}
}

// The language is the user's if the catalogue speaks it, else the
// organization's default, else English.
func TestChoose(t *testing.T) {
	for _, tc := range []struct {
		name, preferred, orgDefault string
		want                        language.Tag
	}{
		{"ok/the user's language first", "de", "en", language.German},
		{"ok/a regional variant of the user's language", "de-CH", "en", language.German},
		{"ok/the user's over the organization's", "en-GB", "de", language.English},
		{"ok/the organization's when the user has none", "", "de", language.German},
		{"ok/the organization's when the catalogue lacks the user's", "fr", "de", language.German},
		{"ok/the organization's when the user's is not a tag", "English", "de", language.German},
		{"ok/English when neither is spoken", "fr", "it", language.English},
		{"ok/English without any", "", "", language.English},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Choose(tc.preferred, tc.orgDefault); got != tc.want {
				t.Fatalf("Choose(%q, %q) = %s, want %s", tc.preferred, tc.orgDefault, got, tc.want)
			}
		})
	}
}

// The codes go by SMS, short and in the language; other kinds do not.
func TestSMS(t *testing.T) {
	for _, tc := range []struct {
		lang language.Tag
		kind Kind
		want string
	}{
		{language.English, Verification, "Your verification code is 493817 (Acme)."},
		{language.German, Verification, "Ihr Bestätigungscode lautet 493817 (Acme)."},
		{language.German, PasswordReset, "Ihr Code zum Zurücksetzen des Passworts lautet 493817 (Acme)."},
		{language.English, SignInCode, "Your sign-in code is 493817 (Acme)."},
	} {
		got, err := RenderSMS(tc.lang, Brand{Name: "Acme"}, sample(tc.kind))
		if err != nil || got != tc.want {
			t.Errorf("%s %s: %q %v, want %q", tc.lang, tc.kind, got, err, tc.want)
		}
	}
	if _, err := RenderSMS(language.English, Brand{}, sample(NewDevice)); err == nil {
		t.Error("a new-device notice went by SMS")
	}
}

// Every catalogue entry has both languages, with the same verbs.
func TestCatalogueIsComplete(t *testing.T) {
	verbs := regexp.MustCompile(`%\[\d\]s`)
	seen := map[string]bool{}
	for _, e := range catalogue {
		if seen[e.key] {
			t.Errorf("%s twice", e.key)
		}
		seen[e.key] = true
		if e.en == "" || e.de == "" || e.en == e.de {
			t.Errorf("%s: %q / %q", e.key, e.en, e.de)
		}
		if a, b := verbs.FindAllString(e.en, -1), verbs.FindAllString(e.de, -1); fmt.Sprint(sorted(a)) != fmt.Sprint(sorted(b)) {
			t.Errorf("%s: verbs %v / %v", e.key, a, b)
		}
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// A level's texts replace the catalogue's words, with the original's
// placeholders; markup in them is escaped in the HTML.
func TestTextsReplaceTheCatalogue(t *testing.T) {
	b := Brand{Name: "Acme", Texts: map[string]string{
		"mail.sign_in_code.subject": "Code for <Acme> (%[1]s)",
		"mail.sign_in_code.code":    `Here: %[1]s <img src=x onerror="alert(1)">`,
	}}
	e, err := Render(language.English, b, sample(SignInCode))
	if err != nil {
		t.Fatal(err)
	}
	if e.Subject != "Code for <Acme> (Acme)" || !strings.Contains(e.Text, `Here: 493817 <img src=x onerror="alert(1)">`) {
		t.Fatalf("got %q\n%s", e.Subject, e.Text)
	}
	if strings.Contains(e.HTML, "<img") || !strings.Contains(e.HTML, "Here: 493817 &lt;img") {
		t.Fatalf("not escaped:\n%s", e.HTML)
	}
	if !strings.Contains(e.Text, "Enter it to finish signing in.") {
		t.Fatalf("the words without a text of the level changed:\n%s", e.Text)
	}
}
