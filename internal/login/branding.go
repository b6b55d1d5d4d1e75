package login

import (
	"bytes"
	"context"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/castellan-iam/castellan/internal/asset"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/settings"
)

// The branding of a page is the one in force for the organization of the
// sign-in when the login knows it — the user's, once a factor proved the
// user, else the one whose verified domain ends the login name typed — and
// the instance's otherwise. Its colours become CSS variables in a <style>
// element with the page's nonce, after the stylesheet (layout.html); its
// logo, icon and font are loaded from /ui/assets/{id}, which serves the
// instance's assets (package asset) as immutable files.

// assetsPath is where the instance's assets are served.
const assetsPath = asset.PathPrefix

// assetCSP lets an asset's response load and run nothing, should a browser
// be sent to it directly.
const assetCSP = "default-src 'none'; frame-ancestors 'none'; sandbox"

// AssetStore finds the assets of an instance: package asset's Store.
type AssetStore interface {
	Get(ctx context.Context, instanceID, id string) (asset.Asset, error)
}

// brandingView is the branding as the layout shows it. Colours are
// "#rrggbb" (checked again here, so that nothing else reaches the
// stylesheet), URLs are paths under assetsPath.
type brandingView struct {
	Primary, OnPrimary, Background, Warning, Font                     string
	PrimaryDark, OnPrimaryDark, BackgroundDark, WarningDark, FontDark string
	// Logo is shown, with LogoDark instead in dark mode when set.
	Logo, LogoDark string
	Icon, IconDark string
	FontFile       string
	PoweredBy      bool
}

func (h *Handler) brandingRoutes() map[string]http.Handler {
	return map[string]http.Handler{"GET " + assetsPath + "{id}": http.HandlerFunc(h.asset)}
}

// settingsOf are the settings of the page answering r — its branding,
// texts and embedding: those of the sign-in's organization
// (brandingOrg), else the instance's.
func (h *Handler) settingsOf(r *http.Request) settings.Settings {
	s, err := settings.Effective(r.Context(), h.d.DB, instanceID(r), h.brandingOrg(r))
	if err != nil {
		h.d.Log.Warn("login settings", "err", err)
		s = settings.BuiltIn()
	}
	return s
}

// brandingOrg is the organization of the sign-in: the user's once a
// factor proved it, before that the one the login name named, or "".
func (h *Handler) brandingOrg(r *http.Request) string {
	_, s, err := h.current(r)
	if err != nil {
		return ""
	}
	if s.OrgID != "" {
		return s.OrgID
	}
	return s.LoginOrgID
}

func newBrandingView(b settings.Branding) brandingView {
	def := settings.BuiltIn().Branding
	color := func(c, fallback string) string {
		if isColor(c) {
			return c
		}
		return fallback
	}
	v := brandingView{
		Primary: color(b.PrimaryColor, def.PrimaryColor), Background: color(b.BackgroundColor, def.BackgroundColor),
		Warning: color(b.WarningColor, def.WarningColor), Font: color(b.FontColor, def.FontColor),
		PrimaryDark: color(b.PrimaryColorDark, def.PrimaryColorDark), BackgroundDark: color(b.BackgroundColorDark, def.BackgroundColorDark),
		WarningDark: color(b.WarningColorDark, def.WarningColorDark), FontDark: color(b.FontColorDark, def.FontColorDark),
		PoweredBy: !b.HidePoweredBy,
	}
	v.OnPrimary, v.OnPrimaryDark = readableOn(v.Primary), readableOn(v.PrimaryDark)
	v.Logo, v.LogoDark = variants(b.LogoLight, b.LogoDark)
	v.Icon, v.IconDark = variants(b.IconLight, b.IconDark)
	v.FontFile = assetURL(b.Font)
	return v
}

// variants are the URLs of an image with light and dark variants: the
// light one (or the dark one when it is the only one), and a distinct
// dark one or "".
func variants(light, dark string) (string, string) {
	l, d := assetURL(light), assetURL(dark)
	switch {
	case l == "":
		return d, ""
	case d == l:
		return l, ""
	}
	return l, d
}

func assetURL(id string) string {
	if !asset.ValidID(id) {
		return ""
	}
	return assetsPath + id
}

// isColor reports "#rrggbb" in lower case, as settings stores colours.
func isColor(s string) bool {
	if len(s) != 7 || s[0] != '#' {
		return false
	}
	_, err := strconv.ParseUint(s[1:], 16, 32)
	return err == nil && strings.ToLower(s) == s
}

// readableOn is black or white, whichever contrasts more with the
// background color c (WCAG 2 relative luminance).
func readableOn(c string) string {
	n, _ := strconv.ParseUint(c[1:], 16, 32)
	channel := func(shift uint) float64 {
		v := float64((n>>shift)&0xff) / 255
		if v <= 0.04045 {
			return v / 12.92
		}
		return math.Pow((v+0.055)/1.055, 2.4)
	}
	l := 0.2126*channel(16) + 0.7152*channel(8) + 0.0722*channel(0)
	// Contrast with white (1.05 / (l+0.05)) against black ((l+0.05) / 0.05).
	if (l+0.05)*(l+0.05) > 1.05*0.05 {
		return "#000000"
	}
	return "#ffffff"
}

// asset serves an asset of the request's instance: immutable (its id is
// its hash), with the type it was admitted as and nothing sniffed or run.
func (h *Handler) asset(w http.ResponseWriter, r *http.Request) {
	if h.d.Assets == nil {
		http.NotFound(w, r)
		return
	}
	a, err := h.d.Assets.Get(r.Context(), instanceID(r), r.PathValue("id"))
	if failure.Is(err, failure.KindNotFound) || (err == nil && asset.KindOf(a.ContentType) == "") {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		h.d.Log.Error("login asset", "err", err)
		http.Error(w, "internal error", http.StatusServiceUnavailable)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.ContentType)
	hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", assetCSP)
	hd.Set("ETag", `"`+a.ID+`"`)
	http.ServeContent(w, r, "", a.CreatedAt, bytes.NewReader(a.Data))
}
