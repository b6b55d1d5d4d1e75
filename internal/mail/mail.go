package mail

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"regexp"
	"strings"
	texttemplate "text/template"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/castellan-iam/castellan/internal/settings"
)

// Kind is a kind of message.
type Kind string

// The kinds of messages.
const (
	// Verification carries a code that proves an email address or phone
	// number belongs to the user.
	Verification Kind = "verification"
	// PasswordReset carries the code of a recovery of a forgotten password.
	PasswordReset Kind = "password_reset"
	// SignInCode carries a one-time code of a sign-in (a second factor).
	SignInCode Kind = "sign_in_code"
	// AuthenticatorAdded and AuthenticatorRemoved tell of a change to the
	// user's authenticators (Data.Authenticator).
	AuthenticatorAdded   Kind = "authenticator_added"
	AuthenticatorRemoved Kind = "authenticator_removed"
	// NewDevice tells of a sign-in from a user agent and address the
	// user's recent sessions did not come from.
	NewDevice Kind = "new_device"
	// AccountExists tells the owner of an address that somebody tried to
	// register with it again.
	AccountExists Kind = "account_exists"
	// SignInLink carries a single-use link that signs the user in
	// (Data.Link), sent when the user asked for one on the sign-in page.
	SignInLink Kind = "sign_in_link"
)

// Kinds lists every kind.
var Kinds = []Kind{Verification, PasswordReset, SignInCode, AuthenticatorAdded, AuthenticatorRemoved, NewDevice, AccountExists, SignInLink}

// Authenticator names the authenticator a notice of kind
// AuthenticatorAdded or AuthenticatorRemoved is about.
type Authenticator string

// The authenticators a notice names.
const (
	TOTP          Authenticator = "totp"
	RecoveryCodes Authenticator = "recovery_codes"
	OTPEmail      Authenticator = "otp_email"
	OTPSMS        Authenticator = "otp_sms"
	// Passkey is a passkey or security key, named by Data.PasskeyName.
	Passkey Authenticator = "passkey"
)

// Authenticators lists every authenticator a notice names.
var Authenticators = []Authenticator{TOTP, RecoveryCodes, OTPEmail, OTPSMS, Passkey}

// Data is what a message says besides its fixed words. Which fields a kind
// uses: the codes Code; every kind but AccountExists LoginName; the
// authenticator notices Authenticator (and PasskeyName); NewDevice
// UserAgent, Address and At; SignInLink Link.
type Data struct {
	Code string
	// Link is an absolute https (or, on loopback, http) URL.
	Link          string
	LoginName     string
	Authenticator Authenticator
	PasskeyName   string
	UserAgent     string
	Address       string
	At            time.Time
}

// Message is a message to render: its kind and data.
type Message struct {
	Kind Kind
	Data
}

// Brand is how a message looks and whom it is from: the instance's name
// and the branding colours in force ("#rrggbb"; anything else is replaced
// by the built-in colour).
type Brand struct {
	Name            string
	PrimaryColor    string
	BackgroundColor string
	FontColor       string
	// Texts are the level's own words in the message's language, by key
	// ("mail." and the catalogue's key; settings.Texts): plain text,
	// escaped in the HTML like any other.
	Texts map[string]string
}

// Email is a rendered email.
type Email struct {
	Subject string
	Text    string
	HTML    string
}

// Recipient is whom a Sender sends to: To, an email address or phone
// number, of instance InstanceID; the user UserID when the message is for
// a user (it decides the language, and the organization's settings the
// look), else the organization OrgID (may be empty: the instance).
type Recipient struct {
	InstanceID string
	UserID     string
	OrgID      string
	To         string
}

// Sender renders m in the recipient's language and branding and sends it
// by email to r.To. Errors are those of package notify, and
// failure.Unavailable when the instance has no email provider.
type Sender func(ctx context.Context, r Recipient, m Message) error

//go:embed templates
var files embed.FS

var (
	htmlLayout = htmltemplate.Must(htmltemplate.ParseFS(files, "templates/email.html"))
	textLayout = texttemplate.Must(texttemplate.ParseFS(files, "templates/email.txt"))
)

// builtIn is the look without branding: the login's built-in colours.
var builtIn = Brand{Name: "Castellan", PrimaryColor: "#1f5fbf", BackgroundColor: "#f4f5f7", FontColor: "#1b1f24"}

var colour = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// normalized returns b with its empty or invalid fields built in, and a
// name of one line.
func (b Brand) normalized() Brand {
	pick := func(v, def string) string {
		if colour.MatchString(v) {
			return v
		}
		return def
	}
	b.PrimaryColor = pick(b.PrimaryColor, builtIn.PrimaryColor)
	b.BackgroundColor = pick(b.BackgroundColor, builtIn.BackgroundColor)
	b.FontColor = pick(b.FontColor, builtIn.FontColor)
	if b.Name = oneLine(b.Name); b.Name == "" {
		b.Name = builtIn.Name
	}
	return b
}

// oneLine folds runs of white space, line breaks included, into one space.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// detail is a labelled value of a message (the device of a sign-in).
type detail struct{ Label, Value string }

// content is a message in words, before its layout.
type content struct {
	Lang    string
	Brand   Brand
	Subject string
	Heading string
	Before  []string // paragraphs before the code and details
	Code    string
	// Link and LinkLabel: a link to follow, shown as a button.
	Link, LinkLabel string
	Details         []detail
	After           []string
	Footer          string
}

// Render makes the email of m in language lang (one of Languages; any
// other is English) for an instance that looks like b.
func Render(lang language.Tag, b Brand, m Message) (Email, error) {
	c, err := compose(lang, b.normalized(), m)
	if err != nil {
		return Email{}, err
	}
	var text, html bytes.Buffer
	if err := textLayout.Execute(&text, c); err != nil {
		return Email{}, fmt.Errorf("mail: %s text: %w", m.Kind, err)
	}
	if err := htmlLayout.Execute(&html, c); err != nil {
		return Email{}, fmt.Errorf("mail: %s html: %w", m.Kind, err)
	}
	return Email{Subject: c.Subject, Text: text.String(), HTML: html.String()}, nil
}

// RenderSMS makes the text message of m, one of the kinds with a code, in
// language lang.
func RenderSMS(lang language.Tag, b Brand, m Message) (string, error) {
	p := words{printer(lang), b.Texts}
	name := b.normalized().Name
	switch m.Kind {
	case Verification:
		return p.Sprintf("sms.verification", m.Code, name), nil
	case PasswordReset:
		return p.Sprintf("sms.password_reset", m.Code, name), nil
	case SignInCode:
		return p.Sprintf("sms.sign_in_code", m.Code, name), nil
	}
	return "", fmt.Errorf("mail: no text message of kind %q", m.Kind)
}

// words are the strings of a message: the level's own texts where it
// sets them, else the catalogue's.
type words struct {
	p     *message.Printer
	texts map[string]string
}

func (w words) Sprintf(key string, args ...any) string {
	if t, ok := w.texts[TextPrefix+key]; ok {
		return settings.FormatText(t, args...)
	}
	return w.p.Sprintf(key, args...)
}

// TextPrefix starts the keys of the catalogue in settings.Texts.
const TextPrefix = "mail."

func compose(lang language.Tag, b Brand, m Message) (content, error) {
	p := words{printer(lang), b.Texts}
	c := content{Lang: supported(lang).String(), Brand: b, Code: m.Code, Footer: p.Sprintf("footer", b.Name)}
	warn := p.Sprintf("not.you.change")
	switch m.Kind {
	case Verification:
		c.Subject, c.Heading = p.Sprintf("verification.subject", b.Name), p.Sprintf("verification.heading")
		c.Before = []string{p.Sprintf("verification.code", m.Code), p.Sprintf("verification.enter")}
		c.After = []string{p.Sprintf("not.you.ignore")}
	case PasswordReset:
		c.Subject, c.Heading = p.Sprintf("password_reset.subject", b.Name), p.Sprintf("password_reset.heading")
		c.Before = []string{p.Sprintf("password_reset.asked", m.LoginName, b.Name), p.Sprintf("password_reset.code", m.Code), p.Sprintf("password_reset.enter")}
		c.After = []string{p.Sprintf("password_reset.not.you")}
	case SignInCode:
		c.Subject, c.Heading = p.Sprintf("sign_in_code.subject", b.Name), p.Sprintf("sign_in_code.heading")
		c.Before = []string{p.Sprintf("sign_in_code.code", m.Code), p.Sprintf("sign_in_code.enter")}
		c.After = []string{p.Sprintf("sign_in_code.not.you")}
	case AuthenticatorAdded, AuthenticatorRemoved:
		change := "added"
		if m.Kind == AuthenticatorRemoved {
			change = "removed"
		}
		which := "authenticator"
		if m.Authenticator == Passkey {
			which = "passkey"
		}
		key := "authenticator." + change + "." + string(m.Authenticator)
		if !known(m.Authenticator) {
			return content{}, fmt.Errorf("mail: unknown authenticator %q", m.Authenticator)
		}
		c.Subject = p.Sprintf(which+"."+change+".subject", b.Name)
		c.Heading = p.Sprintf(which + "." + change + ".heading")
		args := []any{m.LoginName}
		if m.Authenticator == Passkey {
			args = append(args, m.PasskeyName)
		}
		c.Before = []string{p.Sprintf(key, args...)}
		c.After = []string{warn}
		c.Code = ""
	case NewDevice:
		c.Subject, c.Heading = p.Sprintf("new_device.subject", b.Name), p.Sprintf("new_device.heading")
		c.Before = []string{p.Sprintf("new_device.signed.in", m.LoginName, b.Name)}
		c.Details = []detail{
			{p.Sprintf("new_device.device"), orUnknown(p, m.UserAgent)},
			{p.Sprintf("new_device.address"), orUnknown(p, m.Address)},
			{p.Sprintf("new_device.time"), m.At.UTC().Format("2006-01-02 15:04 UTC")},
		}
		c.After = []string{p.Sprintf("new_device.if.you"), p.Sprintf("new_device.if.not.you")}
		c.Code = ""
	case SignInLink:
		c.Subject, c.Heading = p.Sprintf("sign_in_link.subject", b.Name), p.Sprintf("sign_in_link.heading")
		c.Before = []string{p.Sprintf("sign_in_link.asked", m.LoginName, b.Name)}
		c.Link, c.LinkLabel = m.Link, p.Sprintf("sign_in_link.button")
		c.After = []string{p.Sprintf("sign_in_link.valid"), p.Sprintf("sign_in_link.not.you")}
		c.Code = ""
	case AccountExists:
		c.Subject, c.Heading = p.Sprintf("account_exists.subject", b.Name), p.Sprintf("account_exists.heading")
		c.Before = []string{p.Sprintf("account_exists.asked", b.Name), p.Sprintf("account_exists.if.you")}
		c.After = []string{p.Sprintf("not.you.ignore")}
		c.Code = ""
	default:
		return content{}, fmt.Errorf("mail: unknown kind %q", m.Kind)
	}
	c.Subject = oneLine(c.Subject)
	return c, nil
}

func known(a Authenticator) bool {
	for _, k := range Authenticators {
		if a == k {
			return true
		}
	}
	return false
}

func orUnknown(p words, s string) string {
	if s = oneLine(s); s == "" {
		return p.Sprintf("unknown")
	}
	return s
}
