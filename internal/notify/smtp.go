package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"slices"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/failure"
)

// The connection security modes of SMTPConfig.TLS.
const (
	// TLSStartTLS upgrades a plain connection with STARTTLS (RFC 3207) and
	// fails, before sending anything, when the server does not offer it.
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (RFC 8314, port 465).
	TLSImplicit = "tls"
	// TLSNone sends in clear; allowed only to a loopback host, such as a
	// local relay or a development mail sink.
	TLSNone = "none"
)

// SMTPConfig configures delivery through an SMTP submission server.
type SMTPConfig struct {
	// Host is the server's name, also the name its certificate must carry.
	Host string
	// Port defaults to 587 for TLSStartTLS, 465 for TLSImplicit and 25 for
	// TLSNone.
	Port int
	// Username and Password authenticate with AUTH PLAIN (RFC 4616), only
	// ever over TLS (or in clear to localhost). An empty Username skips
	// authentication.
	Username, Password string
	// From is the sender, "Name <addr>" or a bare address; the address
	// must be ASCII.
	From string
	// TLS is TLSStartTLS (the default), TLSImplicit or TLSNone.
	TLS string
	// RootCAs, when set, replaces the system roots for verifying the
	// server (tests, private CAs).
	RootCAs *x509.CertPool
	// Timeout bounds one whole Send, from dialling to QUIT; default 30 s.
	Timeout time.Duration
}

// SMTP sends email through one SMTP server, one connection per message.
// It is safe for concurrent use.
type SMTP struct {
	addr     string
	host     string
	mode     string
	username string
	password string
	from     sender
	tls      *tls.Config
	timeout  time.Duration
	now      func() time.Time
}

var _ Notifier = (*SMTP)(nil)

// NewSMTP checks cfg and returns a notifier for it. It does not connect.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if !validHost(cfg.Host) {
		return nil, failure.InvalidArgument("host", "a host name or IP address is required")
	}
	mode := cfg.TLS
	if mode == "" {
		mode = TLSStartTLS
	}
	port := cfg.Port
	switch mode {
	case TLSStartTLS:
		port = orDefault(port, 587)
	case TLSImplicit:
		port = orDefault(port, 465)
	case TLSNone:
		port = orDefault(port, 25)
		if !isLoopback(cfg.Host) {
			return nil, failure.InvalidArgument("tls", `"none" is allowed only for a loopback host; use "starttls" or "tls"`)
		}
	default:
		return nil, failure.InvalidArgument("tls", `the TLS mode is "starttls", "tls" or "none"`)
	}
	if port < 1 || port > 65535 {
		return nil, failure.InvalidArgument("port", "a port is between 1 and 65535")
	}
	switch {
	case strings.ContainsRune(cfg.Username, 0):
		return nil, failure.InvalidArgument("username", "the user name must not contain NUL")
	case strings.ContainsRune(cfg.Password, 0):
		return nil, failure.InvalidArgument("password", "the password must not contain NUL")
	case cfg.Username == "" && cfg.Password != "":
		return nil, failure.InvalidArgument("username", "a password needs a user name")
	case cfg.Timeout < 0:
		return nil, failure.InvalidArgument("timeout", "the timeout must not be negative")
	}
	from, err := parseSender(cfg.From)
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	return &SMTP{
		addr:     net.JoinHostPort(cfg.Host, fmt.Sprint(port)),
		host:     cfg.Host,
		mode:     mode,
		username: cfg.Username,
		password: cfg.Password,
		from:     from,
		tls:      &tls.Config{ServerName: cfg.Host, RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12},
		timeout:  timeout,
		now:      time.Now,
	}, nil
}

func orDefault(port, def int) int {
	if port == 0 {
		return def
	}
	return port
}

func validHost(host string) bool {
	return net.ParseIP(host) != nil || host != "" && !strings.ContainsAny(host, " \t\r\n/:[]@")
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Send delivers m by email. Invalid messages fail before connecting.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	to, err := checkEmail(m)
	if err != nil {
		return err
	}
	msg, err := composeEmail(s.from, to, m, s.now())
	if err != nil {
		return failure.Internal(err, "the email could not be composed")
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err = s.deliver(ctx, to, msg)
	if err != nil && ctx.Err() != nil {
		// The deadline or the caller's cancellation cut the exchange
		// short; say so rather than report an I/O timeout.
		var f *failure.Error
		if errors.As(err, &f) {
			f.Cause = fmt.Errorf("%w (%v)", ctx.Err(), f.Cause)
		}
	}
	return err
}

func (s *SMTP) deliver(ctx context.Context, to string, msg []byte) error {
	var conn net.Conn
	var err error
	dialer := &net.Dialer{}
	if s.mode == TLSImplicit {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: s.tls}).DialContext(ctx, "tcp", s.addr)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		return unavailable(err, "the mail server could not be reached")
	}
	// net/smtp knows no context: end any pending read or write when ctx is done.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		_ = conn.Close()
		return unavailable(err, "the mail server could not be reached")
	}
	defer func() { _ = c.Close() }()

	if s.mode == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return unavailable(errors.New("STARTTLS not advertised"), "the mail server does not offer STARTTLS; refusing to send in clear")
		}
		if err := c.StartTLS(s.tls); err != nil {
			return unavailable(err, "the TLS handshake with the mail server failed")
		}
	}
	if s.username != "" {
		ok, mechanisms := c.Extension("AUTH")
		if !ok || !slices.ContainsFunc(strings.Fields(mechanisms), func(m string) bool { return strings.EqualFold(m, "PLAIN") }) {
			return unavailable(fmt.Errorf("AUTH mechanisms offered: %q", mechanisms), "the mail server does not offer AUTH PLAIN")
		}
		// net/smtp's PlainAuth refuses to send the password without TLS,
		// except to localhost.
		if err := c.Auth(smtp.PlainAuth("", s.username, s.password, s.host)); err != nil {
			return unavailable(err, "the mail server refused the credentials")
		}
	}
	if !isASCII(to) {
		if ok, _ := c.Extension("SMTPUTF8"); !ok {
			return unavailable(errors.New("SMTPUTF8 not advertised"), "the mail server cannot deliver to an internationalized address")
		}
	}
	if err := c.Mail(s.from.address); err != nil {
		return unavailable(err, "the mail server refused the sender")
	}
	if err := c.Rcpt(to); err != nil {
		return unavailable(err, "the mail server refused the recipient")
	}
	w, err := c.Data()
	if err != nil {
		return unavailable(err, "the mail server refused the message")
	}
	if _, err := w.Write(msg); err != nil {
		return unavailable(err, "the message could not be transmitted")
	}
	if err := w.Close(); err != nil {
		return unavailable(err, "the mail server refused the message")
	}
	// The server has taken responsibility for the message; a failed QUIT
	// must not make the caller send it again.
	_ = c.Quit()
	return nil
}
