package notify

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/failure"
)

var fixedNow = time.Date(2026, 3, 3, 14, 5, 6, 0, time.FixedZone("CET", 3600))

func newTestSMTP(t *testing.T, cfg SMTPConfig) *SMTP {
	t.Helper()
	s, err := NewSMTP(cfg)
	if err != nil {
		t.Fatalf("NewSMTP: %v", err)
	}
	s.now = func() time.Time { return fixedNow }
	return s
}

func TestSMTPDeliversMessage(t *testing.T) {
	long := strings.Repeat("Bitte bestätigen Sie Ihre E-Mail-Adresse. ", 6)
	tests := []struct {
		name string
		mode string
		msg  Message
	}{
		{"ok/plain text over starttls", TLSStartTLS, Message{
			To: "jane@example.com", Subject: "Your code", Text: "Your code is 123456.\nIt expires in 10 minutes.\n"}},
		{"ok/text and html over starttls", TLSStartTLS, Message{
			To: "jane@example.com", Subject: "Ihr Code für Castellan", Text: "Ihr Code: 123456",
			HTML: "<p>Ihr Code: <b>123456</b></p>\n<p>" + strings.Repeat("Grüße ", 40) + "</p>"}},
		{"ok/long subject is folded into encoded words", TLSStartTLS, Message{
			To: "jane@example.com", Subject: long, Text: long}},
		{"ok/subject that looks encoded stays literal", TLSStartTLS, Message{
			To: "jane@example.com", Subject: "=?utf-8?q?not_decoded?=", Text: "."}},
		{"ok/spaces and dots survive", TLSStartTLS, Message{
			To: `"jane doe"@example.com`, Subject: "  two  spaces ", Text: ".\n..\nline with trailing space \n"}},
		{"ok/implicit tls", TLSImplicit, Message{To: "jane@example.com", Subject: "Code", Text: "123456"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := startSink(t, sinkOptions{startTLS: tt.mode == TLSStartTLS, implicitTLS: tt.mode == TLSImplicit})
			s := newTestSMTP(t, sink.config(tt.mode))
			if err := s.Send(context.Background(), tt.msg); err != nil {
				t.Fatalf("Send: %v", err)
			}
			mails := sink.received()
			if len(mails) != 1 {
				t.Fatalf("the sink received %d messages, want 1", len(mails))
			}
			got := mails[0]
			if !got.tls || got.user != sinkUser {
				t.Errorf("delivered with tls=%v as user %q, want TLS as %q", got.tls, got.user, sinkUser)
			}
			wantTo, err := mail.ParseAddress(tt.msg.To)
			if err != nil {
				t.Fatal(err)
			}
			if got.from != "noreply@castellan.test" || got.to != wantTo.Address {
				t.Errorf("envelope %q -> %q, want noreply@castellan.test -> %q", got.from, got.to, wantTo.Address)
			}
			for i, line := range strings.Split(string(got.data), "\r\n") {
				if len(line) > 78 {
					t.Errorf("line %d has %d characters (more than 78): %q", i+1, len(line), line)
				}
			}
			checkParsedEmail(t, got.data, tt.msg, wantTo.Address)
		})
	}
}

// checkParsedEmail parses data with net/mail and compares every header
// and body with what was sent.
func checkParsedEmail(t *testing.T, data []byte, sent Message, wantTo string) {
	t.Helper()
	parsed, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("net/mail cannot parse the message: %v\n%s", err, data)
	}
	h := parsed.Header
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(h.Get("Subject"))
	if err != nil || subject != sent.Subject {
		t.Errorf("Subject decodes to %q (%v), want %q; raw %q", subject, err, sent.Subject, h.Get("Subject"))
	}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Castellan" || from[0].Address != "noreply@castellan.test" {
		t.Errorf("From = %v (%v), want Castellan <noreply@castellan.test>", from, err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Name != "" || to[0].Address != wantTo {
		t.Errorf("To = %v (%v), want %s", to, err, wantTo)
	}
	if date, err := h.Date(); err != nil || !date.Equal(fixedNow) {
		t.Errorf("Date = %v (%v), want %v", date, err, fixedNow)
	}
	if id := h.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@castellan.test>") || len(id) < 20 {
		t.Errorf("Message-ID = %q, want <random@castellan.test>", id)
	}
	if v := h.Get("MIME-Version"); v != "1.0" {
		t.Errorf("MIME-Version = %q", v)
	}
	if v := h.Get("Auto-Submitted"); v != "auto-generated" {
		t.Errorf("Auto-Submitted = %q", v)
	}
	mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", h.Get("Content-Type"), err)
	}
	if sent.HTML == "" {
		if mediaType != "text/plain" || params["charset"] != "utf-8" {
			t.Errorf("Content-Type = %q, want text/plain; charset=utf-8", h.Get("Content-Type"))
		}
		checkQuotedPrintable(t, "text", h.Get("Content-Transfer-Encoding"), parsed.Body, sent.Text)
		return
	}
	if mediaType != "multipart/alternative" || params["boundary"] == "" {
		t.Fatalf("Content-Type = %q, want multipart/alternative with a boundary", h.Get("Content-Type"))
	}
	mr := multipart.NewReader(parsed.Body, params["boundary"])
	for _, want := range []struct{ mediaType, body string }{{"text/plain", sent.Text}, {"text/html", sent.HTML}} {
		part, err := mr.NextRawPart()
		if err != nil {
			t.Fatalf("part %s: %v", want.mediaType, err)
		}
		mt, p, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if err != nil || mt != want.mediaType || p["charset"] != "utf-8" {
			t.Errorf("part Content-Type = %q, want %s; charset=utf-8", part.Header.Get("Content-Type"), want.mediaType)
		}
		checkQuotedPrintable(t, want.mediaType, part.Header.Get("Content-Transfer-Encoding"), part, want.body)
	}
	if _, err := mr.NextRawPart(); err != io.EOF {
		t.Errorf("after the two alternatives: %v, want io.EOF", err)
	}
}

func checkQuotedPrintable(t *testing.T, what, encoding string, r io.Reader, want string) {
	t.Helper()
	if encoding != "quoted-printable" {
		t.Errorf("%s Content-Transfer-Encoding = %q, want quoted-printable", what, encoding)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(r))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if got := normalizeNewlines(string(body)); got != normalizeNewlines(want) {
		t.Errorf("%s body = %q, want %q", what, got, want)
	}
}

// normalizeNewlines maps CRLF and CR to LF, as quoted-printable line breaks
// become CRLF on the wire, and drops a final line break, which SMTP adds
// to a body that lacks one.
func normalizeNewlines(s string) string {
	return strings.TrimSuffix(lineBreaksToLF(s), "\n")
}

func lineBreaksToLF(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

func TestSMTPRefusesWrongPassword(t *testing.T) {
	sink := startSink(t, sinkOptions{startTLS: true})
	cfg := sink.config(TLSStartTLS)
	cfg.Password = "wrong-Pa55word"
	s := newTestSMTP(t, cfg)
	err := s.Send(context.Background(), Message{To: "jane@example.com", Subject: "Code", Text: "Your code is 654321"})
	if !failure.Is(err, failure.KindUnavailable) {
		t.Fatalf("Send with a wrong password: %v, want an unavailable error", err)
	}
	if strings.Contains(err.Error(), cfg.Password) || strings.Contains(err.Error(), "654321") {
		t.Errorf("the error reveals the password or the body: %v", err)
	}
	if sink.auths.Load() != 1 || len(sink.received()) != 0 {
		t.Errorf("auth attempts %d, messages %d; want 1 and 0", sink.auths.Load(), len(sink.received()))
	}
}

func TestSMTPRequiresStartTLS(t *testing.T) {
	// The server offers no STARTTLS but would take AUTH PLAIN in clear.
	sink := startSink(t, sinkOptions{insecureAuth: true})
	s := newTestSMTP(t, sink.config(TLSStartTLS))
	err := s.Send(context.Background(), Message{To: "jane@example.com", Subject: "Code", Text: "123456"})
	if !failure.Is(err, failure.KindUnavailable) || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("Send without STARTTLS: %v, want an unavailable error about STARTTLS", err)
	}
	if sink.accepts.Load() != 1 || sink.auths.Load() != 0 || len(sink.received()) != 0 {
		t.Errorf("connections %d, auth attempts %d, messages %d; want 1, 0, 0", sink.accepts.Load(), sink.auths.Load(), len(sink.received()))
	}
}

func TestSMTPVerifiesTheServerCertificate(t *testing.T) {
	for _, mode := range []string{TLSStartTLS, TLSImplicit} {
		t.Run("fail/untrusted certificate with "+mode, func(t *testing.T) {
			sink := startSink(t, sinkOptions{startTLS: mode == TLSStartTLS, implicitTLS: mode == TLSImplicit})
			cfg := sink.config(mode)
			cfg.RootCAs = nil // the system roots do not know the sink
			err := newTestSMTP(t, cfg).Send(context.Background(), Message{To: "jane@example.com", Subject: "Code", Text: "123456"})
			if !failure.Is(err, failure.KindUnavailable) {
				t.Fatalf("Send: %v, want an unavailable error", err)
			}
			if sink.auths.Load() != 0 || len(sink.received()) != 0 {
				t.Errorf("auth attempts %d, messages %d; want none", sink.auths.Load(), len(sink.received()))
			}
		})
	}
}

func TestSMTPWithoutTLSOnLoopback(t *testing.T) {
	sink := startSink(t, sinkOptions{insecureAuth: true})
	s := newTestSMTP(t, sink.config(TLSNone))
	msg := Message{To: "jane@example.com", Subject: "Code", Text: "123456"}
	if err := s.Send(context.Background(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	mails := sink.received()
	if len(mails) != 1 || mails[0].tls {
		t.Fatalf("received %+v, want one message in clear", mails)
	}
	checkParsedEmail(t, mails[0].data, msg, msg.To)
}

func TestSMTPInternationalizedRecipient(t *testing.T) {
	msg := Message{To: "jürgen@bücher.example", Subject: "Code", Text: "123456"}
	t.Run("fail/server without SMTPUTF8", func(t *testing.T) {
		sink := startSink(t, sinkOptions{startTLS: true})
		err := newTestSMTP(t, sink.config(TLSStartTLS)).Send(context.Background(), msg)
		if !failure.Is(err, failure.KindUnavailable) || !strings.Contains(err.Error(), "SMTPUTF8") {
			t.Fatalf("Send: %v, want an unavailable error about SMTPUTF8", err)
		}
		if len(sink.received()) != 0 {
			t.Error("the message was delivered")
		}
	})
	t.Run("ok/server with SMTPUTF8", func(t *testing.T) {
		sink := startSink(t, sinkOptions{startTLS: true, smtpUTF8: true})
		if err := newTestSMTP(t, sink.config(TLSStartTLS)).Send(context.Background(), msg); err != nil {
			t.Fatalf("Send: %v", err)
		}
		mails := sink.received()
		if len(mails) != 1 || mails[0].to != msg.To {
			t.Fatalf("received %+v, want one message to %s", mails, msg.To)
		}
		checkParsedEmail(t, mails[0].data, msg, msg.To)
	})
}

func TestSMTPRejectsInvalidMessagesBeforeConnecting(t *testing.T) {
	tests := []struct {
		name  string
		msg   Message
		field string
	}{
		{"fail/LF in to", Message{To: "jane@example.com\nBcc: all@example.com", Subject: "Code", Text: "1"}, "to"},
		{"fail/CR in to", Message{To: "jane@example.com\r", Subject: "Code", Text: "1"}, "to"},
		{"fail/CRLF in subject", Message{To: "jane@example.com", Subject: "Code\r\nBcc: all@example.com", Text: "1"}, "subject"},
		{"fail/bare LF in subject", Message{To: "jane@example.com", Subject: "Code\n\n<html>", Text: "1"}, "subject"},
		{"fail/display name in to", Message{To: "Jane <jane@example.com>", Subject: "Code", Text: "1"}, "to"},
		{"fail/two recipients", Message{To: "jane@example.com, joe@example.com", Subject: "Code", Text: "1"}, "to"},
		{"fail/no domain", Message{To: "jane@", Subject: "Code", Text: "1"}, "to"},
		{"fail/phone number as address", Message{To: "+41791234567", Subject: "Code", Text: "1"}, "to"},
		{"fail/address too long", Message{To: strings.Repeat("a", 64) + "@" + strings.Repeat("b.", 95) + "example", Subject: "Code", Text: "1"}, "to"},
		{"fail/no subject", Message{To: "jane@example.com", Text: "1"}, "subject"},
		{"fail/subject not UTF-8", Message{To: "jane@example.com", Subject: "Code \xff", Text: "1"}, "subject"},
		{"fail/no text", Message{To: "jane@example.com", Subject: "Code", HTML: "<p>1</p>"}, "text"},
		{"fail/text not UTF-8", Message{To: "jane@example.com", Subject: "Code", Text: "\xc3"}, "text"},
		{"fail/html not UTF-8", Message{To: "jane@example.com", Subject: "Code", Text: "1", HTML: "\xc3"}, "html"},
	}
	sink := startSink(t, sinkOptions{startTLS: true})
	s := newTestSMTP(t, sink.config(TLSStartTLS))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Send(context.Background(), tt.msg)
			var f *failure.Error
			if !errors.As(err, &f) || f.Kind != failure.KindInvalidArgument || f.Field != tt.field {
				t.Fatalf("Send: %v, want an invalid argument naming %q", err, tt.field)
			}
		})
	}
	if n := sink.accepts.Load(); n != 0 {
		t.Errorf("the notifier connected %d times for invalid messages", n)
	}
}

func TestSMTPStopsAtTheDeadline(t *testing.T) {
	// A server that accepts the connection and never greets.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, bufio.NewReader(c)) }()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	msg := Message{To: "jane@example.com", Subject: "Code", Text: "123456"}

	t.Run("fail/caller's deadline", func(t *testing.T) {
		s := newTestSMTP(t, SMTPConfig{Host: "127.0.0.1", Port: port, TLS: TLSNone, From: "noreply@castellan.test"})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := s.Send(ctx, msg); !errors.Is(err, context.DeadlineExceeded) || !failure.Is(err, failure.KindUnavailable) {
			t.Fatalf("Send: %v, want an unavailable error wrapping context.DeadlineExceeded", err)
		}
	})
	t.Run("fail/configured timeout", func(t *testing.T) {
		s := newTestSMTP(t, SMTPConfig{Host: "127.0.0.1", Port: port, TLS: TLSNone, From: "noreply@castellan.test", Timeout: 100 * time.Millisecond})
		if err := s.Send(context.Background(), msg); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Send: %v, want an error wrapping context.DeadlineExceeded", err)
		}
	})
}

func TestNewSMTP(t *testing.T) {
	valid := SMTPConfig{Host: "smtp.example.com", Username: "mailer", Password: "s3cret-Pa55word", From: "Castellan <noreply@example.com>"}
	tests := []struct {
		name   string
		change func(*SMTPConfig)
		field  string // empty: valid
	}{
		{"ok/defaults to starttls on 587", func(*SMTPConfig) {}, ""},
		{"ok/implicit tls", func(c *SMTPConfig) { c.TLS = TLSImplicit }, ""},
		{"ok/no tls to localhost", func(c *SMTPConfig) { c.TLS, c.Host = TLSNone, "localhost" }, ""},
		{"ok/no tls to ::1", func(c *SMTPConfig) { c.TLS, c.Host = TLSNone, "::1" }, ""},
		{"ok/bare sender address", func(c *SMTPConfig) { c.From = "noreply@example.com" }, ""},
		{"ok/non-ASCII sender name", func(c *SMTPConfig) { c.From = "Zürich Login <noreply@example.com>" }, ""},
		{"ok/no credentials", func(c *SMTPConfig) { c.Username, c.Password = "", "" }, ""},
		{"fail/no tls to a remote host", func(c *SMTPConfig) { c.TLS = TLSNone }, "tls"},
		{"fail/unknown tls mode", func(c *SMTPConfig) { c.TLS = "ssl" }, "tls"},
		{"fail/no host", func(c *SMTPConfig) { c.Host = "" }, "host"},
		{"fail/host with port", func(c *SMTPConfig) { c.Host = "smtp.example.com:587" }, "host"},
		{"fail/port out of range", func(c *SMTPConfig) { c.Port = 70000 }, "port"},
		{"fail/password without user", func(c *SMTPConfig) { c.Username = "" }, "username"},
		{"fail/NUL in password", func(c *SMTPConfig) { c.Password = "a\x00b" }, "password"},
		{"fail/negative timeout", func(c *SMTPConfig) { c.Timeout = -time.Second }, "timeout"},
		{"fail/no sender", func(c *SMTPConfig) { c.From = "" }, "from"},
		{"fail/header injection in sender", func(c *SMTPConfig) { c.From = "Castellan <noreply@example.com>\r\nBcc: all@example.com" }, "from"},
		{"fail/two senders", func(c *SMTPConfig) { c.From = "a@example.com, b@example.com" }, "from"},
		{"fail/non-ASCII sender address", func(c *SMTPConfig) { c.From = "noreply@bücher.example" }, "from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.change(&cfg)
			s, err := NewSMTP(cfg)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("NewSMTP: %v", err)
				}
				if cfg.TLS == "" && (s.mode != TLSStartTLS || s.addr != "smtp.example.com:587") {
					t.Errorf("defaults: mode %q, address %q; want starttls to smtp.example.com:587", s.mode, s.addr)
				}
				return
			}
			var f *failure.Error
			if !errors.As(err, &f) || f.Kind != failure.KindInvalidArgument || f.Field != tt.field {
				t.Fatalf("NewSMTP: %v, want an invalid argument naming %q", err, tt.field)
			}
			if strings.Contains(err.Error(), valid.Password) {
				t.Errorf("the error reveals the password: %v", err)
			}
		})
	}
}
