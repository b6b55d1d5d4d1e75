package config

import (
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/keyring"
)

// validate checks every setting and fills in derived values. Rules that a
// tag can state are in the tags; this holds the rest.
func (l *loader) validate(c *Config) {
	for _, s := range settings {
		l.checkTags(c, s)
	}
	port, portOK := l.checkListen(c)
	l.checkServer(c)
	l.checkSigningKeys(c)
	if c.Audit.Retention > 0 && c.Audit.Retention < 24*time.Hour {
		l.fail(c, &c.Audit.Retention, "must be at least 24h, got %s", c.Audit.Retention)
	}
	l.checkTLS(c)
	l.deriveExternalURL(c, port, portOK)
	l.checkDatabase(c)
	l.checkKeys(c)
	l.deriveDomain(c)
	l.checkEmail(c)
	l.checkNotify(c)
	l.checkDomains(c)
	l.checkMTLS(c)
	if c.Passwords.MaxConcurrent == 0 {
		c.Passwords.MaxConcurrent = runtime.NumCPU()
	}
	if c.Server.MaxConnections == 0 {
		c.Server.MaxConnections = ConnectionsPerCPU * runtime.NumCPU()
	}
}

// ConnectionsPerCPU is server.max_connections' default per CPU.
const ConnectionsPerCPU = 64

// checkListen returns the port of listen.
func (l *loader) checkListen(c *Config) (port string, ok bool) {
	if c.Listen == "" {
		return "", false // already reported as empty
	}
	_, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		l.fail(c, &c.Listen, "must be HOST:PORT or :PORT, got %q", c.Listen)
		return "", false
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		l.fail(c, &c.Listen, "port must be a number from 0 to 65535, got %q", port)
		return "", false
	}
	return port, true
}

// checkSigningKeys checks the signing keys' schedule: a key retired too
// soon would leave tokens it signed unverifiable.
func (l *loader) checkSigningKeys(c *Config) {
	k := &c.SigningKeys
	if k.Lifetime > 0 && k.Lifetime < 24*time.Hour {
		l.fail(c, &k.Lifetime, "must be at least 24h, got %s", k.Lifetime)
	}
	if k.RetiredKept > 0 && k.RetiredKept < 24*time.Hour {
		l.fail(c, &k.RetiredKept, "must be at least 24h, got %s", k.RetiredKept)
	}
}

// checkServer checks the listener limits and the management listener.
func (l *loader) checkServer(c *Config) {
	srv := &c.Server
	if srv.ReadHeaderTimeout > srv.ReadTimeout && srv.ReadTimeout > 0 {
		l.fail(c, &srv.ReadHeaderTimeout, "must not exceed %s, got %s", l.describe(c, &srv.ReadTimeout), srv.ReadHeaderTimeout)
	}
	if srv.ManagementListen == "" {
		return
	}
	_, port, err := net.SplitHostPort(srv.ManagementListen)
	if err != nil {
		l.fail(c, &srv.ManagementListen, "must be HOST:PORT or :PORT, got %q", srv.ManagementListen)
		return
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		l.fail(c, &srv.ManagementListen, "port must be a number from 0 to 65535, got %q", port)
		return
	}
	if srv.ManagementListen == c.Listen && port != "0" {
		l.fail(c, &srv.ManagementListen, "must differ from %s", l.describe(c, &c.Listen))
	}
}

func (l *loader) checkTLS(c *Config) {
	cert, key := c.TLS.CertFile, c.TLS.KeyFile
	switch {
	case cert == "" && key == "":
	case cert == "":
		l.fail(c, &c.TLS.CertFile, "must be set when %s is set", l.describe(c, &c.TLS.KeyFile))
	case key == "":
		l.fail(c, &c.TLS.KeyFile, "must be set when %s is set", l.describe(c, &c.TLS.CertFile))
	default:
		if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
			// The error names files and PEM problems, never key material.
			l.fail(c, &c.TLS.CertFile, "cannot load the key pair with %s: %v", l.describe(c, &c.TLS.KeyFile), err)
		}
	}
}

func (l *loader) tlsEnabled(c *Config) bool {
	return c.TLS.CertFile != "" && c.TLS.KeyFile != ""
}

// deriveExternalURL checks external_url, or derives it from listen.
func (l *loader) deriveExternalURL(c *Config, port string, portOK bool) {
	if c.ExternalURL == "" {
		if !portOK {
			return // listen is already reported
		}
		if port == "0" {
			l.fail(c, &c.ExternalURL, "must be set when %s uses port 0 (any free port)", l.describe(c, &c.Listen))
			return
		}
		scheme := "http"
		if l.tlsEnabled(c) {
			scheme = "https"
		}
		c.ExternalURL = scheme + "://localhost:" + port
		return
	}
	raw := c.ExternalURL
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		l.fail(c, &c.ExternalURL, "is not a URL: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		l.fail(c, &c.ExternalURL, "must be an absolute http or https URL, got %q", raw)
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		l.fail(c, &c.ExternalURL, "must have a host, as in https://id.example.com, got %q", raw)
	case u.User != nil:
		l.fail(c, &c.ExternalURL, "must not contain user information, got %q", raw)
	case u.RawQuery != "" || u.ForceQuery || strings.Contains(raw, "?"):
		l.fail(c, &c.ExternalURL, "must not have a query, got %q", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		l.fail(c, &c.ExternalURL, "must not have a fragment, got %q", raw)
	default:
		c.ExternalURL = strings.TrimRight(raw, "/")
	}
}

// checkDatabase accepts the forms documented on Config.Database. Messages
// never include the value: a URL may carry a password anywhere in it.
func (l *loader) checkDatabase(c *Config) {
	db := c.Database
	switch {
	case db == "":
	case strings.HasPrefix(db, sqlitePrefix):
		if strings.TrimPrefix(db, sqlitePrefix) == "" {
			l.fail(c, &c.Database, "sqlite: must be followed by the path of the database file")
		}
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		u, err := url.Parse(db)
		if err != nil {
			l.fail(c, &c.Database, "is not a valid URL (the value is not shown because it may contain a password)")
			return
		}
		if u.Fragment != "" {
			l.fail(c, &c.Database, "a PostgreSQL URL must not have a fragment")
		}
	default:
		l.fail(c, &c.Database, "must be empty (embedded SQLite in data_dir), sqlite:PATH, or a postgres:// or postgresql:// URL (the value is not shown because it may contain a password)")
	}
}

// checkKeys parses the master and retired keys. keyring's errors never
// contain secrets.
func (l *loader) checkKeys(c *Config) {
	ids := make(map[string]string) // key ID -> where it was seen
	if c.Keys.Master != "" {
		k, err := keyring.ParseKey(c.Keys.Master)
		if err != nil {
			l.fail(c, &c.Keys.Master, "%s", strings.TrimPrefix(err.Error(), "keyring: "))
		} else {
			ids[k.ID] = settingOf(c, &c.Keys.Master).key
		}
	}
	for i, text := range c.Keys.Retired {
		k, err := keyring.ParseKey(text)
		if err != nil {
			l.fail(c, &c.Keys.Retired, "entry %d: %s", i+1, strings.TrimPrefix(err.Error(), "keyring: "))
			continue
		}
		where := settingOf(c, &c.Keys.Retired).key + " entry " + strconv.Itoa(i+1)
		if prev, dup := ids[k.ID]; dup {
			l.fail(c, &c.Keys.Retired, "entry %d: key id %s is already used by %s; every key needs its own id", i+1, k.ID, prev)
			continue
		}
		ids[k.ID] = where
	}
}

// deriveDomain checks first_instance.domain, or derives it from external_url.
func (l *loader) deriveDomain(c *Config) {
	if c.FirstInstance.Domain == "" {
		if u, err := url.Parse(c.ExternalURL); err == nil && c.ExternalURL != "" {
			c.FirstInstance.Domain = strings.ToLower(u.Hostname())
		}
		return
	}
	d := strings.ToLower(strings.TrimSuffix(c.FirstInstance.Domain, "."))
	if net.ParseIP(d) == nil && !isHostname(d) {
		l.fail(c, &c.FirstInstance.Domain, "must be a host name such as id.example.com (no scheme, port or path), got %q", c.FirstInstance.Domain)
		return
	}
	c.FirstInstance.Domain = d
}

// isHostname reports whether s is a DNS name of letters, digits and hyphens
// (RFC 1123 section 2.1), in labels of at most 63 characters.
func isHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			b := label[i]
			if !('a' <= b && b <= 'z' || '0' <= b && b <= '9' || b == '-') {
				return false
			}
		}
	}
	return true
}

func (l *loader) checkEmail(c *Config) {
	email := c.FirstInstance.Admin.Email
	if email == "" {
		return
	}
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") || strings.ContainsAny(email, " \t\r\n") {
		l.fail(c, &c.FirstInstance.Admin.Email, "must be an email address with one @, got %q", email)
	}
}

// checkNotify checks that an enabled provider is complete; the providers
// themselves (package notify) check the values when Castellan starts.
func (l *loader) checkNotify(c *Config) {
	smtp, sms := &c.Notify.SMTP, &c.Notify.SMS
	if smtp.Host != "" && smtp.From == "" {
		l.fail(c, &smtp.From, "must be set when %s is set", l.describe(c, &smtp.Host))
	}
	if sms.WebhookURL != "" && len(sms.WebhookSecret) < 24 {
		l.fail(c, &sms.WebhookSecret, "must be at least 24 characters when %s is set", l.describe(c, &sms.WebhookURL))
	}
}

// checkDomains checks that the networks domain verification may reach are
// CIDR prefixes.
func (l *loader) checkDomains(c *Config) {
	for _, s := range c.Domains.VerificationAllowedNetworks {
		if _, err := netip.ParsePrefix(s); err != nil {
			l.fail(c, &c.Domains.VerificationAllowedNetworks, "must be networks in CIDR notation such as 10.20.0.0/16 or 127.0.0.1/32, got %q", s)
		}
	}
}

// checkNetworks checks a list of networks in CIDR notation.
func (l *loader) checkNetworks(c *Config, list *[]string) {
	for _, s := range *list {
		if _, err := netip.ParsePrefix(s); err != nil {
			l.fail(c, list, "must be networks in CIDR notation such as 10.0.0.0/8 or 127.0.0.1/32, got %q", s)
		}
	}
}

func (l *loader) checkMTLS(c *Config) {
	m := &c.MTLS
	l.checkNetworks(c, &m.TrustedProxies)
	l.checkNetworks(c, &c.Server.TrustedProxies)
	if m.ProxyHeaderFormat != "none" && len(m.TrustedProxies) == 0 {
		l.fail(c, &m.TrustedProxies, "must name the proxies whose header is believed when %s is set", l.describe(c, &m.ProxyHeaderFormat))
	}
	if m.ProxyHeader != "" && (strings.ContainsAny(m.ProxyHeader, " :\t\r\n") || len(m.ProxyHeader) > 100) {
		l.fail(c, &m.ProxyHeader, "must be a header name, got %q", m.ProxyHeader)
	}
	if m.Listen == "" {
		if m.ExternalURL != "" {
			l.fail(c, &m.ExternalURL, "is for %s, which is not set", l.describe(c, &m.Listen))
		}
		return
	}
	_, port, err := net.SplitHostPort(m.Listen)
	if err != nil {
		l.fail(c, &m.Listen, "must be HOST:PORT or :PORT, got %q", m.Listen)
		return
	}
	if !l.tlsEnabled(c) {
		l.fail(c, &m.Listen, "needs %s and tls.key_file: the mTLS listener serves TLS", l.describe(c, &c.TLS.CertFile))
	}
	if m.Listen == c.Listen || m.Listen == c.Server.ManagementListen {
		l.fail(c, &m.Listen, "must differ from %s and server.management_listen", l.describe(c, &c.Listen))
	}
	if m.ExternalURL == "" {
		if port == "0" {
			l.fail(c, &m.ExternalURL, "must be set when %s uses port 0 (any free port)", l.describe(c, &m.Listen))
			return
		}
		m.ExternalURL = "https://localhost:" + port
		return
	}
	u, err := url.Parse(m.ExternalURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		l.fail(c, &m.ExternalURL, "must be an https URL without path, query or fragment, got %q", m.ExternalURL)
		return
	}
	m.ExternalURL = strings.TrimSuffix(m.ExternalURL, "/")
}
