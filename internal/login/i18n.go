package login

import (
	"net/http"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"

	"github.com/castellan-iam/castellan/internal/settings"
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
	"Too many attempts. Wait a moment and try again.":                                                  "Zu viele Versuche. Bitte kurz warten und erneut versuchen.",
	"The form has expired. Please try again.":                                                          "Das Formular ist abgelaufen. Bitte erneut versuchen.",
	"Something went wrong. Please try again.":                                                          "Etwas ist schiefgegangen. Bitte erneut versuchen.",
	"Your sign-in has ended. Please start again.":                                                      "Ihre Anmeldung ist abgelaufen. Bitte erneut beginnen.",
	"Continue to the application":                                                                      "Weiter zur Anwendung",
	"This sign-in request has expired or was already used. Return to the application and start again.": "Diese Anmeldeanfrage ist abgelaufen oder wurde schon verwendet. Kehren Sie zur Anwendung zurück und beginnen Sie erneut.",
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

	// the account pages
	"Your account":         "Ihr Konto",
	"Signed in as %s.":     "Angemeldet als %s.",
	"Back to your account": "Zurück zu Ihrem Konto",
	"Profile":              "Profil",
	"Email":                "E-Mail",
	"Phone":                "Telefon",
	"Email and phone":      "E-Mail und Telefon",
	"verified":             "bestätigt",
	"not verified":         "nicht bestätigt",
	"none":                 "keine",
	"Sign-in methods":      "Anmeldemethoden",
	"Your sessions":        "Ihre Sitzungen",
	"To change your email address or phone number, ask your administrator.": "Um Ihre E-Mail-Adresse oder Telefonnummer zu ändern, wenden Sie sich an Ihre Administration.",
	"Send a code":                              "Code senden",
	"We sent a code. Enter it below.":          "Wir haben einen Code gesendet. Geben Sie ihn unten ein.",
	"Codes cannot be sent at the moment.":      "Codes können im Moment nicht gesendet werden.",
	"There is nothing to verify.":              "Es gibt nichts zu bestätigen.",
	"Current password":                         "Aktuelles Passwort",
	"Enter the current password.":              "Bitte das aktuelle Passwort eingeben.",
	"Enter a new password.":                    "Bitte ein neues Passwort eingeben.",
	"The current password is wrong.":           "Das aktuelle Passwort ist falsch.",
	"Your password is changed.":                "Ihr Passwort ist geändert.",
	"Confirm it is you":                        "Bestätigen Sie, dass Sie es sind",
	"For this change, confirm that it is you.": "Bestätigen Sie für diese Änderung, dass Sie es sind.",
	"Confirm":                                            "Bestätigen",
	"Cancel":                                             "Abbrechen",
	"The password is wrong.":                             "Das Passwort ist falsch.",
	"Sign in again to make this change.":                 "Melden Sie sich erneut an, um diese Änderung vorzunehmen.",
	"Confirm with a second factor":                       "Mit einem zweiten Faktor bestätigen",
	"To go on, confirm with a second factor.":            "Bestätigen Sie mit einem zweiten Faktor, um fortzufahren.",
	"Sign in again to continue.":                         "Melden Sie sich erneut an, um fortzufahren.",
	"Authenticator app":                                  "Authenticator-App",
	"Add an authenticator app":                           "Authenticator-App hinzufügen",
	"Remove the authenticator app":                       "Authenticator-App entfernen",
	"Use an app that shows a new code every 30 seconds.": "Verwenden Sie eine App, die alle 30 Sekunden einen neuen Code anzeigt.",
	"Scan the code with an authenticator app, then enter the code it shows.": "Scannen Sie den Code mit einer Authenticator-App und geben Sie den angezeigten Code ein.",
	"QR code of the authenticator key":                                       "QR-Code des Authenticator-Schlüssels",
	"Enter the code your authenticator app shows.":                           "Geben Sie den Code ein, den Ihre Authenticator-App anzeigt.",
	"Start again": "Neu beginnen",
	"Start again: no authenticator app is waiting for its code.": "Bitte neu beginnen: Keine Authenticator-App wartet auf ihren Code.",
	"An authenticator app cannot be added to your account.":      "Zu Ihrem Konto kann keine Authenticator-App hinzugefügt werden.",
	"Your authenticator app is set up.":                          "Ihre Authenticator-App ist eingerichtet.",
	"Your authenticator app is removed.":                         "Ihre Authenticator-App ist entfernt.",
	"You have no authenticator app.":                             "Sie haben keine Authenticator-App.",
	"Not available for your account.":                            "Für Ihr Konto nicht verfügbar.",
	"Recovery codes":                                             "Wiederherstellungscodes",
	"Recovery codes left: %d":                                    "Verbleibende Wiederherstellungscodes: %d",
	"Make recovery codes":                                        "Wiederherstellungscodes erstellen",
	"Make new recovery codes":                                    "Neue Wiederherstellungscodes erstellen",
	"Remove the recovery codes":                                  "Wiederherstellungscodes entfernen",
	"Your recovery codes":                                        "Ihre Wiederherstellungscodes",
	"Keep these codes somewhere safe. Each signs you in once when you cannot use your other second factors. They are shown only now; any codes you had before no longer work.": "Bewahren Sie diese Codes sicher auf. Jeder meldet Sie einmal an, wenn Sie Ihre anderen zweiten Faktoren nicht verwenden können. Sie werden nur jetzt angezeigt; frühere Codes gelten nicht mehr.",
	"Recovery codes cannot be added to your account.":             "Zu Ihrem Konto können keine Wiederherstellungscodes hinzugefügt werden.",
	"Your recovery codes are removed.":                            "Ihre Wiederherstellungscodes sind entfernt.",
	"You have no recovery codes.":                                 "Sie haben keine Wiederherstellungscodes.",
	"Done":                                                        "Fertig",
	"Sign-in codes":                                               "Anmeldecodes",
	"Codes sent by email sign you in.":                            "Per E-Mail gesendete Codes melden Sie an.",
	"Codes sent by SMS sign you in.":                              "Per SMS gesendete Codes melden Sie an.",
	"Sign in with codes by email":                                 "Mit Codes per E-Mail anmelden",
	"Sign in with codes by SMS":                                   "Mit Codes per SMS anmelden",
	"Stop codes by email":                                         "Codes per E-Mail beenden",
	"Stop codes by SMS":                                           "Codes per SMS beenden",
	"You can now sign in with codes sent by email.":               "Sie können sich jetzt mit per E-Mail gesendeten Codes anmelden.",
	"You can now sign in with codes sent by SMS.":                 "Sie können sich jetzt mit per SMS gesendeten Codes anmelden.",
	"Codes sent by email no longer sign you in.":                  "Per E-Mail gesendete Codes melden Sie nicht mehr an.",
	"Codes sent by SMS no longer sign you in.":                    "Per SMS gesendete Codes melden Sie nicht mehr an.",
	"Verify the address first, on the page Email and phone.":      "Bestätigen Sie zuerst die Adresse, auf der Seite E-Mail und Telefon.",
	"Verify the phone number first, on the page Email and phone.": "Bestätigen Sie zuerst die Telefonnummer, auf der Seite E-Mail und Telefon.",
	"Sign-in codes cannot be turned on for your account.":         "Anmeldecodes können für Ihr Konto nicht eingeschaltet werden.",
	"Sign-in codes are not turned on.":                            "Anmeldecodes sind nicht eingeschaltet.",
	"Passkeys":                                                    "Passkeys",
	"Add a passkey":                                               "Passkey hinzufügen",
	"You have no passkeys.":                                       "Sie haben keine Passkeys.",
	"Added":                                                       "Hinzugefügt",
	"last used":                                                   "zuletzt verwendet",
	"signs in without a password":                                 "meldet ohne Passwort an",
	"Remove":                                                      "Entfernen",
	"The passkey is added.":                                       "Der Passkey ist hinzugefügt.",
	"The passkey is removed.":                                     "Der Passkey ist entfernt.",
	"There is no such passkey.":                                   "Diesen Passkey gibt es nicht.",
	"This browser":                                                "Dieser Browser",
	"Another session":                                             "Andere Sitzung",
	"Address":                                                     "Adresse",
	"Last active":                                                 "Zuletzt aktiv",
	"Ends":                                                        "Endet",
	"End this session":                                            "Diese Sitzung beenden",
	"End all other sessions":                                      "Alle anderen Sitzungen beenden",
	"The session is ended.":                                       "Die Sitzung ist beendet.",
	"Your other sessions are ended.":                              "Ihre anderen Sitzungen sind beendet.",
	"There is no such session.":                                   "Diese Sitzung gibt es nicht.",
	"This is the session of this browser: sign out to end it.": "Dies ist die Sitzung dieses Browsers: Melden Sie sich ab, um sie zu beenden.",
	"Save":                     "Speichern",
	"Your profile is saved.":   "Ihr Profil ist gespeichert.",
	"Check the marked fields.": "Bitte die markierten Felder prüfen.",
	"Your account has no fields you can change here.": "Ihr Konto hat keine Felder, die Sie hier ändern können.",

	// registration and recovery
	"Create an account":                                "Konto erstellen",
	"Register your organization":                       "Organisation registrieren",
	"Confirm your email address":                       "E-Mail-Adresse bestätigen",
	"Forgot your password?":                            "Passwort vergessen?",
	"Choose a new password":                            "Neues Passwort wählen",
	"Registration is not open here.":                   "Eine Registrierung ist hier nicht möglich.",
	"Enter the name of your organization.":             "Bitte den Namen Ihrer Organisation eingeben.",
	"Enter a valid email address.":                     "Bitte eine gültige E-Mail-Adresse eingeben.",
	"This name is taken. Choose another.":              "Dieser Name ist vergeben. Bitte einen anderen wählen.",
	"This email address cannot be used here.":          "Diese E-Mail-Adresse kann hier nicht verwendet werden.",
	"Your registration has ended. Please start again.": "Ihre Registrierung ist abgelaufen. Bitte erneut beginnen.",
	"Your email address is confirmed. Please sign in.": "Ihre E-Mail-Adresse ist bestätigt. Bitte melden Sie sich an.",
	"The code is no longer valid. Ask for a new one.":  "Der Code ist nicht mehr gültig. Bitte einen neuen anfordern.",
	"We sent a new message.":                           "Wir haben eine neue Nachricht gesendet.",
	"If this account exists, we sent a code to its email address or phone. Enter it and choose a new password.": "Falls dieses Konto existiert, haben wir einen Code an seine E-Mail-Adresse oder sein Telefon gesendet. Geben Sie ihn ein und wählen Sie ein neues Passwort.",
	"Your recovery has ended. Please start again.":                                                              "Ihre Wiederherstellung ist abgelaufen. Bitte erneut beginnen.",
	"Your password is changed. Please sign in.":                                                                 "Ihr Passwort ist geändert. Bitte melden Sie sich an.",
	"This field is required.":                                                                                   "Dieses Feld ist erforderlich.",
	"This value is already taken.":                                                                              "Dieser Wert ist bereits vergeben.",
	"optional":                                                                                                  "optional",
	"Organization name":                                                                                         "Name der Organisation",
	"Email address":                                                                                             "E-Mail-Adresse",
	"You sign in with it.":                                                                                      "Damit melden Sie sich an.",
	"Repeat the password":                                                                                       "Passwort wiederholen",
	"I have an account":                                                                                         "Ich habe ein Konto",
	"We sent a message to %s. Enter the code it contains.":                                                      "Wir haben eine Nachricht an %s gesendet. Geben Sie den enthaltenen Code ein.",
	"Send the message again":                                                                                    "Nachricht erneut senden",
	"Login name or email address":                                                                               "Anmeldename oder E-Mail-Adresse",
	"Send a new code":                                                                                           "Neuen Code senden",
	"Enter your login name or email address. If the account exists, we send a code to its email address or phone.": "Geben Sie Ihren Anmeldenamen oder Ihre E-Mail-Adresse ein. Falls das Konto existiert, senden wir einen Code an seine E-Mail-Adresse oder sein Telefon.",

	// third-party applications: consent, devices, sign-out
	"Allow access":                       "Zugriff erlauben",
	"%s asks to access your account %s:": "%s möchte auf Ihr Konto %s zugreifen:",
	"Allow":                              "Erlauben",
	"Deny":                               "Ablehnen",
	"Know who you are":                   "Wissen, wer Sie sind",
	"Your name and profile":              "Ihr Name und Profil",
	"Your email address":                 "Ihre E-Mail-Adresse",
	"Your phone number":                  "Ihre Telefonnummer",
	"Stay connected while you are away":  "Verbunden bleiben, während Sie nicht da sind",
	"Applications you allowed":           "Anwendungen, denen Sie Zugriff erlaubt haben",
	"Revoke":                             "Widerrufen",
	"Connect a device":                   "Gerät verbinden",
	"Enter the code your device shows.":  "Geben Sie den Code ein, den Ihr Gerät anzeigt.",
	"%s asks to sign in as %s on the device that shows the code %s.":                              "%s möchte Sie als %s auf dem Gerät anmelden, das den Code %s anzeigt.",
	"The device is connected. You can return to it.":                                              "Das Gerät ist verbunden. Sie können zu ihm zurückkehren.",
	"The device was not connected.":                                                               "Das Gerät wurde nicht verbunden.",
	"The code is wrong or has expired. Check it on your device.":                                  "Der Code ist falsch oder abgelaufen. Prüfen Sie ihn auf Ihrem Gerät.",
	"An application asks to sign you out. Do you want to sign out?":                               "Eine Anwendung möchte Sie abmelden. Möchten Sie sich abmelden?",
	"This sign-out request has expired or is not valid. Return to the application and try again.": "Diese Abmeldeanfrage ist abgelaufen oder ungültig. Kehren Sie zur Anwendung zurück und versuchen Sie es erneut.",
	"Email me a sign-in link":                                                                     "Anmeldelink per E-Mail senden",
	"Sign-in links are not available here.":                                                       "Anmeldelinks sind hier nicht verfügbar.",
	"Check your email":                                                                            "Prüfen Sie Ihre E-Mails",
	"Continue to sign in with the link from your email.":                                          "Melden Sie sich mit dem Link aus Ihrer E-Mail an.",
	"Continue": "Weiter",
	"This sign-in link is not valid. Ask for a new one.":                                                                   "Dieser Anmeldelink ist nicht gültig. Fordern Sie einen neuen an.",
	"If this account can sign in by email, we sent a sign-in link to its email address. It works once, within 15 minutes.": "Wenn sich dieses Konto per E-Mail anmelden kann, haben wir einen Anmeldelink an seine E-Mail-Adresse gesendet. Er funktioniert einmal, innerhalb von 15 Minuten.",
}

// The catalogue's keys, its English texts, are those a level's texts may
// replace (settings.Texts).
func init() {
	originals := make(map[string]string, len(messages))
	for en := range messages {
		originals[en] = en
	}
	settings.RegisterTexts(originals)
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
