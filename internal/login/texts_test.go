package login_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/settings"
)

func (b *browser) setGroup(orgID string, v settings.Value) {
	b.t.Helper()
	if err := settings.NewCommands(b.app.Store).Set(ctx, eventstore.SystemEditor, b.first.InstanceID, orgID, v); err != nil {
		b.t.Fatal(err)
	}
}

// A level's texts replace the catalogue's on the pages, in their
// language, escaped: markup in a text shows as written.
func TestTextsReplaceTheCatalogue(t *testing.T) {
	b := start(t)
	b.setGroup("", settings.Texts{Languages: map[string]map[string]string{
		"en": {"Login name": `Your <script>alert(1)</script> e-mail`, "You are signed in as %s.": "Welcome back, %s!"},
		"de": {"Login name": "Ihre E-Mail"},
	}})
	_, _, page := b.get("/ui/login/?prompt=login")
	if !strings.Contains(page, "Your &lt;script&gt;alert(1)&lt;/script&gt; e-mail") || strings.Contains(page, "<script>alert(1)") {
		t.Fatalf("the English override, escaped:\n%s", page)
	}
	if _, _, page := b.get("/ui/login/?prompt=login&ui_locales=de"); !strings.Contains(page, "Ihre E-Mail") || !strings.Contains(page, "Weiter") {
		t.Fatalf("the German override beside the catalogue:\n%s", page)
	}
	b.post("/ui/login/?prompt=login", "/ui/login/", "loginName", "admin")
	if _, path, page := b.post("/ui/login/password", "/ui/login/password", "password", "admin-password-1"); !strings.Contains(page, "Welcome back, admin!") {
		t.Fatalf("a text with a placeholder: %s\n%s", path, page)
	}
}

// The instance's frame ancestors replace frame-ancestors 'none' and drop
// X-Frame-Options; without them nothing may frame the login.
func TestFrameAncestors(t *testing.T) {
	b := start(t)
	header := func() http.Header {
		res, err := b.client.Get(b.base + "/ui/login/?prompt=login")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.Header
	}
	if h := header(); !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || h.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("by default: %v", h)
	}
	b.setGroup("", settings.Embedding{FrameAncestors: []string{"https://app.example.com", "http://127.0.0.1:3000"}})
	h := header()
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "; frame-ancestors https://app.example.com http://127.0.0.1:3000;") || strings.Contains(csp, "'none'; base") || h.Get("X-Frame-Options") != "" {
		t.Fatalf("with frame ancestors: %v", h)
	}
	if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("the rest of the policy is lost: %v", h)
	}
}
