package login_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/asset"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/pat"
	"github.com/castellan-iam/castellan/internal/settings"
	"github.com/castellan-iam/castellan/internal/user"
)

func logoPNG(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 40, 12))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// adminToken is a personal access token of the first instance's
// administrator.
func (b *browser) adminToken() string {
	b.t.Helper()
	_, token, err := pat.NewCommands(b.app.Store, nil).Add(ctx, eventstore.SystemEditor,
		eventstore.Aggregate{InstanceID: b.first.InstanceID, Type: user.AggregateType, ID: b.first.AdminID, Owner: b.first.OrgID}, time.Now().Add(time.Hour))
	if err != nil {
		b.t.Fatal(err)
	}
	return token
}

// TestAssetUploadedThroughTheAPIIsServed: an image uploaded with POST
// /v1/assets is served at /ui/assets/{id} as what its bytes are, cached
// for a year, never sniffed, loading nothing.
func TestAssetUploadedThroughTheAPIIsServed(t *testing.T) {
	b := start(t)
	logo := logoPNG(t)
	body, _ := json.Marshal(map[string]any{"kind": "image", "data": base64.StdEncoding.EncodeToString(logo), "contentType": "text/html"})
	req, _ := http.NewRequest(http.MethodPost, b.base+"/v1/assets", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+b.adminToken())
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var up struct{ AssetID, ContentType string }
	_ = json.NewDecoder(res.Body).Decode(&struct {
		AssetID     *string `json:"assetId"`
		ContentType *string `json:"contentType"`
	}{&up.AssetID, &up.ContentType})
	res.Body.Close()
	if res.StatusCode != 200 || up.AssetID != asset.IDOf(logo) || up.ContentType != asset.TypePNG {
		t.Fatalf("upload: %d %+v", res.StatusCode, up)
	}

	res, err = http.Get(b.base + "/ui/assets/" + up.AssetID)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	h := res.Header
	if res.StatusCode != 200 || !bytes.Equal(got, logo) {
		t.Fatalf("GET the asset: %d, %d bytes", res.StatusCode, len(got))
	}
	for name, want := range map[string]string{
		"Content-Type": "image/png", "Cache-Control": "public, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff",
	} {
		if h.Get(name) != want {
			t.Errorf("%s: %q, want %q", name, h.Get(name), want)
		}
	}
	if csp := h.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'") || strings.Contains(csp, "nonce") {
		t.Errorf("Content-Security-Policy: %q", csp)
	}
	// A revalidation is answered without the bytes.
	req, _ = http.NewRequest(http.MethodGet, b.base+"/ui/assets/"+up.AssetID, nil)
	req.Header.Set("If-None-Match", h.Get("ETag"))
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation: %v %v", res, err)
	}

	// Another instance's asset, an unknown id and a malformed one are not
	// found.
	other := logoPNG(t)[:0]
	other = append(other, logo...)
	other = append(other, 0)
	id, err := b.app.Assets().Put(ctx, "another-instance", asset.TypePNG, other)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{id, asset.IDOf([]byte("none")), "..%2f..%2fetc", strings.ToUpper(up.AssetID)} {
		if status, _, _ := b.get("/ui/assets/" + path); status != http.StatusNotFound {
			t.Errorf("GET /ui/assets/%s: %d, want 404", path, status)
		}
	}
}

var accent = regexp.MustCompile(`:root \{ --accent: (#[0-9a-f]{6});`)

// TestBrandingOfTheSignIn: the login shows the instance's branding until
// the user is known, then the branding of the user's organization.
func TestBrandingOfTheSignIn(t *testing.T) {
	b := start(t)
	sc := settings.NewCommands(b.app.Store).WithAssets(b.app.Assets())
	logo, err := asset.Upload(ctx, b.app.Assets(), b.first.InstanceID, asset.KindImage, logoPNG(t))
	if err != nil {
		t.Fatal(err)
	}
	font, err := asset.Upload(ctx, b.app.Assets(), b.first.InstanceID, asset.KindFont, append([]byte("wOF2"), make([]byte, 64)...))
	if err != nil {
		t.Fatal(err)
	}
	acme, err := org.NewCommands(b.app.Store, nil).Create(ctx, eventstore.SystemEditor, b.first.InstanceID, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := user.NewCommands(b.app.Store, b.app.Hasher).Create(ctx, eventstore.SystemEditor, b.first.InstanceID,
		user.New{OrgID: acme, Type: "human", LoginName: "ann", Password: "ann-password-12"}); err != nil {
		t.Fatal(err)
	}
	if err := sc.Set(ctx, eventstore.SystemEditor, b.first.InstanceID, "", settings.Branding{PrimaryColor: "#112233", LogoLight: logo}); err != nil {
		t.Fatal(err)
	}
	if err := sc.Set(ctx, eventstore.SystemEditor, b.first.InstanceID, acme, settings.Branding{
		PrimaryColor: "#aa0000", PrimaryColorDark: "#ffcc00", Font: font, HidePoweredBy: true}); err != nil {
		t.Fatal(err)
	}

	_, _, page := b.get("/ui/login/")
	if m := accent.FindStringSubmatch(page); m == nil || m[1] != "#112233" {
		t.Fatalf("the instance's colour is not on the sign-in page:\n%s", page)
	}
	if !strings.Contains(page, `<img class="logo" src="/ui/assets/`+logo+`" alt="Test">`) || !strings.Contains(page, "Powered by Castellan") {
		t.Fatalf("the instance's logo or the powered-by line is missing:\n%s", page)
	}
	if len(page) >= 50<<10 {
		t.Fatalf("the sign-in page has %d bytes", len(page))
	}
	// Before a factor proves the user, the page does not tell its
	// organization.
	_, path, page := b.post("/ui/login/", "/ui/login/", "loginName", "ann")
	if m := accent.FindStringSubmatch(page); path != "/ui/login/password" || m == nil || m[1] != "#112233" {
		t.Fatalf("the password page: %s\n%s", path, page)
	}
	_, path, page = b.post("/ui/login/password", "/ui/login/password", "password", "ann-password-12")
	if path != "/ui/login/done" {
		t.Fatalf("not signed in: %s\n%s", path, page)
	}
	if m := accent.FindStringSubmatch(page); m == nil || m[1] != "#aa0000" {
		t.Fatalf("the organization's colour does not override the instance's:\n%s", page)
	}
	for _, want := range []string{"--accent: #ffcc00; --on-accent: #000000;", `src: url("/ui/assets/` + font + `")`, `<p class="brand">Test</p>`} {
		if !strings.Contains(page, want) {
			t.Errorf("the organization's page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "Powered by Castellan") || strings.Contains(page, logo) {
		t.Fatalf("the organization hides the powered-by line and sets no logo:\n%s", page)
	}
	// A login name in a domain the organization verified names it: its
	// branding shows from the password page on, for known and unknown
	// names alike.
	domain, err := org.Creation(b.first.InstanceID, acme, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.app.Store.Push(ctx, eventstore.SystemEditor, eventstore.Append{Aggregate: domain.Aggregate, ExpectedSequence: eventstore.AnySequence,
		Events: []eventstore.Payload{&org.DomainAdded{Domain: "acme.example"}, &org.DomainVerified{Domain: "acme.example"}}}); err != nil {
		t.Fatal(err)
	}
	b.post("/ui/login/done", "/ui/login/logout")
	_, path, page = b.post("/ui/login/", "/ui/login/", "loginName", "nobody@acme.example")
	if m := accent.FindStringSubmatch(page); path != "/ui/login/password" || m == nil || m[1] != "#aa0000" {
		t.Fatalf("the password page of a name in the organization's domain: %s\n%s", path, page)
	}
}

func TestPagesLoadFontsOnlyFromTheirOrigin(t *testing.T) {
	b := start(t)
	res, err := b.client.Get(b.base + "/ui/login/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "font-src 'self'") || !strings.Contains(csp, "img-src 'self'") {
		t.Fatalf("Content-Security-Policy: %q", csp)
	}
}
