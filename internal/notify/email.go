package notify

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/castellan-iam/castellan/internal/failure"
)

// maxAddressLength is the longest address that fits RFC 5321's 256-octet
// path (section 4.5.3.1.3) once enclosed in angle brackets.
const maxAddressLength = 254

// sender is the configured From, in the forms the message and the envelope
// need.
type sender struct {
	header  string // the From header value, display name RFC 2047-encoded
	address string // the envelope MAIL FROM
	domain  string // the right-hand side of Message-ID
}

func parseSender(from string) (sender, error) {
	if strings.ContainsAny(from, "\r\n") {
		return sender{}, headerInjection("from")
	}
	a, err := mail.ParseAddress(from)
	if err != nil {
		return sender{}, failure.InvalidArgument("from", `the sender is an address with an optional name, like "Example <noreply@example.com>"`)
	}
	addr, err := formatAddress("from", a.Address)
	if err != nil {
		return sender{}, err
	}
	if !isASCII(addr) {
		return sender{}, failure.InvalidArgument("from", "the sender address must be ASCII (write an internationalized domain in its xn-- form)")
	}
	header := a.String()
	if len(header) > 900 {
		return sender{}, failure.InvalidArgument("from", "the sender's name is too long")
	}
	return sender{header: header, address: addr, domain: addr[strings.LastIndexByte(addr, '@')+1:]}, nil
}

// parseRecipient checks that to is a bare email address and returns it
// quoted as RFC 5322 requires, for both the To header and RCPT TO.
func parseRecipient(to string) (string, error) {
	if strings.ContainsAny(to, "\r\n") {
		return "", headerInjection("to")
	}
	a, err := mail.ParseAddress(to)
	if err != nil || a.Name != "" {
		return "", failure.InvalidArgument("to", "the recipient is a bare email address, like jane@example.com")
	}
	return formatAddress("to", a.Address)
}

// formatAddress writes a parsed address, whose local part net/mail has
// unquoted, as an addr-spec again.
func formatAddress(field, addr string) (string, error) {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", failure.InvalidArgument(field, "an email address has a local part and a domain")
	}
	s := (&mail.Address{Address: addr}).String()
	s = s[1 : len(s)-1] // without the angle brackets
	if len(s) > maxAddressLength {
		return "", failure.InvalidArgument(field, "an email address has at most %d characters", maxAddressLength)
	}
	return s, nil
}

func headerInjection(field string) error {
	return failure.InvalidArgument(field, "line breaks (CR, LF) are not allowed in a mail header")
}

// checkEmail validates m for email and returns the recipient's address.
func checkEmail(m Message) (string, error) {
	to, err := parseRecipient(m.To)
	if err != nil {
		return "", err
	}
	switch {
	case strings.ContainsAny(m.Subject, "\r\n"):
		return "", headerInjection("subject")
	case m.Subject == "":
		return "", failure.InvalidArgument("subject", "an email needs a subject")
	case !utf8.ValidString(m.Subject):
		return "", failure.InvalidArgument("subject", "the subject is not valid UTF-8")
	case m.Text == "":
		return "", failure.InvalidArgument("text", "a message needs a text")
	case !utf8.ValidString(m.Text):
		return "", failure.InvalidArgument("text", "the text is not valid UTF-8")
	case !utf8.ValidString(m.HTML):
		return "", failure.InvalidArgument("html", "the HTML is not valid UTF-8")
	}
	return to, nil
}

// composeEmail builds the RFC 5322 message for m, already checked by
// checkEmail, addressed to the address it returned. Lines end in CRLF (the
// SMTP client ends the last one) and
// stay within 78 characters except for the From header, whose length the
// configuration bounds; bodies are quoted-printable UTF-8, so the message
// is 7-bit unless the recipient's address is not ASCII (RFC 6532).
func composeEmail(from sender, to string, m Message, now time.Time) ([]byte, error) {
	var b bytes.Buffer
	header := func(name, value string) {
		b.WriteString(name)
		b.WriteString(": ")
		b.WriteString(value)
		b.WriteString("\r\n")
	}
	header("Date", now.Format(time.RFC1123Z))
	header("From", from.header)
	header("To", to)
	header("Subject", encodeSubject(m.Subject))
	header("Message-ID", "<"+rand.Text()+"@"+from.domain+">")
	header("MIME-Version", "1.0")
	header("Auto-Submitted", "auto-generated") // RFC 3834: no auto-replies
	if m.HTML == "" {
		header("Content-Type", "text/plain; charset=utf-8")
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		if err := writeQuotedPrintable(&b, m.Text); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	mw := multipart.NewWriter(&b)
	// "=_" never occurs in quoted-printable output, so no body can contain
	// the boundary; the random rest keeps nested forwards apart.
	if err := mw.SetBoundary("=_" + rand.Text()); err != nil {
		return nil, err
	}
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	// RFC 2046 section 5.1.4: the preferred alternative comes last.
	for _, part := range []struct{ contentType, body string }{
		{"text/plain; charset=utf-8", m.Text},
		{"text/html; charset=utf-8", m.HTML},
	} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.contentType},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		if err := writeQuotedPrintable(w, part.body); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeQuotedPrintable(w io.Writer, s string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := io.WriteString(qp, s); err != nil {
		return err
	}
	return qp.Close()
}

// encodeSubject returns s as is when it is short, printable ASCII that a
// decoder reads back unchanged, and otherwise as RFC 2047 encoded words
// (base64 UTF-8), one per folded line. Encoding also keeps leading,
// trailing and repeated spaces, which unfolding would collapse, and text
// that merely looks like an encoded word ("=?").
func encodeSubject(s string) string {
	if len("Subject: ")+len(s) <= 78 && isPlainHeaderText(s) {
		return s
	}
	// 42 bytes of UTF-8 become 56 base64 characters; with "=?utf-8?b?",
	// "?=" and "Subject: " in front, every line stays within 78.
	const chunk = 42
	var b strings.Builder
	for s != "" {
		n := min(len(s), chunk)
		for n < len(s) && !utf8.RuneStart(s[n]) {
			n-- // never split a character across encoded words (RFC 2047 section 5)
		}
		if b.Len() > 0 {
			b.WriteString("\r\n ")
		}
		b.WriteString("=?utf-8?b?")
		b.WriteString(base64.StdEncoding.EncodeToString([]byte(s[:n])))
		b.WriteString("?=")
		s = s[n:]
	}
	return b.String()
}

func isPlainHeaderText(s string) bool {
	if s == "" || s[0] == ' ' || s[len(s)-1] == ' ' || strings.Contains(s, "  ") || strings.Contains(s, "=?") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
