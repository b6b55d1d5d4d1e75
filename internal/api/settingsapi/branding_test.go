package settingsapi_test

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/png"
	"net/http"
	"testing"

	"connectrpc.com/connect"

	settingsv1 "github.com/castellan-iam/castellan/gen/castellan/settings/v1"
	"github.com/castellan-iam/castellan/gen/castellan/settings/v1/settingsv1connect"
	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/api/settingsapi"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/asset"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
)

func startWithAssets(t *testing.T, src dbtest.Source) *fixture {
	env := apitest.StartOn(t, src, func(a *app.App, auth *authn.Authenticator) []api.Service {
		return []api.Service{settingsapi.NewService(a.Store, auth).WithAssets(a.Assets())}
	})
	return &fixture{Env: env, c: settingsv1connect.NewSettingsServiceClient(env.Client, env.URL)}
}

func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestBrandingWithUploadedAssets(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		f := startWithAssets(t, src)
		acme := f.org(t, "Acme")
		logo := pngBytes(t, 20, 10)

		// Uploaded through REST, declared as SVG: the bytes say PNG.
		status, out := f.rest(t, http.MethodPost, "/v1/assets", map[string]any{
			"organizationId": acme, "kind": "image", "data": base64.StdEncoding.EncodeToString(logo), "contentType": "image/svg+xml"})
		if status != http.StatusOK || out["assetId"] != asset.IDOf(logo) || out["contentType"] != asset.TypePNG {
			t.Fatalf("POST /v1/assets: %d %v", status, out)
		}
		logoID := asset.IDOf(logo)
		font := append([]byte("wOF2"), make([]byte, 100)...)
		up, err := f.c.UploadAsset(ctx, as(f.AdminToken, &settingsv1.UploadAssetRequest{Kind: "font", Data: font}))
		if err != nil || up.Msg.GetAssetId() != asset.IDOf(font) || up.Msg.GetContentType() != asset.TypeWOFF2 {
			t.Fatalf("UploadAsset of a font: %v %v", up, err)
		}

		// Refusals name their field.
		for _, tc := range []struct {
			name, field string
			req         *settingsv1.UploadAssetRequest
		}{
			{"fail/svg declared as png", "data", &settingsv1.UploadAssetRequest{Kind: "image", ContentType: "image/png", Data: []byte(`<svg onload="alert(1)"/>`)}},
			{"fail/oversize", "data", &settingsv1.UploadAssetRequest{Kind: "image", Data: append(logo[:len(logo):len(logo)], make([]byte, asset.MaxImageBytes)...)}},
			{"fail/a png as a font", "data", &settingsv1.UploadAssetRequest{Kind: "font", Data: logo}},
			{"fail/no kind", "kind", &settingsv1.UploadAssetRequest{Data: logo}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := f.c.UploadAsset(ctx, as(f.AdminToken, tc.req))
				wantField(t, err, tc.field)
			})
		}
		_, err = f.c.UploadAsset(ctx, as("", &settingsv1.UploadAssetRequest{Kind: "image", Data: logo}))
		wantCode(t, err, connect.CodeUnauthenticated)
		// A user without settings.write on the instance may not upload.
		_, plain := f.user(t, acme, "plain")
		_, err = f.c.UploadAsset(ctx, as(plain, &settingsv1.UploadAssetRequest{Kind: "image", Data: logo}))
		wantCode(t, err, connect.CodePermissionDenied)

		// The organization's branding refers to the uploads.
		_, err = f.c.SetBrandingSettings(ctx, as(f.AdminToken, &settingsv1.SetBrandingSettingsRequest{OrganizationId: acme,
			Branding: &settingsv1.BrandingSettings{PrimaryColor: "#AA0000", LogoLight: logoID, Font: up.Msg.GetAssetId(), HidePoweredBy: true}}))
		if err != nil {
			t.Fatal(err)
		}
		got := f.get(t, f.AdminToken, acme)
		b := got.GetBranding()
		if b.GetPrimaryColor() != "#aa0000" || b.GetLogoLight() != logoID || b.GetFont() != up.Msg.GetAssetId() || !b.GetHidePoweredBy() ||
			b.GetBackgroundColor() != "#f4f5f7" || got.GetSources().GetBranding() != ownOrg {
			t.Fatalf("the organization's branding: %v from %v", b, got.GetSources().GetBranding())
		}
		if inst := f.get(t, f.AdminToken, ""); inst.GetSources().GetBranding() != builtIn || inst.GetBranding().GetHidePoweredBy() {
			t.Fatalf("the instance's branding: %v", inst.GetBranding())
		}

		for _, tc := range []struct {
			name, field string
			b           *settingsv1.BrandingSettings
		}{
			{"fail/a colour name", "branding.primaryColor", &settingsv1.BrandingSettings{PrimaryColor: "red"}},
			{"fail/css injection", "branding.fontColorDark", &settingsv1.BrandingSettings{FontColorDark: "#000;}body{display:none"}},
			{"fail/an asset never uploaded", "branding.logoDark", &settingsv1.BrandingSettings{LogoDark: asset.IDOf([]byte("never"))}},
			{"fail/a font as the icon", "branding.iconLight", &settingsv1.BrandingSettings{IconLight: up.Msg.GetAssetId()}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := f.c.SetBrandingSettings(ctx, as(f.AdminToken, &settingsv1.SetBrandingSettingsRequest{OrganizationId: acme, Branding: tc.b}))
				wantField(t, err, tc.field)
			})
		}
		if status, out := f.rest(t, http.MethodPut, "/v1/settings/branding", map[string]any{"branding": map[string]any{"warningColor": "#ff0000"}}); status != http.StatusOK {
			t.Fatalf("PUT /v1/settings/branding: %d %v", status, out)
		}
		if status, _ := f.rest(t, http.MethodPost, "/v1/settings/branding:reset", map[string]any{"organizationId": acme}); status != http.StatusOK {
			t.Fatalf("reset: %d", status)
		}
		if got := f.get(t, f.AdminToken, acme); got.GetSources().GetBranding() != instance || got.GetBranding().GetWarningColor() != "#ff0000" {
			t.Fatalf("after the organization's reset: %v", got.GetBranding())
		}
	})
}
