package mail

import (
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"

	"github.com/castellan-iam/castellan/internal/settings"
)

// Languages are the languages of the catalogue; the first is the default.
var Languages = []language.Tag{language.English, language.German}

var matcher = language.NewMatcher(Languages)

// match returns the language of the catalogue that serves t, and whether
// one does (English for none).
func match(t language.Tag) (language.Tag, bool) {
	_, i, conf := matcher.Match(t)
	if conf == language.No {
		return Languages[0], false
	}
	return Languages[i], true
}

// supported returns the language of the catalogue that serves t.
func supported(t language.Tag) language.Tag {
	l, _ := match(t)
	return l
}

// Choose returns the language of a message to a user: preferred, the
// user's own (a BCP 47 tag; "de-CH" is served by German), if the catalogue
// speaks it; else orgDefault, the organization's settings'
// privacy.defaultLanguage, if it does; else English. Tags that do not
// parse count as absent.
func Choose(preferred, orgDefault string) language.Tag {
	for _, s := range []string{preferred, orgDefault} {
		if s == "" {
			continue
		}
		t, err := language.Parse(s)
		if err != nil {
			continue
		}
		if l, ok := match(t); ok {
			return l
		}
	}
	return Languages[0]
}

var cat = func() *catalog.Builder {
	b := catalog.NewBuilder(catalog.Fallback(language.English))
	for _, e := range catalogue {
		if err := b.SetString(language.English, e.key, e.en); err != nil {
			panic(err)
		}
		if err := b.SetString(language.German, e.key, e.de); err != nil {
			panic(err)
		}
	}
	return b
}()

// The catalogue's keys are those a level's texts may replace.
func init() {
	originals := make(map[string]string, len(catalogue))
	for _, e := range catalogue {
		originals[TextPrefix+e.key] = e.en
	}
	settings.RegisterTexts(originals)
}

func printer(lang language.Tag) *message.Printer {
	return message.NewPrinter(supported(lang), message.Catalog(cat))
}

// entry is a string of the catalogue: its key and its English and German
// text, with the same verbs (%[1]s, ...).
type entry struct{ key, en, de string }

// catalogue holds every string of the messages.
var catalogue = []entry{
	{"footer", "This message was sent by %[1]s to you because of your account there. Replies are not read.",
		"Diese Nachricht wurde Ihnen von %[1]s wegen Ihres Kontos dort gesendet. Antworten werden nicht gelesen."},
	{"unknown", "unknown", "unbekannt"},
	{"not.you.ignore", "If you did not ask for this, you can ignore this message.",
		"Wenn Sie dies nicht angefordert haben, können Sie diese Nachricht ignorieren."},
	{"not.you.change", "If you did not make this change, contact your administrator at once: someone else may have access to your account.",
		"Wenn Sie diese Änderung nicht vorgenommen haben, wenden Sie sich sofort an Ihre Administration: Jemand anderes könnte Zugriff auf Ihr Konto haben."},

	{"verification.subject", "Your verification code for %[1]s", "Ihr Bestätigungscode für %[1]s"},
	{"verification.heading", "Confirm your address", "Bestätigen Sie Ihre Adresse"},
	{"verification.code", "Your verification code is %[1]s.", "Ihr Bestätigungscode lautet %[1]s."},
	{"verification.enter", "Enter it where you were asked for it to confirm that this address is yours. It is valid for a short time only.",
		"Geben Sie ihn dort ein, wo Sie danach gefragt wurden, um zu bestätigen, dass diese Adresse Ihnen gehört. Er ist nur kurze Zeit gültig."},
	{"sms.verification", "Your verification code is %[1]s (%[2]s).", "Ihr Bestätigungscode lautet %[1]s (%[2]s)."},

	{"password_reset.subject", "Reset your password at %[1]s", "Setzen Sie Ihr Passwort bei %[1]s zurück"},
	{"password_reset.heading", "Reset your password", "Passwort zurücksetzen"},
	{"password_reset.asked", "Somebody asked to reset the password of your account %[1]s at %[2]s.",
		"Jemand hat verlangt, das Passwort Ihres Kontos %[1]s bei %[2]s zurückzusetzen."},
	{"password_reset.code", "Your password reset code is %[1]s.", "Ihr Code zum Zurücksetzen des Passworts lautet %[1]s."},
	{"password_reset.enter", "Enter it on the page where you asked for it, then choose a new password. It is valid for a short time only.",
		"Geben Sie ihn auf der Seite ein, auf der Sie ihn angefordert haben, und wählen Sie dann ein neues Passwort. Er ist nur kurze Zeit gültig."},
	{"password_reset.not.you", "If you did not ask for this, ignore this message: your password stays as it is.",
		"Wenn Sie dies nicht angefordert haben, ignorieren Sie diese Nachricht: Ihr Passwort bleibt, wie es ist."},
	{"sms.password_reset", "Your password reset code is %[1]s (%[2]s).", "Ihr Code zum Zurücksetzen des Passworts lautet %[1]s (%[2]s)."},

	{"sign_in_code.subject", "Your sign-in code for %[1]s", "Ihr Anmeldecode für %[1]s"},
	{"sign_in_code.heading", "Your sign-in code", "Ihr Anmeldecode"},
	{"sign_in_code.code", "Your sign-in code is %[1]s.", "Ihr Anmeldecode lautet %[1]s."},
	{"sign_in_code.enter", "Enter it to finish signing in. It is valid for a short time only.",
		"Geben Sie ihn ein, um die Anmeldung abzuschließen. Er ist nur kurze Zeit gültig."},
	{"sign_in_code.not.you", "If you are not signing in right now, somebody else knows your password: change it.",
		"Wenn Sie sich gerade nicht anmelden, kennt jemand anderes Ihr Passwort: Ändern Sie es."},
	{"sms.sign_in_code", "Your sign-in code is %[1]s (%[2]s).", "Ihr Anmeldecode lautet %[1]s (%[2]s)."},

	{"sign_in_link.subject", "Your sign-in link for %[1]s", "Ihr Anmeldelink für %[1]s"},
	{"sign_in_link.heading", "Sign in with this link", "Mit diesem Link anmelden"},
	{"sign_in_link.asked", "Somebody asked for a link to sign in to %[1]s at %[2]s.", "Jemand hat einen Link angefordert, um sich als %[1]s bei %[2]s anzumelden."},
	{"sign_in_link.button", "Sign in", "Anmelden"},
	{"sign_in_link.valid", "The link works once, within 15 minutes, and only while no newer link was sent.",
		"Der Link funktioniert einmal, innerhalb von 15 Minuten, und nur, solange kein neuerer Link gesendet wurde."},
	{"sign_in_link.not.you", "If you did not ask for it, ignore this message: nobody can sign in without the link.",
		"Wenn Sie ihn nicht angefordert haben, ignorieren Sie diese Nachricht: Ohne den Link kann sich niemand anmelden."},

	{"authenticator.added.subject", "An authenticator was added to your account at %[1]s", "Ihrem Konto bei %[1]s wurde ein Authentifizierungsmittel hinzugefügt"},
	{"authenticator.added.heading", "An authenticator was added", "Ein Authentifizierungsmittel wurde hinzugefügt"},
	{"authenticator.removed.subject", "An authenticator was removed from your account at %[1]s", "Von Ihrem Konto bei %[1]s wurde ein Authentifizierungsmittel entfernt"},
	{"authenticator.removed.heading", "An authenticator was removed", "Ein Authentifizierungsmittel wurde entfernt"},
	{"passkey.added.subject", "A passkey was added to your account at %[1]s", "Ihrem Konto bei %[1]s wurde ein Passkey hinzugefügt"},
	{"passkey.added.heading", "A passkey was added", "Ein Passkey wurde hinzugefügt"},
	{"passkey.removed.subject", "A passkey was removed from your account at %[1]s", "Von Ihrem Konto bei %[1]s wurde ein Passkey entfernt"},
	{"passkey.removed.heading", "A passkey was removed", "Ein Passkey wurde entfernt"},
	{"authenticator.added.totp", "An authenticator app (TOTP) was added to your account %[1]s.",
		"Ihrem Konto %[1]s wurde eine Authenticator-App (TOTP) hinzugefügt."},
	{"authenticator.removed.totp", "An authenticator app (TOTP) was removed from your account %[1]s.",
		"Von Ihrem Konto %[1]s wurde eine Authenticator-App (TOTP) entfernt."},
	{"authenticator.added.recovery_codes", "Recovery codes were added to your account %[1]s.",
		"Ihrem Konto %[1]s wurden Wiederherstellungscodes hinzugefügt."},
	{"authenticator.removed.recovery_codes", "Recovery codes were removed from your account %[1]s.",
		"Von Ihrem Konto %[1]s wurden die Wiederherstellungscodes entfernt."},
	{"authenticator.added.otp_email", "Sign-in codes by email were added to your account %[1]s.",
		"Ihrem Konto %[1]s wurden Anmeldecodes per E-Mail hinzugefügt."},
	{"authenticator.removed.otp_email", "Sign-in codes by email were removed from your account %[1]s.",
		"Von Ihrem Konto %[1]s wurden die Anmeldecodes per E-Mail entfernt."},
	{"authenticator.added.otp_sms", "Sign-in codes by SMS were added to your account %[1]s.",
		"Ihrem Konto %[1]s wurden Anmeldecodes per SMS hinzugefügt."},
	{"authenticator.removed.otp_sms", "Sign-in codes by SMS were removed from your account %[1]s.",
		"Von Ihrem Konto %[1]s wurden die Anmeldecodes per SMS entfernt."},
	{"authenticator.added.passkey", "The passkey \u201c%[2]s\u201d was added to your account %[1]s.",
		"Der Passkey \u201e%[2]s\u201c wurde Ihrem Konto %[1]s hinzugefügt."},
	{"authenticator.removed.passkey", "The passkey \u201c%[2]s\u201d was removed from your account %[1]s.",
		"Der Passkey \u201e%[2]s\u201c wurde von Ihrem Konto %[1]s entfernt."},

	{"new_device.subject", "New sign-in to your account at %[1]s", "Neue Anmeldung bei Ihrem Konto bei %[1]s"},
	{"new_device.heading", "A new sign-in to your account", "Eine neue Anmeldung bei Ihrem Konto"},
	{"new_device.signed.in", "Your account %[1]s at %[2]s was signed in to from a device or network it was not used from recently.",
		"Bei Ihrem Konto %[1]s bei %[2]s hat sich jemand von einem Gerät oder aus einem Netzwerk angemeldet, das zuletzt nicht dafür verwendet wurde."},
	{"new_device.device", "Device", "Gerät"},
	{"new_device.address", "Address", "Adresse"},
	{"new_device.time", "Time", "Zeit"},
	{"new_device.if.you", "If this was you, there is nothing to do.", "Wenn Sie das waren, ist nichts zu tun."},
	{"new_device.if.not.you", "If it was not you, change your password at once and tell your administrator.",
		"Wenn Sie es nicht waren, ändern Sie sofort Ihr Passwort und informieren Sie Ihre Administration."},

	{"account_exists.subject", "Your account at %[1]s", "Ihr Konto bei %[1]s"},
	{"account_exists.heading", "You already have an account", "Sie haben bereits ein Konto"},
	{"account_exists.asked", "Somebody asked to create an account at %[1]s with this email address, which already has one.",
		"Jemand wollte bei %[1]s ein Konto mit dieser E-Mail-Adresse anlegen, die bereits eines hat."},
	{"account_exists.if.you", "If it was you: sign in with your account, or choose \u201cForgot your password?\u201d on the sign-in page to set a new password.",
		"Wenn Sie es waren: Melden Sie sich mit Ihrem Konto an, oder wählen Sie auf der Anmeldeseite \u201ePasswort vergessen?\u201c, um ein neues Passwort festzulegen."},
}
