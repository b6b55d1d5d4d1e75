package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"
)

// Config holds every setting. Field tags are the single description of each
// setting; see the package documentation for their meaning.
type Config struct {
	Listen          string        `yaml:"listen" default:":8080" nonempty:"true" desc:"Address to serve HTTP/1.1, HTTP/2 over TLS and h2c on, as HOST:PORT or :PORT. With tls.cert_file and tls.key_file it serves HTTPS (HTTP/1.1 and HTTP/2); without them plain HTTP/1.1 and h2c."`
	ExternalURL     string        `yaml:"external_url" desc:"Public base URL of the server, used as the OpenID Connect issuer and in every link it sends. Must be an absolute http or https URL without query or fragment; a trailing slash is removed. Empty means http://localhost:PORT (https with TLS files) where PORT is the port of listen."`
	DataDir         string        `yaml:"data_dir" default:"castellan-data" nonempty:"true" desc:"Directory for the embedded SQLite database and generated keys. Created at first start."`
	Database        string        `yaml:"database" secret:"true" desc:"Where events and read models are stored. Empty means the embedded SQLite file castellan.db in data_dir; sqlite:PATH names another SQLite file; a postgres:// or postgresql:// URL selects PostgreSQL. The URL may contain a password, so the value is treated as a secret and printed only with the password hidden."`
	Log             Log           `yaml:"log"`
	TLS             TLS           `yaml:"tls"`
	MTLS            MTLS          `yaml:"mtls"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout" default:"30s" positive:"true" desc:"How long a graceful shutdown waits for requests in flight before closing connections."`
	Server          Server        `yaml:"server"`
	Keys            Keys          `yaml:"keys"`
	SigningKeys     SigningKeys   `yaml:"signing_keys"`
	FirstInstance   FirstInstance `yaml:"first_instance"`
	Passwords       Passwords     `yaml:"passwords"`
	Domains         Domains       `yaml:"domains"`
	Subscriptions   Subscriptions `yaml:"subscriptions"`
	Notify          Notify        `yaml:"notify"`
	Users           Users         `yaml:"users"`
	WebAuthn        WebAuthn      `yaml:"webauthn"`
	Audit           Audit         `yaml:"audit"`
}

// Audit sets how long events stay in the database and where archives of
// older ones go (docs/audit.md).
type Audit struct {
	Retention    time.Duration `yaml:"retention" default:"9504h" positive:"true" desc:"How long events stay in the database: castellan audit archive, and the daily archive when audit.archive_daily is on, move only events older than this into archive files. At least 24h; the default, 9504h (396 days), keeps 13 months."`
	ArchiveDir   string        `yaml:"archive_dir" desc:"Directory of the archive files (one gzip JSON Lines file per instance and archive, under a directory per instance). Empty means archive in data_dir."`
	ArchiveDaily bool          `yaml:"archive_daily" default:"false" desc:"Archive, once a day, every instance's events older than audit.retention. Off by default: events stay until castellan audit archive is run."`
}

// ArchiveDirectory returns where archives are written.
func (a Audit) ArchiveDirectory(dataDir string) string {
	if a.ArchiveDir != "" {
		return a.ArchiveDir
	}
	return filepath.Join(dataDir, "archive")
}

// Log configures the process log.
type Log struct {
	Level  string `yaml:"level" default:"info" oneof:"debug,info,warn,error" desc:"Least severe level of log records written."`
	Format string `yaml:"format" default:"text" oneof:"text,json" desc:"Format of log records on standard error: text (logfmt-like key=value) or json (one object per line)."`
}

// SlogLevel returns Level as a log/slog level. Level has been validated by
// [Load], so an unknown value cannot occur there; it maps to info.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// TLS names the certificate and key served on listen.
type TLS struct {
	CertFile string `yaml:"cert_file" desc:"PEM file with the TLS certificate chain. Set together with tls.key_file to serve HTTPS; both files must exist and form a key pair."`
	KeyFile  string `yaml:"key_file" desc:"PEM file with the TLS private key matching tls.cert_file."`
}

// MTLS configures where the TLS client certificates of certificate-bound
// OAuth clients (RFC 8705) come from: the main listener (which requests
// one when it serves TLS), a dedicated mTLS listener, or a header of a
// trusted reverse proxy that terminated TLS (see package server).
type MTLS struct {
	Listen            string   `yaml:"listen" desc:"Address (HOST:PORT or :PORT) of a dedicated mTLS listener for the OAuth endpoints, with the certificate of tls.cert_file: it requires a client certificate in the TLS handshake (verified per client by the provider, not by the listener) and is announced in the discovery document as mtls_endpoint_aliases. Needs tls.cert_file. Empty (the default) means none; the main listener still requests (never requires) a client certificate when it serves TLS."`
	ExternalURL       string   `yaml:"external_url" desc:"Public base URL of the mTLS listener, whose scheme and port each instance's mtls_endpoint_aliases take (like external_url for the issuer). Empty means https://localhost:PORT where PORT is the port of mtls.listen."`
	ProxyHeaderFormat string   `yaml:"proxy_header_format" default:"none" oneof:"none,nginx,envoy,traefik,haproxy,aws-alb,rfc9440" desc:"How a reverse proxy in front of Castellan forwards the client certificate it verified: nginx ($ssl_client_escaped_cert, URL-escaped PEM), envoy (x-forwarded-client-cert, its Cert or Chain field), traefik (X-Forwarded-Tls-Client-Cert, base64 DER), haproxy (base64 DER, %[ssl_c_der,base64]), aws-alb (X-Amzn-Mtls-Clientcert, URL-encoded PEM) or rfc9440 (Client-Cert, :base64 DER:). The header is believed only from mtls.trusted_proxies. none (the default) reads no header."`
	ProxyHeader       string   `yaml:"proxy_header" desc:"Name of the header the proxy sets. Empty means the format's usual one: X-SSL-Client-Cert for nginx and haproxy, X-Forwarded-Client-Cert for envoy, X-Forwarded-Tls-Client-Cert for traefik, X-Amzn-Mtls-Clientcert for aws-alb, Client-Cert for rfc9440."`
	TrustedProxies    []string `yaml:"trusted_proxies" desc:"Networks in CIDR notation (such as 10.0.0.0/8 or 127.0.0.1/32) of the reverse proxies whose certificate header is believed. The header from any other peer is ignored, logged and counted (castellan_client_certificate_headers_total with result untrusted_peer). Required with mtls.proxy_header_format. Comma-separated in the environment and flags."`
}

// TrustedProxyNetworks returns trusted_proxies parsed; [Load] has
// checked them.
func (s Server) TrustedProxyNetworks() []netip.Prefix { return parsePrefixes(s.TrustedProxies) }

// TrustedProxyNetworks returns trusted_proxies parsed; [Load] has
// validated them.
func (m MTLS) TrustedProxyNetworks() []netip.Prefix { return parsePrefixes(m.TrustedProxies) }

func parsePrefixes(list []string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// Server bounds what one client can hold of the HTTP listeners, and places
// the operational endpoints (see package server).
type Server struct {
	ReadHeaderTimeout   time.Duration `yaml:"read_header_timeout" default:"10s" positive:"true" desc:"How long a client may take to send a request's headers, from the start of the request (or of the TLS handshake). A client that sends them slowly (slowloris) is disconnected after this time. At most server.read_timeout."`
	ReadTimeout         time.Duration `yaml:"read_timeout" default:"30s" positive:"true" desc:"How long a client may take to send a whole request, headers and body. Bounds a client that trickles a request body; request messages are at most 4 MiB, so the default admits about 140 KB/s."`
	IdleTimeout         time.Duration `yaml:"idle_timeout" default:"2m" positive:"true" desc:"How long a keep-alive connection may stay open without a request before the server closes it."`
	MaxHeaderBytes      int           `yaml:"max_header_bytes" default:"65536" min:"4096" max:"1048576" desc:"Largest request header block, in bytes (request line and headers). Larger headers are answered 431 Request Header Fields Too Large."`
	MaxConnections      int           `yaml:"max_connections" default:"0" min:"0" max:"1000000" desc:"Most connections the main listener (and the mTLS listener, each) serves at once; 0 means 64 per CPU. Each connection costs the server memory whatever it sends, so the cap bounds what a flood of clients can grow the process by. Beyond it a new connection waits in the kernel's listen backlog until one closes; keep-alive connections idle for a second or more are closed to make room, the longest idle first. An HTTP/2 connection carries at most 128 requests at once. Raise it for many long-lived event streams (GET /v1/events:stream), each of which holds one connection."`
	LoginPostsPerClient int           `yaml:"login_posts_per_client" default:"60" min:"1" max:"1000000" desc:"Forms of the hosted login (sign-in, account, registration) one client address may post per minute on one replica; beyond them the login answers Too many attempts. Raise it for many people behind one address (a company's NAT, a test suite on loopback); lockout after wrong passwords counts per account regardless."`
	TrustedProxies      []string      `yaml:"trusted_proxies" desc:"Networks in CIDR notation (such as 10.0.0.0/8 or 127.0.0.1/32) of the reverse proxies in front of Castellan whose Forwarded or X-Forwarded-For header names the client's address. That address is what rate limits count, sessions show and the audit trail records (editorAddress); it is the nearest forwarded address that is not itself a trusted proxy. From any other peer the headers are ignored. Empty (the default) means the TCP peer is the client. Comma-separated in the environment and flags."`
	ManagementListen    string        `yaml:"management_listen" desc:"Address (HOST:PORT or :PORT) of a separate plain-HTTP management listener serving /metrics, /healthz and /readyz, for Prometheus and orchestrators inside a private network. When set, the main listener no longer serves /metrics. Empty (the default) means no management listener; /metrics is then served on the main listener only to requests from a loopback address that were not forwarded by a proxy (no Forwarded, X-Forwarded-For or X-Real-IP header), so that metrics are not published to the internet by default."`
}

// Keys are the keys that encrypt secrets at rest (see package keyring).
type Keys struct {
	Master  string   `yaml:"master" secret:"true" desc:"Current key for encryption at rest, as ID:BASE64 (an ID of 1 to 32 characters from A-Z a-z 0-9 _ -, a colon, and 32 random bytes in standard base64). Empty means a key generated at first start and kept in data_dir. To rotate, set a new key here and move the previous one to keys.retired."`
	Retired []string `yaml:"retired" secret:"true" desc:"Previous master keys, in the same ID:BASE64 form, kept to decrypt data sealed before a rotation. Comma-separated in the environment and flags."`
}

// SigningKeys schedules the rotation of the OpenID provider's token
// signing keys ("web keys", package token).
type SigningKeys struct {
	Lifetime    time.Duration `yaml:"lifetime" default:"2160h" positive:"true" desc:"How long a current signing key signs before the next key (published since the last rotation) takes over, checked every few minutes. At least 24h. Rotating by hand (InstanceService.RotateSigningKeys) is always possible."`
	RetiredKept time.Duration `yaml:"retired_kept" default:"720h" positive:"true" desc:"How long a retired signing key stays published in the JWKS after a rotation, so that tokens it signed still verify: longer than the longest access or ID token lifetime of any application or settings. At least 24h."`
}

// FirstInstance describes the instance created when the database is empty.
// Later starts ignore it.
type FirstInstance struct {
	Domain  string     `yaml:"domain" desc:"Domain of the instance created at first start. Empty means the host of external_url, without port."`
	Name    string     `yaml:"name" default:"Castellan" nonempty:"true" desc:"Display name of the instance created at first start."`
	OrgName string     `yaml:"org_name" default:"Castellan" nonempty:"true" desc:"Name of the first organization, which owns the first administrator."`
	Admin   FirstAdmin `yaml:"admin"`
}

// FirstAdmin describes the administrator created with the first instance.
type FirstAdmin struct {
	LoginName string `yaml:"login_name" default:"admin" nonempty:"true" desc:"Login name of the first administrator."`
	Email     string `yaml:"email" desc:"Email address of the first administrator. Optional."`
	Password  string `yaml:"password" secret:"true" desc:"Initial password of the first administrator. Empty means a random password generated at first start and printed once on standard error."`
}

// Passwords configures password hashing.
type Passwords struct {
	Argon2id      Argon2id      `yaml:"argon2id"`
	MaxConcurrent int           `yaml:"max_concurrent" default:"0" min:"0" desc:"Most password hashes computed at once; further logins wait. Bounds memory use to about this many times passwords.argon2id.memory_kib. 0 means the number of CPUs."`
	Queue         int           `yaml:"queue" default:"64" min:"0" desc:"Most password checks waiting for one of the passwords.max_concurrent slots; beyond it a check is refused at once with 503 and Retry-After, so that a storm of sign-ins cannot pile up."`
	QueueTimeout  time.Duration `yaml:"queue_timeout" default:"5s" positive:"true" desc:"Longest a password check waits for a slot before it is refused with 503 and Retry-After."`
	Isolated      bool          `yaml:"isolated" default:"true" desc:"Compute argon2id hashes in helper processes of the same binary (at most passwords.max_concurrent, started on demand, stopped after 10 s without a hash), so that a hash's memory never enters the server's heap and sign-ins need no garbage collection of it. false computes them in the server's process, for platforms that do not let a process start another."`
}

// Argon2id holds the Argon2id cost parameters for new password hashes
// (RFC 9106). Existing hashes keep the parameters they were made with. The
// defaults are the OWASP Password Storage Cheat Sheet minimums.
type Argon2id struct {
	MemoryKiB   uint32 `yaml:"memory_kib" default:"19456" min:"8192" max:"262144" desc:"Memory per hash, in KiB. The maximum is the most Castellan verifies in any stored hash."`
	Iterations  uint32 `yaml:"iterations" default:"2" min:"1" max:"10" desc:"Passes over the memory per hash. The maximum is the most Castellan verifies in any stored hash."`
	Parallelism uint8  `yaml:"parallelism" default:"1" min:"1" max:"16" desc:"Lanes (threads) per hash. The maximum is the most Castellan verifies in any stored hash."`
}

// Domains configures how organizations prove their domains.
type Domains struct {
	VerificationAllowedNetworks []string `yaml:"verification_allowed_networks" desc:"Networks in CIDR notation (such as 10.20.0.0/16 or fd00::/8) that HTTP domain verification may connect to although they are not public. Otherwise it connects only to public addresses: loopback, private, link-local, unique-local, multicast, unspecified and other special-purpose addresses are refused, so that an organization cannot point a domain inside Castellan's network and make Castellan fetch from there. Empty (the default) allows public addresses only; meant for tests and closed networks. Comma-separated in the environment and flags."`
}

// VerificationNetworks returns verification_allowed_networks parsed;
// [Load] has validated them.
func (d Domains) VerificationNetworks() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range d.VerificationAllowedNetworks {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// Notify configures how Castellan reaches users: email through an SMTP
// server, text messages through an HTTP gateway. Without them, sending a
// verification code fails with "unavailable".
type Notify struct {
	SMTP SMTPNotify `yaml:"smtp"`
	SMS  SMSNotify  `yaml:"sms"`
}

// SMTPNotify is the SMTP submission server email goes through.
type SMTPNotify struct {
	Host     string `yaml:"host" desc:"SMTP server for email (verification codes). Empty disables email."`
	Port     int    `yaml:"port" default:"0" min:"0" max:"65535" desc:"SMTP port; 0 means 587 for starttls, 465 for tls, 25 for none."`
	Username string `yaml:"username" desc:"SMTP user for AUTH PLAIN; empty skips authentication."`
	Password string `yaml:"password" secret:"true" desc:"SMTP password."`
	From     string `yaml:"from" desc:"Sender of email, as \"Name <address>\" or an address. Required with notify.smtp.host."`
	TLS      string `yaml:"tls" default:"starttls" oneof:"starttls,tls,none" desc:"starttls (required STARTTLS), tls (implicit TLS) or none (clear text, only to a loopback host)."`
}

// SMSNotify is the HTTP gateway text messages go through.
type SMSNotify struct {
	WebhookURL    string `yaml:"webhook_url" desc:"URL that receives a signed POST {\"to\", \"text\"} per text message (Standard Webhooks). Empty disables SMS."`
	WebhookSecret string `yaml:"webhook_secret" secret:"true" desc:"Secret that signs the SMS webhook requests: at least 24 characters."`
}

// Users configures the rules for user accounts.
type Users struct {
	AllowMixedScriptLoginNames bool `yaml:"allow_mixed_script_login_names" default:"false" desc:"Accept new login names that mix scripts in a way that can impersonate another name, such as admin written with a Cyrillic a. By default a login name's characters must come from one script (or Latin with Han, Hiragana, Katakana, Bopomofo or Hangul), separately before and after the last @ (Unicode UTS #39, highly restrictive); names already stored are not affected."`
}

// WebAuthn configures security keys and passkeys.
type WebAuthn struct {
	Attestation string `yaml:"attestation" default:"none" oneof:"none,indirect,direct,enterprise" desc:"Attestation conveyance asked for when a user registers a security key or passkey. none (the default) asks for no statement about the authenticator's make, which most passkey providers do not give anyway; the others ask for one, which is checked but not trusted against any metadata (no FIDO metadata service is configured), so it identifies the model only as far as the authenticator is honest."`
}

// Subscriptions configures asynchronous event subscribers.
type Subscriptions struct {
	PollInterval time.Duration `yaml:"poll_interval" default:"1s" positive:"true" desc:"How often asynchronous subscribers poll for new events."`
}

// Names the loader treats specially; see [LoadWithArgs].
const (
	configFlag    = "config"
	configEnv     = envPrefix + "CONFIG"
	testEnvPrefix = envPrefix + "TEST_"
	// The API client commands (castellan orgs, users, …) read these; they
	// are not server settings.
	clientURLEnv    = envPrefix + "URL"
	clientTokenEnv  = envPrefix + "TOKEN"
	clientHostEnv   = envPrefix + "HOST"
	envPrefix       = "CASTELLAN_"
	defaultSource   = "default"
	configFlagUsage = "YAML file with settings."
)

// Load reads the settings. args are the command's flags (os.Args[2:] for
// `castellan start`), lookupEnv is os.LookupEnv in production. Positional
// arguments are rejected. With -h or --help it returns [flag.ErrHelp]; the
// caller then prints [FlagUsage].
func Load(args []string, lookupEnv func(string) (string, bool)) (*Config, error) {
	c, rest, err := LoadWithArgs(args, lookupEnv)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("config: unexpected argument %q: this command takes only flags", rest[0])
	}
	return c, nil
}

// LoadWithArgs is [Load] for commands that take positional arguments after
// their flags (`castellan projections rebuild NAME`); it returns them.
// As with the flag package, flags come first: everything from the first
// non-flag argument, or after "--", is returned as is.
//
// The YAML file is named by --config or CASTELLAN_CONFIG. Environment
// variables are read only through lookupEnv; but since a lookup function
// cannot list names, the CASTELLAN_ variables to check for typos are found in
// the process environment (os.Environ) and rejected only if lookupEnv also
// reports them set. CASTELLAN_CONFIG, the API client's CASTELLAN_URL,
// CASTELLAN_TOKEN and CASTELLAN_HOST, and names starting with
// CASTELLAN_TEST_ are allowed.
func LoadWithArgs(args []string, lookupEnv func(string) (string, bool)) (*Config, []string, error) {
	l := &loader{sources: make(map[*setting]string)}

	fs := flag.NewFlagSet("castellan", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var configPath string
	var configPathSet bool
	fs.Func(configFlag, configFlagUsage, func(v string) error {
		configPath, configPathSet = v, true
		return nil
	})
	type flagValue struct {
		s   *setting
		raw string
	}
	var flagValues []flagValue
	for _, s := range settings {
		// Values are parsed after the file and environment, by the loader,
		// so that errors have our wording and never quote secrets.
		register := fs.Func
		if s.kind == kindBool {
			register = fs.BoolFunc // --flag alone is --flag=true
		}
		register(s.flag, s.summary(), func(v string) error {
			flagValues = append(flagValues, flagValue{s, v})
			return nil
		})
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, flag.ErrHelp
		}
		return nil, nil, fmt.Errorf("config: %w", err)
	}

	c := &Config{}
	for _, s := range settings {
		s.field(c).Set(s.defaultValue)
		l.sources[s] = defaultSource
	}

	if !configPathSet {
		configPath, _ = lookupEnv(configEnv)
	}
	if configPath != "" {
		if err := l.applyFile(c, configPath); err != nil {
			return nil, nil, err
		}
	}

	for _, s := range settings {
		if v, ok := lookupEnv(s.env); ok {
			l.set(c, s, v, s.env)
		}
	}
	l.checkUnknownEnv(lookupEnv)

	appended := make(map[*setting]bool)
	for _, fv := range flagValues {
		source := "--" + fv.s.flag
		if fv.s.kind == kindList && appended[fv.s] {
			// A repeated list flag adds to the list instead of replacing it.
			if v, ok := l.parse(fv.s, fv.raw, source); ok {
				f := fv.s.field(c)
				f.Set(reflect.AppendSlice(f, v))
			}
			continue
		}
		l.set(c, fv.s, fv.raw, source)
		appended[fv.s] = true
	}
	// Validation runs even when some values did not parse (those keep their
	// defaults), so that one run reports every mistake at once.
	l.validate(c)
	if err := l.err(); err != nil {
		return nil, nil, err
	}
	return c, fs.Args(), nil
}

// loader accumulates where each value came from and every problem found, so
// that one run reports all mistakes at once.
type loader struct {
	sources map[*setting]string
	errs    []error
}

// set parses raw as the value of s and records its source.
func (l *loader) set(c *Config, s *setting, raw, source string) {
	v, ok := l.parse(s, raw, source)
	if !ok {
		return
	}
	s.field(c).Set(v)
	l.sources[s] = source
}

func (l *loader) parse(s *setting, raw, source string) (reflect.Value, bool) {
	v, err := s.parse(raw)
	if err != nil {
		l.errs = append(l.errs, &settingError{key: s.key, source: source, msg: err.Error()})
		return reflect.Value{}, false
	}
	return v, true
}

// fail records a problem with the setting stored in field, a pointer into c.
func (l *loader) fail(c *Config, field any, format string, args ...any) {
	s := settingOf(c, field)
	l.errs = append(l.errs, &settingError{key: s.key, source: l.sources[s], msg: fmt.Sprintf(format, args...)})
}

// describe returns "key (from source)" for the setting stored in field, to
// mention a second setting in an error about another.
func (l *loader) describe(c *Config, field any) string {
	s := settingOf(c, field)
	return fmt.Sprintf("%s (from %s)", s.key, l.sources[s])
}

func (l *loader) err() error {
	return errors.Join(l.errs...)
}

func (l *loader) checkUnknownEnv(lookupEnv func(string) (string, bool)) {
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || name == configEnv || name == clientURLEnv || name == clientTokenEnv || name == clientHostEnv || strings.HasPrefix(name, testEnvPrefix) {
			continue
		}
		if _, known := settingsByEnv[name]; known {
			continue
		}
		if _, set := lookupEnv(name); set {
			l.errs = append(l.errs, fmt.Errorf("config: environment variable %s matches no setting (see docs/configuration.md)", name))
		}
	}
}

// settingError is a problem with one setting's value.
type settingError struct {
	key, source, msg string
}

func (e *settingError) Error() string {
	return fmt.Sprintf("config: %s (from %s): %s", e.key, e.source, e.msg)
}
