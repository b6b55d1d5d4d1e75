// Package login is Castellan's hosted login: server-rendered pages under
// /ui/login/ that sign a person in with the same session commands the
// Session API serves (package session), so that the hosted login and a
// customer's own login stand on the same ground. It decides nothing about
// credentials: it asks package session, shows what the session says comes
// next (its Status.Next), and keeps the browser's sessions in a cookie.
//
// Pages are html/template, rendered with the response's CSP nonce (package
// server's pages group: no script or style runs without it); static
// assets are embedded and served under a content hash with a year's cache
// lifetime. Every form carries a CSRF token: an HMAC, under a key derived
// from the key ring, of a random value in its own SameSite=Strict cookie.
// Cookies are HttpOnly, Secure and __Host- prefixed on TLS.
//
// The browser's sessions are kept in one cookie as session id and token
// pairs, newest first, at most maxSessions: the first is the one a
// sign-in in progress works on; the others are offered for account
// selection. A token is a bearer secret, so the cookie is HttpOnly and
// never readable by a script.
//
// Languages: English and German, from the ui_locales parameter, then the
// Accept-Language header (golang.org/x/text/language matching); every
// string is in the message catalogue (i18n.go). TestEveryStringIsTranslated
// keeps it so: it reads the templates' {{t "…"}} keys and the strings the
// code gives the fields templates translate (Title, Error, Notice, Label
// …) and fails on any without German. The labels of generated forms are
// the user schema's own words and stay untranslated.
//
// Answers never tell whether an account exists: the login name step always
// goes on to the password step (the session does not name its user until a
// factor proves it), and every failure shows one message per step.
//
// The account pages (/ui/account/, account*.go) let a signed-in user do
// what the self-service API lets it do and no more: edit the traits its
// schema lets it write, verify its email address and phone, change its
// password, manage its second factors and passkeys, and see and end its
// sessions. They need the browser's current session authenticated. A
// change of authenticators also needs a check of the session within the
// last 10 minutes (any factor but the user name); without one the user
// confirms its password (or authenticator app code) first. A password
// change always asks for the current password. The email address and
// phone number are verified here, not changed: changing them is an
// administrator's (the self-service API changes neither).
//
// The sign-in page links to the registration page only while the
// instance has one active organization: the page without a link that
// names an organization registers in that one, and with several it would
// refuse (each organization publishes its own link).
//
// Sign-in links (emaillink.go), a level's own texts (settings.Texts:
// the page's t function takes them before the catalogue, escaped like any
// string) and the instance's frame ancestors (allowFraming in login.go)
// are described in docs/login.md.
//
// The pages are tested in a real browser (e2e/browser: sign-in, second
// factors, codes by SMS, account selection, account, registration,
// organization sign-up, recovery, sign-in links, own texts, framing, the
// provider's pages), each page with axe-core (no serious or critical
// violation) and in German; template_test.go checks what axe found once,
// autocomplete attributes, for every template.
package login
