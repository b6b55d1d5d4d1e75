package op

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/oauth"
)

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

func TestCredentialsOf(t *testing.T) {
	for _, tc := range []struct {
		name, header, body string
		want               string // method, or the error code
		id, secret         string
	}{
		{"ok/client_secret_basic", basic("c1", "s:1+/"), "grant_type=client_credentials", oauth.AuthClientSecretBasic, "c1", "s:1+/"},
		{"ok/basic scheme is case-insensitive", "bAsIc " + base64.StdEncoding.EncodeToString([]byte("c1:s")), "", oauth.AuthClientSecretBasic, "c1", "s"},
		{"ok/basic with the same client_id in the body", basic("c1", "s"), "client_id=c1", oauth.AuthClientSecretBasic, "c1", "s"},
		{"ok/client_secret_post", "", "client_id=c1&client_secret=s", oauth.AuthClientSecretPost, "c1", "s"},
		{"ok/a public client names itself", "", "client_id=c1", oauth.AuthNone, "c1", ""},
		{"fail/two methods at once", basic("c1", "s"), "client_secret=s", oauth.InvalidRequest, "", ""},
		{"fail/basic and another client_id", basic("c1", "s"), "client_id=c2", oauth.InvalidRequest, "", ""},
		{"fail/bearer scheme", "Bearer abc", "", oauth.InvalidClient, "", ""},
		{"fail/basic not base64", "Basic !!!", "", oauth.InvalidClient, "", ""},
		{"fail/basic without colon", "Basic " + base64.StdEncoding.EncodeToString([]byte("c1")), "", oauth.InvalidClient, "", ""},
		{"fail/basic with a bad escape", "Basic " + base64.StdEncoding.EncodeToString([]byte("c%zz:s")), "", oauth.InvalidClient, "", ""},
		{"fail/no client at all", "", "grant_type=client_credentials", oauth.InvalidClient, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form, err := parseForm(tc.body)
			if err != nil {
				t.Fatal(err)
			}
			cred, err := credentialsOf(tc.header, form)
			if err != nil {
				if e := oauth.AsError(err); e == nil || e.Code != tc.want {
					t.Fatalf("error %v; want %s", err, tc.want)
				}
				return
			}
			if cred.Method != tc.want || cred.ClientID != tc.id || cred.Secret != tc.secret {
				t.Fatalf("got %+v; want %s %s %s", cred, tc.want, tc.id, tc.secret)
			}
		})
	}
}

func TestParseForm(t *testing.T) {
	for body, ok := range map[string]bool{
		"grant_type=client_credentials&scope=a+b": true,
		"":                  true,
		"a=1&a=2":           false,
		"scope=%zz":         false,
		"a=1;b=2":           false,
		"client_id=x&x=%41": true,
		// RFC 8707 section 2 and RFC 8693 section 2.1: resource and
		// audience may be repeated, at most 10 times.
		"resource=https%3A%2F%2Fa.example%2F&resource=urn%3Ab": true,
		"audience=a&audience=b":                                true,
		"resource=a" + strings.Repeat("&resource=a", 9):        true,
		"resource=a" + strings.Repeat("&resource=a", 10):       false,
		"scope=a&resource=x&scope=b":                           false,
	} {
		if _, err := parseForm(body); (err == nil) != ok {
			t.Errorf("parseForm(%q) = %v; want ok=%v", body, err, ok)
		}
	}
}

// The body and the Authorization header come from the network: whatever
// they hold, parsing ends with credentials or an OAuth error (never a
// panic, never another kind of error), and credentials name a client.
func FuzzCredentials(f *testing.F) {
	f.Add(basic("c1", "ccs_secret"), "grant_type=client_credentials&scope=a%20b")
	f.Add("", "client_id=c1&client_secret=s")
	f.Add("Basic Yzo=", "client_id=c")
	f.Add("Basic "+base64.StdEncoding.EncodeToString([]byte("%:%")), "a=1&a=2")
	f.Add("basic", "%")
	f.Fuzz(func(t *testing.T, header, body string) {
		form, err := parseForm(body)
		if err != nil {
			if oauth.AsError(err) == nil {
				t.Fatalf("parseForm(%q) = %v, not an OAuth error", body, err)
			}
			return
		}
		for name, values := range form {
			if len(values) != 1 && !(multiValued[name] && len(values) <= maxMultiValues) {
				t.Fatalf("a repeated parameter passed: %q", body)
			}
		}
		cred, err := credentialsOf(header, form)
		if err != nil {
			if e := oauth.AsError(err); e == nil || (e.Code != oauth.InvalidClient && e.Code != oauth.InvalidRequest) {
				t.Fatalf("credentialsOf(%q, %q) = %v", header, body, err)
			}
			return
		}
		if cred.ClientID == "" {
			t.Fatalf("credentials without a client id from %q %q", header, body)
		}
		switch cred.Method {
		case oauth.AuthNone:
			if cred.Secret != "" {
				t.Fatalf("method none with a secret")
			}
		case oauth.AuthClientSecretBasic, oauth.AuthClientSecretPost:
		default:
			t.Fatalf("method %q", cred.Method)
		}
	})
}
