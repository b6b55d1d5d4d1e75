package notify

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/castellan-iam/castellan/internal/failure"
)

func TestEncodeSubject(t *testing.T) {
	tests := []struct {
		name, subject string
		encoded       bool
	}{
		{"ok/short ASCII stays literal", "Your verification code", false},
		{"ok/non-ASCII is encoded", "Ihr Bestätigungscode", true},
		{"ok/encoded-word lookalike is encoded", "=?utf-8?q?x?=", true},
		{"ok/leading space is encoded", " code", true},
		{"ok/double space is encoded", "your  code", true},
		{"ok/tab is encoded", "your\tcode", true},
		{"ok/long ASCII is encoded and folded", strings.Repeat("verification ", 10), true},
		{"ok/four-byte characters are not split", strings.Repeat("🔐", 40), true},
	}
	var dec mime.WordDecoder
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := encodeSubject(tt.subject)
			if encoded := got != tt.subject; encoded != tt.encoded {
				t.Errorf("encodeSubject(%q) = %q, encoded %v, want %v", tt.subject, got, encoded, tt.encoded)
			}
			for _, line := range strings.Split(got, "\r\n") {
				if len("Subject: "+line) > 78 {
					t.Errorf("line %q is longer than 78 characters", line)
				}
			}
			// As a reader sees it: folding removed, then encoded words decoded.
			unfolded := strings.ReplaceAll(got, "\r\n ", " ")
			if decoded, err := dec.DecodeHeader(unfolded); err != nil || decoded != tt.subject {
				t.Errorf("decodes to %q (%v), want %q", decoded, err, tt.subject)
			}
		})
	}
}

// headerLine is a header field ("Name: value") or the continuation of a
// folded one.
var headerLine = regexp.MustCompile(`^([!-9;-~]+: .*|[ \t].*)$`)

// The header fields of a message, sorted; a multipart message has no
// top-level Content-Transfer-Encoding.
var (
	wantHeaders          = []string{"Auto-Submitted", "Content-Transfer-Encoding", "Content-Type", "Date", "From", "Message-Id", "Mime-Version", "Subject", "To"}
	wantMultipartHeaders = slices.DeleteFunc(slices.Clone(wantHeaders), func(h string) bool { return h == "Content-Transfer-Encoding" })
)

// FuzzComposeEmail checks that no To, Subject or body can add a header or
// break the header section, and that what is accepted reads back exactly.
func FuzzComposeEmail(f *testing.F) {
	f.Add("jane@example.com", "Your code", "Your code is 123456.", "")
	f.Add("jane@example.com", "Code\r\nBcc: all@example.com", "x", "<p>x</p>")
	f.Add("jane@example.com\nBcc: all@example.com", "Code", "x", "")
	f.Add(`"a\"b c"@example.com`, "=?utf-8?b?QmNjOiB4?=", ".\r\n.\n", "--\r\n\r\nBcc: x")
	f.Add("jürgen@bücher.example", "Grüße "+strings.Repeat("é", 100), "\r\rtext\x00", "<b>")
	f.Add("(comment) jane@example.com", " \t ", "=\n", "\xff")
	from, err := parseSender("Castellan Zürich <noreply@castellan.test>")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, to, subject, text, html string) {
		m := Message{To: to, Subject: subject, Text: text, HTML: html}
		rcpt, err := checkEmail(m)
		if err != nil {
			if !failure.Is(err, failure.KindInvalidArgument) {
				t.Fatalf("checkEmail: %v, want an invalid argument", err)
			}
			return
		}
		if strings.ContainsAny(to+subject, "\r\n") {
			t.Fatalf("accepted a line break in To %q or Subject %q", to, subject)
		}
		data, err := composeEmail(from, rcpt, m, fixedNow)
		if err != nil {
			t.Fatal(err)
		}
		head, _, ok := bytes.Cut(data, []byte("\r\n\r\n"))
		if !ok {
			t.Fatalf("no end of the header section:\n%q", data)
		}
		var names []string
		for _, line := range strings.Split(string(head), "\r\n") {
			if strings.ContainsAny(line, "\r\n") || !headerLine.MatchString(line) || len(line) > 998 {
				t.Fatalf("header line %q is neither a field nor a continuation (or too long)", line)
			}
			if name, _, ok := strings.Cut(line, ": "); ok && line[0] != ' ' && line[0] != '\t' {
				names = append(names, name)
			}
		}
		names = canonical(names)
		slices.Sort(names)
		want := wantHeaders
		if html != "" {
			want = wantMultipartHeaders
		}
		if !slices.Equal(names, want) {
			t.Fatalf("header fields %v, want %v", names, want)
		}

		parsed, err := mail.ReadMessage(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("net/mail: %v", err)
		}
		var dec mime.WordDecoder
		if got, err := dec.DecodeHeader(parsed.Header.Get("Subject")); err != nil || got != subject {
			t.Fatalf("Subject reads back as %q (%v), want %q", got, err, subject)
		}
		wantTo, _ := mail.ParseAddress(to)
		if got, err := mail.ParseAddress(parsed.Header.Get("To")); err != nil || got.Address != wantTo.Address || got.Name != "" {
			t.Fatalf("To reads back as %v (%v), want %q", got, err, wantTo.Address)
		}
		_, params, err := mime.ParseMediaType(parsed.Header.Get("Content-Type"))
		if err != nil {
			t.Fatal(err)
		}
		bodies := []io.Reader{parsed.Body}
		wantBodies := []string{text}
		if html != "" {
			mr := multipart.NewReader(parsed.Body, params["boundary"])
			bodies, wantBodies = nil, []string{text, html}
			for range 2 {
				part, err := mr.NextRawPart()
				if err != nil {
					t.Fatalf("multipart: %v", err)
				}
				b, err := io.ReadAll(part)
				if err != nil {
					t.Fatalf("multipart: %v", err)
				}
				bodies = append(bodies, bytes.NewReader(b))
			}
			if _, err := mr.NextRawPart(); err != io.EOF {
				t.Fatalf("a third part or a broken end: %v", err)
			}
		}
		for i, r := range bodies {
			got, err := io.ReadAll(quotedprintable.NewReader(r))
			if err != nil {
				t.Fatalf("quoted-printable: %v", err)
			}
			if lineBreaksToLF(string(got)) != lineBreaksToLF(wantBodies[i]) {
				t.Fatalf("body %d reads back as %q, want %q", i, got, wantBodies[i])
			}
		}
		if !utf8.Valid(data) {
			t.Fatal("the message is not valid UTF-8")
		}
	})
}

func canonical(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = textproto.CanonicalMIMEHeaderKey(n)
	}
	return out
}
