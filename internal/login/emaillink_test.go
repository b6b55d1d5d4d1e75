package login_test

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/settings"
)

var linkInMail = regexp.MustCompile(`https?://[^\s"<>]+/ui/login/link\?[^\s"<>]+`)

// linkIn returns the path and query of the sign-in link of a message.
func linkIn(t *testing.T, mail string) string {
	t.Helper()
	m := linkInMail.FindString(strings.ReplaceAll(mail, "=\r\n", ""))
	if m == "" {
		t.Fatalf("no sign-in link in:\n%s", mail)
	}
	u, err := url.Parse(strings.ReplaceAll(m, "&amp;", "&"))
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

// askForLink enters a login name and asks for a sign-in link.
func (b *browser) askForLink(name string) (int, string, string) {
	b.t.Helper()
	b.post("/ui/login/?prompt=login", "/ui/login/", "loginName", name)
	return b.post("/ui/login/password", "/ui/login/link/send")
}

func TestSignInLinks(t *testing.T) {
	b, box := startWithMail(t)
	b.knownUser("fay", "fay@example.com", "a good password 1")

	// "fail/links not allowed": no offer, and a direct post is refused.
	b.post("/ui/login/?prompt=login", "/ui/login/", "loginName", "fay")
	if _, _, page := b.get("/ui/login/password"); strings.Contains(page, "/ui/login/link/send") {
		t.Fatalf("the password page offers a link the settings do not allow:\n%s", page)
	}
	if status, _, _ := b.post("/ui/login/password", "/ui/login/link/send"); status != 403 {
		t.Fatalf("asking for a link the settings do not allow: %d", status)
	}

	b.allow("", func(l *settings.Login) { l.MagicLinkAllowed = true })
	b.post("/ui/login/?prompt=login", "/ui/login/", "loginName", "fay")
	if _, _, page := b.get("/ui/login/password"); !strings.Contains(page, "Email me a sign-in link") {
		t.Fatalf("no offer of a link:\n%s", page)
	}

	// "ok/known and unknown names get the same answer"; only the known
	// one gets a message.
	strip := regexp.MustCompile(`nonce="[^"]+"|value="[^"]+"`)
	s1, p1, known := b.askForLink("fay")
	s2, p2, unknown := b.askForLink("nobody")
	if s1 != 200 || s1 != s2 || p1 != p2 || strip.ReplaceAllString(known, "") != strip.ReplaceAllString(unknown, "") || !strings.Contains(known, "we sent a sign-in link") {
		t.Fatalf("known: %d %s\n%s\nunknown: %d %s\n%s", s1, p1, known, s2, p2, unknown)
	}
	mail := box.wait(t, "fay@example.com", 1)
	if !strings.Contains(mail, "Your sign-in link for Test") {
		t.Fatalf("the message:\n%s", mail)
	}
	link := linkIn(t, mail)

	// "ok/opening the link asks to confirm; confirming signs in"
	b.client.Jar, _ = cookiejar.New(nil)
	status, _, page := b.get(link)
	if status != 200 || !strings.Contains(page, `action="/ui/login/link"`) {
		t.Fatalf("the link's page: %d\n%s", status, page)
	}
	q, _ := url.ParseQuery(strings.SplitN(link, "?", 2)[1])
	status, path, page := b.post(link, "/ui/login/link", "user", q.Get("user"), "token", q.Get("token"))
	if status != 200 || path != "/ui/login/done" || !strings.Contains(page, "You are signed in as fay.") {
		t.Fatalf("following the link: %d %s\n%s", status, path, page)
	}

	// "fail/a used link"
	b.client.Jar, _ = cookiejar.New(nil)
	if status, _, page := b.post(link, "/ui/login/link", "user", q.Get("user"), "token", q.Get("token")); status != 403 || !strings.Contains(page, "not valid") {
		t.Fatalf("a used link: %d\n%s", status, page)
	}
	// "fail/a wrong token"
	b.askForLink("fay")
	box.wait(t, "fay@example.com", 2)
	if status, _, _ := b.post(link, "/ui/login/link", "user", q.Get("user"), "token", strings.Repeat("A", 43)); status != 403 {
		t.Fatalf("a wrong token: %d", status)
	}

	// "ok/MFA required: the link is the first factor only"
	b.allow("", func(l *settings.Login) { l.MagicLinkAllowed, l.MFARequired = true, settings.MFAEveryone })
	b.client.Jar, _ = cookiejar.New(nil)
	b.askForLink("fay")
	link = linkIn(t, box.wait(t, "fay@example.com", 3))
	q, _ = url.ParseQuery(strings.SplitN(link, "?", 2)[1])
	if status, path, _ := b.post(link, "/ui/login/link", "user", q.Get("user"), "token", q.Get("token")); status != 200 || path != "/ui/login/setup" {
		t.Fatalf("with MFA required: %d %s", status, path)
	}

	// "fail/links turned off after sending": the link is refused.
	b.askForLink("fay")
	link = linkIn(t, box.wait(t, "fay@example.com", 4))
	q, _ = url.ParseQuery(strings.SplitN(link, "?", 2)[1])
	b.allow("", func(l *settings.Login) { l.MagicLinkAllowed = false })
	if status, _, _ := b.get(link); status != 403 {
		t.Fatalf("the link's page with links off: %d", status)
	}
	if status, _, _ := b.post("/ui/login/", "/ui/login/link", "user", q.Get("user"), "token", q.Get("token")); status != 403 {
		t.Fatalf("a link with links off: %d", status)
	}
}

// TestSignInLinkAnswersTakeAlike asks for links for known and unknown
// names in turn: the answers are the same page, and their median times
// are within a factor of 1.5 (the pace of the known ones). Ten rounds:
// the self-service limit of one client address is 20 requests.
func TestSignInLinkAnswersTakeAlike(t *testing.T) {
	b, _ := startWithMail(t)
	b.allow("", func(l *settings.Login) { l.MagicLinkAllowed = true })
	const users, rounds = 5, 10
	for i := range users {
		b.knownUser(fmt.Sprintf("timed%d", i), fmt.Sprintf("timed%d@example.com", i), "a good password 1")
	}
	ask := func(name string) (int, time.Duration) {
		b.post("/ui/login/?prompt=login", "/ui/login/", "loginName", name)
		_, _, page := b.get("/ui/login/password")
		m := csrfField.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no CSRF token:\n%s", page)
		}
		req, _ := http.NewRequest(http.MethodPost, b.base+"/ui/login/link/send", strings.NewReader(url.Values{"csrf": {m[1]}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		start := time.Now()
		status, _, _ := b.do(req)
		return status, time.Since(start)
	}
	var known, unknown []time.Duration
	for i := range rounds {
		// A known name's link is sent after its answer, in the background,
		// slowing whatever request comes next: the order alternates, so
		// that a known name's answer follows one as often as an unknown's.
		var s1, s2 int
		var d1, d2 time.Duration
		if i%2 == 0 {
			s1, d1 = ask(fmt.Sprintf("timed%d", i%users))
			s2, d2 = ask(fmt.Sprintf("nobody%d", i))
		} else {
			s2, d2 = ask(fmt.Sprintf("nobody%d", i))
			s1, d1 = ask(fmt.Sprintf("timed%d", i%users))
		}
		if s1 != 200 || s2 != 200 {
			t.Fatalf("round %d: %d %d", i, s1, s2)
		}
		known, unknown = append(known, d1), append(unknown, d2)
	}
	median := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)/2]
	}
	mk, mu := median(known), median(unknown)
	ratio := float64(mu) / float64(mk)
	t.Logf("median: known name %v, unknown name %v (ratio %.2f)", mk, mu, ratio)
	if ratio < 1/1.5 || ratio > 1.5 {
		t.Fatalf("a known name takes %v, an unknown one %v: ratio %.2f", mk, mu, ratio)
	}
}
