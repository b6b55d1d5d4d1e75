package login

import (
	"net/http"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

// languages the login speaks; the first is the default.
var languages = []language.Tag{language.English, language.German}

var matcher = language.NewMatcher(languages)

// messages are the login's strings: the key is the English text.
var messages = map[string]string{
	"Sign in":                              "Anmelden",
	"Login name":                           "Anmeldename",
	"Next":                                 "Weiter",
	"Password":                             "Passwort",
	"Use a passkey":                        "Mit Passkey anmelden",
	"The login name or password is wrong.": "Der Anmeldename oder das Passwort ist falsch.",
	"The code is wrong.":                   "Der Code ist falsch.",
	"Enter a login name.":                  "Bitte einen Anmeldenamen eingeben.",
	"Enter the password.":                  "Bitte das Passwort eingeben.",
	"Enter the code.":                      "Bitte den Code eingeben.",
	"Too many attempts. Wait a moment and try again.": "Zu viele Versuche. Bitte kurz warten und erneut versuchen.",
	"The form has expired. Please try again.":         "Das Formular ist abgelaufen. Bitte erneut versuchen.",
	"Something went wrong. Please try again.":         "Etwas ist schiefgegangen. Bitte erneut versuchen.",
	"Your sign-in has ended. Please start again.":     "Ihre Anmeldung ist abgelaufen. Bitte erneut beginnen.",
	"Signed in":                "Angemeldet",
	"You are signed in as %s.": "Sie sind angemeldet als %s.",
	"Sign out":                 "Abmelden",
	"Signed out":               "Abgemeldet",
	"You are signed out.":      "Sie sind abgemeldet.",
	"Sign in again":            "Erneut anmelden",
	"Choose an account":        "Konto auswählen",
	"Use another account":      "Anderes Konto verwenden",
	"Second factor":            "Zweiter Faktor",
	"Authenticator app code":   "Code der Authenticator-App",
	"Enter the six-digit code of your authenticator app.": "Geben Sie den sechsstelligen Code Ihrer Authenticator-App ein.",
	"Recovery code":                         "Wiederherstellungscode",
	"Enter one of your recovery codes.":     "Geben Sie einen Ihrer Wiederherstellungscodes ein.",
	"Code sent by email":                    "Code per E-Mail",
	"Code sent by SMS":                      "Code per SMS",
	"We sent a code to your email address.": "Wir haben einen Code an Ihre E-Mail-Adresse gesendet.",
	"We sent a code to your phone.":         "Wir haben einen Code an Ihr Telefon gesendet.",
	"Security key or passkey":               "Sicherheitsschlüssel oder Passkey",
	"Code":                                  "Code",
	"Verify":                                "Bestätigen",
	"Other ways to confirm":                 "Andere Bestätigungswege",
	"Change your password":                  "Passwort ändern",
	"Your password must be changed before you continue.": "Ihr Passwort muss geändert werden, bevor Sie fortfahren.",
	"New password":            "Neues Passwort",
	"Repeat the new password": "Neues Passwort wiederholen",
	"The passwords differ.":   "Die Passwörter stimmen nicht überein.",
	"Change password":         "Passwort ändern",
	"Set up a second factor":  "Zweiten Faktor einrichten",
	"Your organization requires a second factor. Scan the code with an authenticator app, then enter the code it shows.": "Ihre Organisation verlangt einen zweiten Faktor. Scannen Sie den Code mit einer Authenticator-App und geben Sie den angezeigten Code ein.",
	"Or enter this key by hand:": "Oder geben Sie diesen Schlüssel von Hand ein:",
	"Set up":                     "Einrichten",
	"Your authenticator is set up. Enter its next code to finish signing in.": "Ihr Authenticator ist eingerichtet. Geben Sie den nächsten Code ein, um die Anmeldung abzuschließen.",
	"This sign-in cannot be completed here. Ask your administrator.":          "Diese Anmeldung kann hier nicht abgeschlossen werden. Bitte wenden Sie sich an Ihre Administration.",
	"Back":     "Zurück",
	"Not you?": "Nicht Sie?",
}

var cat = func() catalog.Catalog {
	b := catalog.NewBuilder(catalog.Fallback(language.English))
	for en, de := range messages {
		_ = b.SetString(language.English, en, en)
		_ = b.SetString(language.German, en, de)
	}
	return b
}()

// languageOf picks the page's language: ui_locales (space-separated, in
// order of preference), then Accept-Language, then English.
func languageOf(r *http.Request) language.Tag {
	var prefs []language.Tag
	if ui := r.URL.Query().Get("ui_locales"); ui != "" && len(ui) < 200 {
		for _, s := range splitSpaces(ui) {
			if t, err := language.Parse(s); err == nil {
				prefs = append(prefs, t)
			}
		}
	}
	if al := r.Header.Get("Accept-Language"); al != "" && len(al) < 1000 {
		if tags, _, err := language.ParseAcceptLanguage(al); err == nil {
			prefs = append(prefs, tags...)
		}
	}
	_, i, _ := matcher.Match(prefs...)
	return languages[i]
}

func splitSpaces(s string) []string {
	var out []string
	start := -1
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ' ' {
			if start >= 0 {
				out = append(out, s[start:i])
			}
			start = -1
		} else if start < 0 {
			start = i
		}
	}
	return out
}

func printer(t language.Tag) *message.Printer { return message.NewPrinter(t, message.Catalog(cat)) }
