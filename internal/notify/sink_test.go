package notify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// The credentials the sink accepts.
const (
	sinkUser     = "mailer"
	sinkPassword = "s3cret-Pa55word"
)

// sinkMail is a message the sink accepted.
type sinkMail struct {
	from, to string
	data     []byte
	tls      bool
	user     string
}

// sinkOptions chooses how the sink's server behaves.
type sinkOptions struct {
	startTLS    bool // advertise STARTTLS
	implicitTLS bool // speak TLS from the first byte
	smtpUTF8    bool // advertise SMTPUTF8
	// insecureAuth offers AUTH on a plain connection, as a careless server
	// would; the client must still not send the password.
	insecureAuth bool
}

// mailSink is a real SMTP server (github.com/emersion/go-smtp) on
// 127.0.0.1 that requires AUTH PLAIN and records what it accepts.
type mailSink struct {
	port    int
	roots   *x509.CertPool
	accepts atomic.Int32 // TCP connections
	auths   atomic.Int32 // AUTH attempts

	mu    sync.Mutex
	mails []sinkMail
}

func startSink(t *testing.T, opts sinkOptions) *mailSink {
	t.Helper()
	cert, roots := selfSignedCertificate(t)
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}}
	sink := &mailSink{roots: roots}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &sinkSession{sink: sink, conn: c}, nil
	}))
	srv.Domain = "sink.test"
	srv.ErrorLog = log.New(io.Discard, "", 0) // clients that hang up early are expected here
	srv.AllowInsecureAuth = opts.insecureAuth
	srv.EnableSMTPUTF8 = opts.smtpUTF8
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	var l net.Listener
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink.port = l.Addr().(*net.TCPAddr).Port
	l = &countingListener{Listener: l, n: &sink.accepts}
	switch {
	case opts.implicitTLS:
		l = tls.NewListener(l, tlsConfig)
	case opts.startTLS:
		srv.TLSConfig = tlsConfig
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			t.Errorf("smtp sink: %v", err)
		}
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		_ = l.Close() // Close misses a listener that Serve has not yet registered
		<-done
	})
	return sink
}

func (s *mailSink) config(mode string) SMTPConfig {
	return SMTPConfig{
		Host:     "127.0.0.1",
		Port:     s.port,
		Username: sinkUser,
		Password: sinkPassword,
		From:     "Castellan <noreply@castellan.test>",
		TLS:      mode,
		RootCAs:  s.roots,
		Timeout:  10 * time.Second,
	}
}

func (s *mailSink) received() []sinkMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkMail(nil), s.mails...)
}

type countingListener struct {
	net.Listener
	n *atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

type sinkSession struct {
	sink     *mailSink
	conn     *smtp.Conn
	user     string
	from, to string
}

func (s *sinkSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *sinkSession) Auth(mech string) (sasl.Server, error) {
	s.sink.auths.Add(1)
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username || username != sinkUser || password != sinkPassword {
			return errors.New("invalid credentials")
		}
		s.user = username
		return nil
	}), nil
}

func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.to != "" {
		return errors.New("one recipient per message")
	}
	s.to = to
	return nil
}

func (s *sinkSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.sink.mu.Lock()
	defer s.sink.mu.Unlock()
	s.sink.mails = append(s.sink.mails, sinkMail{from: s.from, to: s.to, data: data, tls: isTLS, user: s.user})
	return nil
}

func (s *sinkSession) Reset()        { s.from, s.to = "", "" }
func (s *sinkSession) Logout() error { return nil }

// selfSignedCertificate returns a certificate for 127.0.0.1 and localhost,
// and a pool that trusts it.
func selfSignedCertificate(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sink.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
