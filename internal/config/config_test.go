package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/keyring"
)

// env returns a lookup function over vars, standing in for os.LookupEnv.
func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// writeConfig writes content to a YAML file in a fresh directory.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "castellan.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func testKey(t *testing.T, id string, fill byte) string {
	t.Helper()
	secret := make([]byte, keyring.SecretSize)
	for i := range secret {
		secret[i] = fill
	}
	return keyring.Key{ID: id, Secret: secret}.String()
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Listen:          ":8080",
		ExternalURL:     "http://localhost:8080",
		DataDir:         "castellan-data",
		Log:             Log{Level: "info", Format: "text"},
		ShutdownTimeout: 30 * time.Second,
		Server:          Server{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10, MaxConnections: ConnectionsPerCPU * runtime.NumCPU(), LoginPostsPerClient: 60},
		SigningKeys:     SigningKeys{Lifetime: 90 * 24 * time.Hour, RetiredKept: 30 * 24 * time.Hour},
		FirstInstance: FirstInstance{
			Domain:  "localhost",
			Name:    "Castellan",
			OrgName: "Castellan",
			Admin:   FirstAdmin{LoginName: "admin"},
		},
		Passwords: Passwords{
			Argon2id:      Argon2id{MemoryKiB: 19456, Iterations: 2, Parallelism: 1},
			MaxConcurrent: runtime.NumCPU(), Queue: 64, QueueTimeout: 5 * time.Second, Isolated: true,
		},
		Subscriptions: Subscriptions{PollInterval: time.Second},
		Notify:        Notify{SMTP: SMTPNotify{TLS: "starttls"}},
		WebAuthn:      WebAuthn{Attestation: "none"},
		Audit:         Audit{Retention: 9504 * time.Hour},
		MTLS:          MTLS{ProxyHeaderFormat: "none"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
	if c.DatabaseKind() != DatabaseSQLite || c.SQLitePath() != filepath.Join("castellan-data", "castellan.db") {
		t.Errorf("default database: kind %q, path %q", c.DatabaseKind(), c.SQLitePath())
	}
}

func TestNamesDeriveFromKeys(t *testing.T) {
	tests := []struct {
		key, env, flag string
	}{
		{"listen", "CASTELLAN_LISTEN", "listen"},
		{"external_url", "CASTELLAN_EXTERNAL_URL", "external-url"},
		{"log.level", "CASTELLAN_LOG_LEVEL", "log-level"},
		{"first_instance.admin.password", "CASTELLAN_FIRST_INSTANCE_ADMIN_PASSWORD", "first-instance-admin-password"},
		{"passwords.argon2id.memory_kib", "CASTELLAN_PASSWORDS_ARGON2ID_MEMORY_KIB", "passwords-argon2id-memory-kib"},
		{"subscriptions.poll_interval", "CASTELLAN_SUBSCRIPTIONS_POLL_INTERVAL", "subscriptions-poll-interval"},
		{"server.management_listen", "CASTELLAN_SERVER_MANAGEMENT_LISTEN", "server-management-listen"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			s := settingsByKey[tt.key]
			if s == nil {
				t.Fatalf("no setting %q", tt.key)
			}
			if s.env != tt.env || s.flag != tt.flag {
				t.Errorf("env %q flag %q, want %q %q", s.env, s.flag, tt.env, tt.flag)
			}
		})
	}
	if len(settings) != 54 {
		t.Errorf("%d settings, want 54: update this test and the docs when adding one", len(settings))
	}
}

func TestLoadPrecedence(t *testing.T) {
	file := writeConfig(t, "log:\n  level: warn\nshutdown_timeout: 10s\n")
	otherFile := writeConfig(t, "log:\n  level: error\n")
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		wantLevel string
		wantWait  time.Duration
	}{
		{name: "ok/default without file", wantLevel: "info", wantWait: 30 * time.Second},
		{name: "ok/file overrides default", args: []string{"--config", file}, wantLevel: "warn", wantWait: 10 * time.Second},
		{name: "ok/file named by the environment", env: map[string]string{"CASTELLAN_CONFIG": file}, wantLevel: "warn", wantWait: 10 * time.Second},
		{name: "ok/config flag overrides CASTELLAN_CONFIG", args: []string{"--config", otherFile}, env: map[string]string{"CASTELLAN_CONFIG": file}, wantLevel: "error", wantWait: 30 * time.Second},
		{name: "ok/environment overrides file", args: []string{"--config", file}, env: map[string]string{"CASTELLAN_LOG_LEVEL": "debug"}, wantLevel: "debug", wantWait: 10 * time.Second},
		{name: "ok/flag overrides environment and file", args: []string{"--config", file, "--log-level", "error", "-shutdown-timeout=1m"}, env: map[string]string{"CASTELLAN_LOG_LEVEL": "debug"}, wantLevel: "error", wantWait: time.Minute},
		{name: "ok/empty environment value overrides file", args: []string{"--config", file}, env: map[string]string{"CASTELLAN_FIRST_INSTANCE_ADMIN_EMAIL": ""}, wantLevel: "warn", wantWait: 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.args, env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.Log.Level != tt.wantLevel || c.ShutdownTimeout != tt.wantWait {
				t.Errorf("log.level %q shutdown_timeout %v, want %q %v", c.Log.Level, c.ShutdownTimeout, tt.wantLevel, tt.wantWait)
			}
		})
	}
}

func TestLoadValues(t *testing.T) {
	k1, k2, k3 := testKey(t, "k1", 1), testKey(t, "k2", 2), testKey(t, "k3", 3)
	tests := []struct {
		name  string
		file  string
		env   map[string]string
		args  []string
		check func(t *testing.T, c *Config)
	}{
		{
			name: "ok/every section from the file",
			file: `
listen: 127.0.0.1:9000
external_url: https://id.example.com/
data_dir: /var/lib/castellan
database: postgres://castellan:pw@db:5432/castellan?sslmode=disable
log: {level: debug, format: json}
shutdown_timeout: 5s
server: {read_header_timeout: 2s, read_timeout: 1m, idle_timeout: 30s, max_header_bytes: 8192, max_connections: 300, management_listen: 127.0.0.1:9090}
keys:
  master: ` + k1 + `
  retired:
    - ` + k2 + `
    - ` + k3 + `
first_instance:
  domain: Login.Example.com
  name: Example
  org_name: Example Org
  admin:
    login_name: root
    email: root@example.com
    password: correct horse
passwords:
  argon2id: {memory_kib: 65536, iterations: 3, parallelism: 4}
  max_concurrent: 8
subscriptions:
  poll_interval: 250ms
`,
			check: func(t *testing.T, c *Config) {
				want := &Config{
					Listen: "127.0.0.1:9000", ExternalURL: "https://id.example.com", DataDir: "/var/lib/castellan",
					Database: "postgres://castellan:pw@db:5432/castellan?sslmode=disable",
					Log:      Log{Level: "debug", Format: "json"}, ShutdownTimeout: 5 * time.Second,
					Server: Server{ReadHeaderTimeout: 2 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 30 * time.Second,
						MaxHeaderBytes: 8192, MaxConnections: 300, LoginPostsPerClient: 60, ManagementListen: "127.0.0.1:9090"},
					Keys: Keys{Master: k1, Retired: []string{k2, k3}}, SigningKeys: SigningKeys{Lifetime: 90 * 24 * time.Hour, RetiredKept: 30 * 24 * time.Hour},
					FirstInstance: FirstInstance{Domain: "login.example.com", Name: "Example", OrgName: "Example Org",
						Admin: FirstAdmin{LoginName: "root", Email: "root@example.com", Password: "correct horse"}},
					Passwords:     Passwords{Argon2id: Argon2id{MemoryKiB: 65536, Iterations: 3, Parallelism: 4}, MaxConcurrent: 8, Queue: 64, QueueTimeout: 5 * time.Second, Isolated: true},
					Subscriptions: Subscriptions{PollInterval: 250 * time.Millisecond},
					Notify:        Notify{SMTP: SMTPNotify{TLS: "starttls"}},
					WebAuthn:      WebAuthn{Attestation: "none"},
					Audit:         Audit{Retention: 9504 * time.Hour},
					MTLS:          MTLS{ProxyHeaderFormat: "none"},
				}
				if !reflect.DeepEqual(c, want) {
					t.Errorf("\n got %+v\nwant %+v", c, want)
				}
			},
		},
		{
			name: "ok/retired keys comma-separated in the environment",
			env:  map[string]string{"CASTELLAN_KEYS_RETIRED": k2 + " , " + k3 + ","},
			check: func(t *testing.T, c *Config) {
				if !reflect.DeepEqual(c.Keys.Retired, []string{k2, k3}) {
					t.Errorf("keys.retired = %q", c.Keys.Retired)
				}
			},
		},
		{
			name: "ok/repeated list flag appends and replaces lower sources",
			env:  map[string]string{"CASTELLAN_KEYS_RETIRED": k1},
			args: []string{"--keys-retired", k2, "--keys-retired", k3},
			check: func(t *testing.T, c *Config) {
				if !reflect.DeepEqual(c.Keys.Retired, []string{k2, k3}) {
					t.Errorf("keys.retired = %q", c.Keys.Retired)
				}
			},
		},
		{
			name: "ok/list as a scalar in the file",
			file: "keys:\n  retired: " + k2 + "\n",
			check: func(t *testing.T, c *Config) {
				if !reflect.DeepEqual(c.Keys.Retired, []string{k2}) {
					t.Errorf("keys.retired = %q", c.Keys.Retired)
				}
			},
		},
		{
			name: "ok/aliases and empty sections in the file",
			file: "log:\nfirst_instance:\n  name: &n Shared\n  org_name: *n\n",
			check: func(t *testing.T, c *Config) {
				if c.FirstInstance.OrgName != "Shared" || c.Log.Level != "info" {
					t.Errorf("org_name %q, log.level %q", c.FirstInstance.OrgName, c.Log.Level)
				}
			},
		},
		{
			name:  "ok/empty file",
			file:  "# nothing here\n",
			check: func(t *testing.T, c *Config) {},
		},
		{
			name: "ok/external_url derived from the port of listen",
			args: []string{"--listen", "127.0.0.1:9000"},
			check: func(t *testing.T, c *Config) {
				if c.ExternalURL != "http://localhost:9000" || c.FirstInstance.Domain != "localhost" {
					t.Errorf("external_url %q, domain %q", c.ExternalURL, c.FirstInstance.Domain)
				}
			},
		},
		{
			name: "ok/first_instance.domain derived from external_url without port",
			env:  map[string]string{"CASTELLAN_EXTERNAL_URL": "https://ID.Example.com:8443/base//"},
			check: func(t *testing.T, c *Config) {
				if c.ExternalURL != "https://ID.Example.com:8443/base" || c.FirstInstance.Domain != "id.example.com" {
					t.Errorf("external_url %q, domain %q", c.ExternalURL, c.FirstInstance.Domain)
				}
			},
		},
		{
			name: "ok/explicit first_instance.domain wins over external_url",
			env:  map[string]string{"CASTELLAN_EXTERNAL_URL": "https://id.example.com", "CASTELLAN_FIRST_INSTANCE_DOMAIN": "example.org."},
			check: func(t *testing.T, c *Config) {
				if c.FirstInstance.Domain != "example.org" {
					t.Errorf("domain %q", c.FirstInstance.Domain)
				}
			},
		},
		{
			name: "ok/max_concurrent set explicitly",
			args: []string{"--passwords-max-concurrent", "3"},
			check: func(t *testing.T, c *Config) {
				if c.Passwords.MaxConcurrent != 3 {
					t.Errorf("max_concurrent %d", c.Passwords.MaxConcurrent)
				}
			},
		},
		{
			name: "ok/sqlite path",
			env:  map[string]string{"CASTELLAN_DATABASE": "sqlite:/tmp/x.db"},
			check: func(t *testing.T, c *Config) {
				if c.DatabaseKind() != DatabaseSQLite || c.SQLitePath() != "/tmp/x.db" {
					t.Errorf("kind %q path %q", c.DatabaseKind(), c.SQLitePath())
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", writeConfig(t, tt.file)}, args...)
			}
			c, err := Load(args, env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

// TestLoadRejects checks that each rule rejects bad values with an error
// naming the setting, the source of the value and the problem. In want,
// {file} stands for the config file's path.
func TestLoadRejects(t *testing.T) {
	k1 := testKey(t, "k1", 1)
	tests := []struct {
		name string
		file string
		env  map[string]string
		args []string
		want []string // substrings of the error
	}{
		{name: "fail/a proxy header format without trusted proxies", args: []string{"--mtls-proxy-header-format", "nginx"},
			want: []string{`mtls.trusted_proxies (from default): must name the proxies whose header is believed when mtls.proxy_header_format (from --mtls-proxy-header-format) is set`}},
		{name: "fail/a trusted proxy that is not a network", env: map[string]string{"CASTELLAN_MTLS_TRUSTED_PROXIES": "10.0.0.1"},
			want: []string{`mtls.trusted_proxies (from CASTELLAN_MTLS_TRUSTED_PROXIES): must be networks in CIDR notation`}},
		{name: "fail/an unknown proxy header format", args: []string{"--mtls-proxy-header-format", "iis"},
			want: []string{`mtls.proxy_header_format (from --mtls-proxy-header-format)`}},
		{name: "fail/an mTLS listener without TLS", args: []string{"--mtls-listen", "127.0.0.1:8443"},
			want: []string{`mtls.listen (from --mtls-listen): needs tls.cert_file`}},
		{name: "fail/smtp host without a sender", args: []string{"--notify-smtp-host", "smtp.example.com"},
			want: []string{`config: notify.smtp.from (from default): must be set when notify.smtp.host (from --notify-smtp-host) is set`}},
		{name: "fail/sms webhook with a short secret", env: map[string]string{"CASTELLAN_NOTIFY_SMS_WEBHOOK_URL": "https://sms.example.com/send", "CASTELLAN_NOTIFY_SMS_WEBHOOK_SECRET": "short"},
			want: []string{`notify.sms.webhook_secret (from CASTELLAN_NOTIFY_SMS_WEBHOOK_SECRET): must be at least 24 characters`}},
		{name: "fail/smtp tls mode", args: []string{"--notify-smtp-tls", "ssl"},
			want: []string{`notify.smtp.tls (from --notify-smtp-tls): must be one of starttls, tls, none, got "ssl"`}},
		{name: "fail/log.format outside its values", env: map[string]string{"CASTELLAN_LOG_FORMAT": "xml"},
			want: []string{`config: log.format (from CASTELLAN_LOG_FORMAT): must be one of text, json, got "xml"`}},
		{name: "fail/log.level outside its values", args: []string{"--log-level", "trace"},
			want: []string{`config: log.level (from --log-level): must be one of debug, info, warn, error, got "trace"`}},
		{name: "fail/shutdown_timeout not a duration", args: []string{"--shutdown-timeout", "abc"},
			want: []string{`config: shutdown_timeout (from --shutdown-timeout): "abc" is not a duration such as 30s, 15m or 720h`}},
		{name: "fail/shutdown_timeout zero", file: "shutdown_timeout: 0s\n",
			want: []string{`config: shutdown_timeout (from {file}:1): must be greater than zero, got 0s`}},
		{name: "fail/duration without unit in the file", file: "subscriptions:\n  poll_interval: 5\n",
			want: []string{`subscriptions.poll_interval (from {file}:2): "5" is not a duration such as 30s, 15m or 720h`}},
		{name: "fail/every mistake of a file at once", file: "listen: 99999\nshutdown_timeout: abc\nlog:\n  level: loud\n",
			want: []string{`shutdown_timeout (from {file}:2): "abc" is not a duration`, `log.level (from {file}:4): must be one of`, `listen (from {file}:1): must be HOST:PORT`}},
		{name: "fail/poll_interval negative", env: map[string]string{"CASTELLAN_SUBSCRIPTIONS_POLL_INTERVAL": "-1s"},
			want: []string{`subscriptions.poll_interval (from CASTELLAN_SUBSCRIPTIONS_POLL_INTERVAL): must be greater than zero`}},
		{name: "fail/read header timeout longer than the read timeout", args: []string{"--server-read-header-timeout", "1m"},
			want: []string{`server.read_header_timeout (from --server-read-header-timeout): must not exceed server.read_timeout (from default), got 1m0s`}},
		{name: "fail/max header bytes below the minimum", env: map[string]string{"CASTELLAN_SERVER_MAX_HEADER_BYTES": "100"},
			want: []string{`server.max_header_bytes (from CASTELLAN_SERVER_MAX_HEADER_BYTES): must be at least 4096, got 100`}},
		{name: "fail/management listener without port", args: []string{"--server-management-listen", "9090"},
			want: []string{`server.management_listen (from --server-management-listen): must be HOST:PORT or :PORT, got "9090"`}},
		{name: "fail/management listener on the main address", args: []string{"--listen", ":9090", "--server-management-listen", ":9090"},
			want: []string{`server.management_listen (from --server-management-listen): must differ from listen (from --listen)`}},
		{name: "fail/listen without port", args: []string{"--listen", "8080"},
			want: []string{`listen (from --listen): must be HOST:PORT or :PORT, got "8080"`}},
		{name: "fail/listen with a named port", args: []string{"--listen", ":http"},
			want: []string{`listen (from --listen): port must be a number from 0 to 65535, got "http"`}},
		{name: "fail/listen empty", env: map[string]string{"CASTELLAN_LISTEN": ""},
			want: []string{`listen (from CASTELLAN_LISTEN): must not be empty`}},
		{name: "fail/listen on port 0 without external_url", args: []string{"--listen", "127.0.0.1:0"},
			want: []string{`external_url (from default): must be set when listen (from --listen) uses port 0`}},
		{name: "fail/external_url relative", env: map[string]string{"CASTELLAN_EXTERNAL_URL": "id.example.com"},
			want: []string{`external_url (from CASTELLAN_EXTERNAL_URL): must be an absolute http or https URL`}},
		{name: "fail/external_url other scheme", env: map[string]string{"CASTELLAN_EXTERNAL_URL": "ftp://id.example.com"},
			want: []string{`must be an absolute http or https URL, got "ftp://id.example.com"`}},
		{name: "fail/external_url without host", env: map[string]string{"CASTELLAN_EXTERNAL_URL": "https:///path"},
			want: []string{`external_url (from CASTELLAN_EXTERNAL_URL): must have a host`}},
		{name: "fail/external_url with query", env: map[string]string{"CASTELLAN_EXTERNAL_URL": "https://id.example.com/?a=b"},
			want: []string{`must not have a query`}},
		{name: "fail/external_url with empty query", env: map[string]string{"CASTELLAN_EXTERNAL_URL": "https://id.example.com?"},
			want: []string{`must not have a query`}},
		{name: "fail/external_url with fragment", env: map[string]string{"CASTELLAN_EXTERNAL_URL": "https://id.example.com/#x"},
			want: []string{`must not have a fragment`}},
		{name: "fail/external_url with user", env: map[string]string{"CASTELLAN_EXTERNAL_URL": "https://me@id.example.com"},
			want: []string{`must not contain user information`}},
		{name: "fail/external_url unparsable", file: "external_url: \"http://[::1\"\n",
			want: []string{`external_url (from {file}:1): is not a URL`}},
		{name: "fail/data_dir empty", file: "data_dir: \"\"\n",
			want: []string{`data_dir (from {file}:1): must not be empty`}},
		{name: "fail/database of another kind", env: map[string]string{"CASTELLAN_DATABASE": "mysql://u:hunter2@db/x"},
			want: []string{`database (from CASTELLAN_DATABASE): must be empty (embedded SQLite in data_dir), sqlite:PATH, or a postgres://`}},
		{name: "fail/database keyword form", env: map[string]string{"CASTELLAN_DATABASE": "host=db password=hunter2"},
			want: []string{`database (from CASTELLAN_DATABASE): must be empty`}},
		{name: "fail/sqlite without path", args: []string{"--database", "sqlite:"},
			want: []string{`database (from --database): sqlite: must be followed by the path`}},
		{name: "fail/postgres URL unparsable", args: []string{"--database", "postgres://u:hunter2/x@db:port/x"},
			want: []string{`database (from --database): is not a valid URL`}},
		{name: "fail/tls cert without key", args: []string{"--tls-cert-file", "cert.pem"},
			want: []string{`tls.key_file (from default): must be set when tls.cert_file (from --tls-cert-file) is set`}},
		{name: "fail/tls key without cert", env: map[string]string{"CASTELLAN_TLS_KEY_FILE": "key.pem"},
			want: []string{`tls.cert_file (from default): must be set when tls.key_file (from CASTELLAN_TLS_KEY_FILE) is set`}},
		{name: "fail/tls files missing", args: []string{"--tls-cert-file", "/nonexistent/cert.pem", "--tls-key-file", "/nonexistent/key.pem"},
			want: []string{`tls.cert_file (from --tls-cert-file): cannot load the key pair with tls.key_file (from --tls-key-file)`, "no such file"}},
		{name: "fail/keys.master without id", env: map[string]string{"CASTELLAN_KEYS_MASTER": "bm90IGEga2V5"},
			want: []string{`keys.master (from CASTELLAN_KEYS_MASTER): key must have the form ID:BASE64`}},
		{name: "fail/keys.master too short", args: []string{"--keys-master", "k9:" + base64.StdEncoding.EncodeToString(make([]byte, 16))},
			want: []string{`keys.master (from --keys-master): key k9: secret must be 32 bytes, got 16`}},
		{name: "fail/keys.retired entry not base64", file: "keys:\n  retired: [\"" + k1 + "\", \"k2:@@@@\"]\n",
			want: []string{`keys.retired (from {file}:2): entry 2: key k2: secret is not valid standard base64`}},
		{name: "fail/retired key reuses the master id", env: map[string]string{"CASTELLAN_KEYS_MASTER": k1, "CASTELLAN_KEYS_RETIRED": testKey(t, "k1", 7)},
			want: []string{`keys.retired (from CASTELLAN_KEYS_RETIRED): entry 1: key id k1 is already used by keys.master`}},
		{name: "fail/first_instance.domain with scheme", args: []string{"--first-instance-domain", "https://example.com"},
			want: []string{`first_instance.domain (from --first-instance-domain): must be a host name`}},
		{name: "fail/first_instance.domain with port", args: []string{"--first-instance-domain", "example.com:443"},
			want: []string{`first_instance.domain (from --first-instance-domain): must be a host name`}},
		{name: "fail/first_instance.name empty", env: map[string]string{"CASTELLAN_FIRST_INSTANCE_NAME": "  "},
			want: []string{`first_instance.name (from CASTELLAN_FIRST_INSTANCE_NAME): must not be empty`}},
		{name: "fail/admin login name empty", file: "first_instance:\n  admin:\n    login_name:\n",
			want: []string{`first_instance.admin.login_name (from {file}:3): must not be empty`}},
		{name: "fail/admin email without @", args: []string{"--first-instance-admin-email", "root.example.com"},
			want: []string{`first_instance.admin.email (from --first-instance-admin-email): must be an email address with one @, got "root.example.com"`}},
		{name: "fail/admin email with two @", args: []string{"--first-instance-admin-email", "a@b@example.com"},
			want: []string{`first_instance.admin.email (from --first-instance-admin-email): must be an email address with one @`}},
		{name: "fail/argon2id memory below the OWASP minimum", env: map[string]string{"CASTELLAN_PASSWORDS_ARGON2ID_MEMORY_KIB": "4096"},
			want: []string{`passwords.argon2id.memory_kib (from CASTELLAN_PASSWORDS_ARGON2ID_MEMORY_KIB): must be at least 8192, got 4096`}},
		{name: "fail/argon2id iterations zero", file: "passwords:\n  argon2id:\n    iterations: 0\n",
			want: []string{`passwords.argon2id.iterations (from {file}:3): must be at least 1, got 0`}},
		{name: "fail/argon2id parallelism zero", args: []string{"--passwords-argon2id-parallelism", "0"},
			want: []string{`passwords.argon2id.parallelism (from --passwords-argon2id-parallelism): must be at least 1, got 0`}},
		{name: "fail/argon2id parallelism beyond a byte", args: []string{"--passwords-argon2id-parallelism", "300"},
			want: []string{`passwords.argon2id.parallelism (from --passwords-argon2id-parallelism): must be a whole number from 0 to 255, got "300"`}},
		{name: "fail/argon2id memory not a number", file: "passwords:\n  argon2id:\n    memory_kib: 64MiB\n",
			want: []string{`passwords.argon2id.memory_kib (from {file}:3): must be a whole number from 0 to 4294967295, got "64MiB"`}},
		{name: "fail/signing keys rotated within a day", args: []string{"--signing-keys-lifetime", "1h"},
			want: []string{`signing_keys.lifetime (from --signing-keys-lifetime): must be at least 24h, got 1h0m0s`}},
		{name: "fail/retired signing keys dropped within a day", env: map[string]string{"CASTELLAN_SIGNING_KEYS_RETIRED_KEPT": "2h"},
			want: []string{`signing_keys.retired_kept (from CASTELLAN_SIGNING_KEYS_RETIRED_KEPT): must be at least 24h, got 2h0m0s`}},
		{name: "fail/max_concurrent negative", env: map[string]string{"CASTELLAN_PASSWORDS_MAX_CONCURRENT": "-1"},
			want: []string{`passwords.max_concurrent (from CASTELLAN_PASSWORDS_MAX_CONCURRENT): must be at least 0, got -1`}},
		{name: "fail/unknown top-level key in the file", file: "listen: :80\nlisten_addr: :80\n",
			want: []string{`config: {file}:2: unknown key "listen_addr" in the top level`}},
		{name: "fail/unknown nested key in the file", file: "log:\n  levle: debug\n",
			want: []string{`config: {file}:2: unknown key "log.levle" in log (known keys: level, format)`}},
		{name: "fail/dotted key in the file", file: "log.level: debug\n",
			want: []string{`config: {file}:1: unknown key "log.level" in the top level`}},
		{name: "fail/key twice in the file", file: "log:\n  level: debug\n  level: info\n",
			want: []string{`config: {file}:3: key "log.level" appears twice`}},
		{name: "fail/section given a scalar", file: "log: debug\n",
			want: []string{`config: {file}:1: log must be a mapping`}},
		{name: "fail/setting given a mapping", file: "listen:\n  port: 80\n",
			want: []string{`config: listen (from {file}:2): must be a single value`}},
		{name: "fail/list given a mapping", file: "keys:\n  retired: {a: b}\n",
			want: []string{`config: keys.retired (from {file}:2): must be a list of strings`}},
		{name: "fail/top level not a mapping", file: "- listen\n",
			want: []string{`config: {file}:1: the top level must be a mapping`}},
		{name: "fail/invalid YAML", file: "log: [unclosed\n",
			want: []string{`config: {file}: yaml:`}},
		{name: "fail/two YAML documents", file: "listen: :1\n---\nlisten: :2\n",
			want: []string{`config: {file}:2: the file must hold a single YAML document`}},
		{name: "fail/missing config file", args: []string{"--config", "/nonexistent/castellan.yaml"},
			want: []string{`config: reading config file: open /nonexistent/castellan.yaml`}},
		{name: "fail/unknown flag", args: []string{"--lisen", ":80"},
			want: []string{`config: flag provided but not defined: -lisen`}},
		{name: "fail/flag without value", args: []string{"--listen"},
			want: []string{`config: flag needs an argument: -listen`}},
		{name: "fail/positional argument", args: []string{"--listen", ":80", "extra"},
			want: []string{`config: unexpected argument "extra"`}},
		{name: "fail/every error reported at once", env: map[string]string{"CASTELLAN_LOG_LEVEL": "x", "CASTELLAN_LOG_FORMAT": "y"},
			want: []string{"log.level (from CASTELLAN_LOG_LEVEL)", "log.format (from CASTELLAN_LOG_FORMAT)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			var path string
			if tt.file != "" {
				path = writeConfig(t, tt.file)
				args = append([]string{"--config", path}, args...)
			}
			_, err := Load(args, env(tt.env))
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, want := range tt.want {
				want = strings.ReplaceAll(want, "{file}", path)
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error\n  %v\ndoes not contain\n  %s", err, want)
				}
			}
		})
	}
}

func TestLoadRejectsUnknownEnvironmentVariables(t *testing.T) {
	t.Setenv("CASTELLAN_LOG_LEVL", "debug")
	t.Setenv("CASTELLAN_TEST_POSTGRES", "postgres://localhost/test")
	t.Setenv("CASTELLAN_CONFIG", "")

	_, err := Load(nil, os.LookupEnv)
	if err == nil || !strings.Contains(err.Error(), "config: environment variable CASTELLAN_LOG_LEVL matches no setting") {
		t.Fatalf("error %v, want one naming CASTELLAN_LOG_LEVL", err)
	}
	if strings.Contains(err.Error(), "CASTELLAN_TEST_POSTGRES") || strings.Contains(err.Error(), "CASTELLAN_CONFIG") {
		t.Errorf("error %v names an allowed variable", err)
	}

	// Variables that lookupEnv does not report are not the caller's environment.
	if _, err := Load(nil, env(nil)); err != nil {
		t.Errorf("with a lookup that hides CASTELLAN_LOG_LEVL: %v", err)
	}
}

func TestLoadHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		if _, err := Load([]string{arg}, env(nil)); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("Load(%s) error %v, want flag.ErrHelp", arg, err)
		}
	}
}

func TestLoadWithArgsReturnsPositionalArguments(t *testing.T) {
	c, rest, err := LoadWithArgs([]string{"--log-level", "debug", "users", "--not-a-flag"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Log.Level != "debug" || !reflect.DeepEqual(rest, []string{"users", "--not-a-flag"}) {
		t.Errorf("log.level %q, rest %q", c.Log.Level, rest)
	}
}

// TestSecretsNeverInErrors puts a recognisable secret into every secret
// setting, from each source, next to a mistake, and checks that no error
// repeats it.
func TestSecretsNeverInErrors(t *testing.T) {
	const secret = "Hunter2Hunter2Hunter2"
	b64Secret := base64.StdEncoding.EncodeToString([]byte(secret + secret)) // 42 bytes: wrong length
	tests := []struct {
		name string
		file string
		env  map[string]string
		args []string
	}{
		{name: "fail/database of another kind from a flag", args: []string{"--database", "mysql://u:" + secret + "@db/x"}},
		{name: "fail/unparsable postgres URL from the environment", env: map[string]string{"CASTELLAN_DATABASE": "postgres://u:" + secret + "/x@db:" + secret + "/x"}},
		{name: "fail/database keyword form in the file", file: "database: host=db password=" + secret + "\n"},
		{name: "fail/database given a list", file: "database: [" + secret + "]\n"},
		{name: "fail/master key without id", env: map[string]string{"CASTELLAN_KEYS_MASTER": b64Secret}},
		{name: "fail/master key and id swapped", env: map[string]string{"CASTELLAN_KEYS_MASTER": b64Secret + ":k1"}},
		{name: "fail/master key of wrong length", args: []string{"--keys-master", "k1:" + b64Secret}},
		{name: "fail/master key bad base64", file: "keys:\n  master: k1:" + secret + "!\n"},
		{name: "fail/retired key of wrong length", env: map[string]string{"CASTELLAN_KEYS_RETIRED": "k1:" + b64Secret}},
		{name: "fail/password next to another mistake", env: map[string]string{"CASTELLAN_FIRST_INSTANCE_ADMIN_PASSWORD": secret, "CASTELLAN_LOG_LEVEL": "loud"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", writeConfig(t, tt.file)}, args...)
			}
			_, err := Load(args, env(tt.env))
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), b64Secret) {
				t.Errorf("error contains the secret: %v", err)
			}
		})
	}
}

// writeKeyPair writes a self-signed certificate and its key as PEM files.
func writeKeyPair(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(dir, name+".crt")
	keyFile = filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestLoadTLS(t *testing.T) {
	dir := t.TempDir()
	certA, keyA := writeKeyPair(t, dir, "a")
	_, keyB := writeKeyPair(t, dir, "b")
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		cert, key     string
		wantErr       string
		wantIssuerURL string
	}{
		{name: "ok/matching pair serves https", cert: certA, key: keyA, wantIssuerURL: "https://localhost:8080"},
		{name: "fail/key of another certificate", cert: certA, key: keyB, wantErr: "private key does not match public key"},
		{name: "fail/certificate file is not PEM", cert: garbage, key: keyA, wantErr: "cannot load the key pair"},
		{name: "fail/key file is not PEM", cert: certA, key: garbage, wantErr: "cannot load the key pair"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load([]string{"--tls-cert-file", tt.cert}, env(map[string]string{"CASTELLAN_TLS_KEY_FILE": tt.key}))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) ||
					!strings.Contains(err.Error(), "tls.cert_file (from --tls-cert-file)") ||
					!strings.Contains(err.Error(), "tls.key_file (from CASTELLAN_TLS_KEY_FILE)") {
					t.Fatalf("error %v, want one naming both settings and containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.ExternalURL != tt.wantIssuerURL {
				t.Errorf("external_url %q, want %q", c.ExternalURL, tt.wantIssuerURL)
			}
		})
	}
}

func FuzzLoadYAML(f *testing.F) {
	f.Add([]byte("listen: :8080\nlog:\n  level: debug\n"))
	f.Add([]byte("keys:\n  retired: [a, b]\n"))
	f.Add([]byte("first_instance: {admin: {password: x}}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("log: &l {level: info}\nfirst_instance: *l\n"))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("passwords:\n  argon2id:\n    parallelism: 256\n"))
	// Each fuzzing worker is its own process running inputs one at a time,
	// so one file per process is enough and much faster than a directory
	// per input.
	path := filepath.Join(f.TempDir(), "castellan.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load([]string{"--config", path}, env(nil))
		if err == nil && c == nil {
			t.Fatal("Load returned neither a Config nor an error")
		}
	})
}
