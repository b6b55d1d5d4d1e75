package client

import (
	"strings"
	"testing"
)

func TestCheckRedirectURI(t *testing.T) {
	for _, c := range []struct {
		uri             string
		public, devMode bool
		wantErr         string
	}{
		{uri: "https://app.example.com/cb"},
		{uri: "https://app.example.com/cb?x=1"},
		{uri: "http://127.0.0.1/cb"},
		{uri: "http://[::1]:8080/cb"},
		{uri: "http://localhost:3000/cb"},
		{uri: "http://app.example.com/cb", wantErr: "not loopback"},
		{uri: "http://app.example.com/cb", devMode: true},
		{uri: "com.example.app:/cb", public: true},
		{uri: "com.example.app:/cb", wantErr: "private-use scheme"},
		{uri: "myapp:/cb", public: true, wantErr: "private-use scheme"},
		{uri: "javascript:alert(1)", public: true, wantErr: "private-use scheme"},
		{uri: "https://app.example.com/cb#frag", wantErr: "fragment"},
		{uri: "https://app.example.com/cb#", wantErr: "fragment"},
		{uri: "/cb", wantErr: "absolute"},
		{uri: "https://user:pw@app.example.com/cb", wantErr: "user information"},
		{uri: "https:///cb", wantErr: "no host"},
		{uri: "https://app.example.com/" + strings.Repeat("a", 2000), wantErr: "longer"},
	} {
		err := checkRedirectURI(c.uri, c.public, c.devMode)
		if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("%q public=%v dev=%v: %v, want %q", c.uri, c.public, c.devMode, err, c.wantErr)
		}
	}
}

func TestMatchRedirectURI(t *testing.T) {
	conf := Application{Redirects: Redirects{RedirectURIs: []string{"https://app.example.com/cb", "http://127.0.0.1/cb"}}}
	public := conf
	public.Public = true
	for _, c := range []struct {
		app  Application
		uri  string
		want bool
	}{
		{conf, "https://app.example.com/cb", true},
		{conf, "https://app.example.com/cb/", false},
		{conf, "https://APP.example.com/cb", false},
		{conf, "https://app.example.com/cb?x=1", false},
		{conf, "http://127.0.0.1/cb", true},
		{conf, "http://127.0.0.1:5000/cb", false},
		{public, "http://127.0.0.1:5000/cb", true},
		{public, "http://127.0.0.1:5000/cb?x", false},
		{public, "http://127.0.0.1:5000/other", false},
		{public, "http://127.0.0.2:5000/cb", false},
		{public, "https://127.0.0.1:5000/cb", false},
		{public, "http://evil@127.0.0.1:5000/cb", false},
		{public, "http://127.0.0.1:5000/cb#x", false},
	} {
		if got := c.app.MatchRedirectURI(c.uri); got != c.want {
			t.Errorf("public=%v %q: %v, want %v", c.app.Public, c.uri, got, c.want)
		}
	}
}

func FuzzMatchRedirectURI(f *testing.F) {
	f.Add("http://127.0.0.1:5000/cb")
	f.Add("https://app.example.com/cb")
	f.Add("http://[::1]:1/cb?")
	app := Application{Public: true, Redirects: Redirects{RedirectURIs: []string{"https://app.example.com/cb", "http://127.0.0.1/cb"}}}
	f.Fuzz(func(t *testing.T, uri string) {
		if app.MatchRedirectURI(uri) && uri != "https://app.example.com/cb" && !strings.HasPrefix(uri, "http://127.0.0.1") {
			t.Fatalf("%q matched", uri)
		}
		_ = checkRedirectURI(uri, true, false)
	})
}
