// Package mail owns the words and the look of the messages Castellan sends
// to users: verification codes, password-reset codes, sign-in codes, the
// notices of an authenticator added or removed, of a sign-in from a new
// device, and of a registration with an address that already has an
// account. Package notify delivers them; this package only composes them.
//
// [Render] makes an email of a [Kind]: a subject, a plain-text body and an
// HTML alternative (html/template, so user data such as a passkey's name or
// a user agent is escaped). The HTML has inline styles only and no remote
// images or fonts, so that it looks the same in every mail client and
// tells nobody when it is opened; it is coloured with the branding of the
// instance or organization ([Brand]) and names the instance. [RenderSMS]
// makes the short text of the kinds that go by SMS (the codes).
//
// Every string is in a message catalogue (golang.org/x/text/message),
// English and German; [Choose] picks the recipient's language: the
// user's preferred language (the human schema's profile.preferred_language,
// its OIDC locale) when a catalogue speaks it, else the organization's
// settings' privacy.defaultLanguage, else English.
//
// A [Sender] is what the transport packages (the login, the user API) and
// the composition root call to send: it is given the recipient and the
// message, and looks up the language and the branding itself (package app
// implements it over the read models), so that no caller composes text.
package mail
