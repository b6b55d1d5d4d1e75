package settingsapi_test

import (
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"

	settingsv1 "github.com/castellan-iam/castellan/gen/castellan/settings/v1"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
)

func texts(lang string, kv ...string) *settingsv1.TextSettings {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return &settingsv1.TextSettings{Languages: map[string]*settingsv1.LanguageTexts{lang: {Texts: m}}}
}

func TestTexts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		f := startWithAssets(t, src)
		acme := f.org(t, "Acme")

		// "ok/keys are listed with their originals"
		keys, err := f.c.ListTextKeys(ctx, as(f.AdminToken, &settingsv1.ListTextKeysRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		found := map[string]string{}
		for _, k := range keys.Msg.GetKeys() {
			found[k.GetKey()] = k.GetOriginal()
		}
		if found["Sign in"] != "Sign in" || !strings.Contains(found["mail.sign_in_code.code"], "%[1]s") {
			t.Fatalf("keys: %d, Sign in %q, mail.sign_in_code.code %q", len(found), found["Sign in"], found["mail.sign_in_code.code"])
		}

		// "ok/an organization overrides the instance"
		if _, err := f.c.SetTextSettings(ctx, as(f.AdminToken, &settingsv1.SetTextSettingsRequest{Texts: texts("en", "Sign in", "Log in")})); err != nil {
			t.Fatal(err)
		}
		status, out := f.rest(t, http.MethodPut, "/v1/settings/texts", map[string]any{"organizationId": acme,
			"texts": map[string]any{"languages": map[string]any{"de": map[string]any{"texts": map[string]any{"Sign in": "Einloggen <b>jetzt</b>", "mail.sign_in_code.code": "Code: %[1]s"}}}}})
		if status != http.StatusOK {
			t.Fatalf("PUT /v1/settings/texts: %d %v", status, out)
		}
		got := f.get(t, f.AdminToken, acme)
		if got.GetTexts().GetLanguages()["de"].GetTexts()["Sign in"] != "Einloggen <b>jetzt</b>" || got.GetTexts().GetLanguages()["en"] != nil || got.GetSources().GetTexts() != ownOrg {
			t.Fatalf("the organization's texts: %v from %v", got.GetTexts(), got.GetSources().GetTexts())
		}
		if inst := f.get(t, f.AdminToken, ""); inst.GetTexts().GetLanguages()["en"].GetTexts()["Sign in"] != "Log in" || inst.GetSources().GetTexts() != instance {
			t.Fatalf("the instance's texts: %v", inst.GetTexts())
		}

		// Refusals name the field.
		for _, tc := range []struct {
			name, field string
			texts       *settingsv1.TextSettings
		}{
			{"fail/an unknown key", `texts.languages["en"]["No such text"]`, texts("en", "No such text", "x")},
			{"fail/an unknown language", `texts.languages["fr"]`, texts("fr", "Sign in", "Se connecter")},
			{"fail/an oversized text", `texts.languages["en"]["Sign in"]`, texts("en", "Sign in", strings.Repeat("x", 1001))},
			{"fail/an empty text", `texts.languages["en"]["Sign in"]`, texts("en", "Sign in", "")},
			{"fail/a line break", `texts.languages["en"]["Sign in"]`, texts("en", "Sign in", "Sign\nin")},
			{"fail/a placeholder the original lacks", `texts.languages["en"]["mail.sign_in_code.code"]`, texts("en", "mail.sign_in_code.code", "%[2]s %[1]s")},
			{"fail/a stray percent sign", `texts.languages["en"]["Sign in"]`, texts("en", "Sign in", "100% in")},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := f.c.SetTextSettings(ctx, as(f.AdminToken, &settingsv1.SetTextSettingsRequest{OrganizationId: acme, Texts: tc.texts}))
				wantField(t, err, tc.field)
			})
		}
		_, err = f.c.SetTextSettings(ctx, as(f.AdminToken, &settingsv1.SetTextSettingsRequest{}))
		wantField(t, err, "texts")

		// "fail/a user without settings.write"
		_, plain := f.user(t, acme, "plain")
		_, err = f.c.SetTextSettings(ctx, as(plain, &settingsv1.SetTextSettingsRequest{OrganizationId: acme, Texts: texts("en", "Sign in", "Hi")}))
		wantCode(t, err, connect.CodePermissionDenied)
	})
}

func TestEmbedding(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		f := startWithAssets(t, src)
		acme := f.org(t, "Acme")
		set := func(orgID string, origins ...string) error {
			_, err := f.c.SetEmbeddingSettings(ctx, as(f.AdminToken, &settingsv1.SetEmbeddingSettingsRequest{OrganizationId: orgID,
				Embedding: &settingsv1.EmbeddingSettings{FrameAncestors: origins}}))
			return err
		}
		if err := set("", "https://App.Example.com:443", "https://portal.example.com:8443", "http://127.0.0.1:3000"); err != nil {
			t.Fatal(err)
		}
		got := f.get(t, f.AdminToken, "").GetEmbedding().GetFrameAncestors()
		if strings.Join(got, " ") != "https://app.example.com https://portal.example.com:8443 http://127.0.0.1:3000" {
			t.Fatalf("stored origins: %v", got)
		}
		if org := f.get(t, f.AdminToken, acme); strings.Join(org.GetEmbedding().GetFrameAncestors(), " ") != strings.Join(got, " ") {
			t.Fatalf("an organization sees the instance's embedding: %v", org.GetEmbedding())
		}
		for _, tc := range []struct{ name, origin string }{
			{"fail/a wildcard host", "https://*.example.com"},
			{"fail/any origin", "*"},
			{"fail/a path", "https://app.example.com/login"},
			{"fail/a query", "https://app.example.com?x=1"},
			{"fail/http to a public host", "http://app.example.com"},
			{"fail/a keyword", "'self'"},
			{"fail/two origins in one", "https://a.example.com https://b.example.com"},
			{"fail/another scheme", "javascript://x"},
			{"fail/a user", "https://u@app.example.com"},
		} {
			t.Run(tc.name, func(t *testing.T) { wantField(t, set("", tc.origin), "embedding.frameAncestors[0]") })
		}
		wantField(t, set("", "https://a.example.com", "https://A.example.com:443"), "embedding.frameAncestors[1]")
		// "fail/an organization cannot set it"
		wantField(t, set(acme, "https://app.example.com"), "organizationId")
	})
}
