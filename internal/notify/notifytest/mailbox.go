// Package notifytest gives tests of any package a real SMTP server to send
// to: a Mailbox on loopback (github.com/emersion/go-smtp, which Castellan's
// SMTP client is tested against too) that keeps every message it accepts.
package notifytest

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Mailbox is an SMTP server on 127.0.0.1:Port without TLS or
// authentication (Castellan sends to it with notify.smtp.tls none).
type Mailbox struct {
	Port int
	mu   sync.Mutex
	raw  []string
}

// Start runs a Mailbox until the test ends.
func Start(t testing.TB) *Mailbox {
	t.Helper()
	box := &Mailbox{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return session{box}, nil }))
	srv.Domain = "mailbox.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	box.Port = ln.Addr().(*net.TCPAddr).Port
	go srv.Serve(ln) //nolint:errcheck // ends when the listener closes
	t.Cleanup(func() { srv.Close() })
	return box
}

// Messages returns the raw messages accepted so far, oldest first. SMTP
// delivery is synchronous: a send that returned is in it.
func (b *Mailbox) Messages() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.raw...)
}

type session struct{ box *Mailbox }

func (s session) Mail(string, *smtp.MailOptions) error { return nil }
func (s session) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s session) Reset()                               {}
func (s session) Logout() error                        { return nil }
func (s session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.box.mu.Lock()
	s.box.raw = append(s.box.raw, string(b))
	s.box.mu.Unlock()
	return nil
}
