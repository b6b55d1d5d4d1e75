package settings

import (
	"context"
	"fmt"
	"strings"

	"github.com/castellan-iam/castellan/internal/asset"
	"github.com/castellan-iam/castellan/internal/failure"
)

// Branding is how the hosted login looks: its colours in light and dark
// mode, its logo and icon (light and dark variants) and font as asset ids
// (package asset), and whether it says "Powered by Castellan".
//
// A colour is "#rrggbb", stored in lower case; a colour left empty in a
// Set is the built-in one (the login's stylesheet's), so that the stored
// group always names every colour. An asset left empty is none: the
// instance's name instead of a logo, the browser's icon, the system font.
// A dark variant left empty is the light one.
type Branding struct {
	PrimaryColor    string `json:"primaryColor"`
	BackgroundColor string `json:"backgroundColor"`
	WarningColor    string `json:"warningColor"`
	FontColor       string `json:"fontColor"`
	// The colours of dark mode (prefers-color-scheme: dark).
	PrimaryColorDark    string `json:"primaryColorDark"`
	BackgroundColorDark string `json:"backgroundColorDark"`
	WarningColorDark    string `json:"warningColorDark"`
	FontColorDark       string `json:"fontColorDark"`
	// Images (asset kind image) and a font (kind font), by asset id.
	LogoLight string `json:"logoLight"`
	LogoDark  string `json:"logoDark"`
	IconLight string `json:"iconLight"`
	IconDark  string `json:"iconDark"`
	Font      string `json:"font"`
	// HidePoweredBy hides "Powered by Castellan".
	HidePoweredBy bool `json:"hidePoweredBy"`
}

// BrandingSet sets the branding of a level.
type BrandingSet struct{ Branding }

// BrandingReset falls back to the branding of the level above.
type BrandingReset struct{}

func (BrandingSet) EventType() string   { return "settings.branding.set" }
func (BrandingReset) EventType() string { return "settings.branding.reset" }

func (e *BrandingSet) value() Value { return e.Branding }
func (*BrandingReset) group() Group { return GroupBranding }
func (Branding) Group() Group       { return GroupBranding }

// builtInBranding is the look of the login's stylesheet.
var builtInBranding = Branding{
	PrimaryColor: "#1f5fbf", BackgroundColor: "#f4f5f7", WarningColor: "#a61b1b", FontColor: "#1b1f24",
	PrimaryColorDark: "#8ab4f8", BackgroundColorDark: "#15171a", WarningColorDark: "#ff8a80", FontColorDark: "#e8eaed",
}

// colorField is a colour of the branding, its field name and built-in
// value.
type colorField struct {
	field string
	value *string
	def   string
}

func (b *Branding) colors() []colorField {
	d := builtInBranding
	return []colorField{
		{"branding.primaryColor", &b.PrimaryColor, d.PrimaryColor},
		{"branding.backgroundColor", &b.BackgroundColor, d.BackgroundColor},
		{"branding.warningColor", &b.WarningColor, d.WarningColor},
		{"branding.fontColor", &b.FontColor, d.FontColor},
		{"branding.primaryColorDark", &b.PrimaryColorDark, d.PrimaryColorDark},
		{"branding.backgroundColorDark", &b.BackgroundColorDark, d.BackgroundColorDark},
		{"branding.warningColorDark", &b.WarningColorDark, d.WarningColorDark},
		{"branding.fontColorDark", &b.FontColorDark, d.FontColorDark},
	}
}

// assetField is an asset the branding refers to, its field name and the
// kind it must be.
type assetField struct {
	field string
	id    string
	kind  asset.Kind
}

func (b Branding) assets() []assetField {
	return []assetField{
		{"branding.logoLight", b.LogoLight, asset.KindImage},
		{"branding.logoDark", b.LogoDark, asset.KindImage},
		{"branding.iconLight", b.IconLight, asset.KindImage},
		{"branding.iconDark", b.IconDark, asset.KindImage},
		{"branding.font", b.Font, asset.KindFont},
	}
}

// Validate checks the branding: colours "#rrggbb" (empty: the built-in
// one), returned in lower case; asset ids empty or shaped as ids. That
// the assets exist is checked by Commands.Set.
func (b Branding) Validate() (Value, error) {
	for _, c := range b.colors() {
		if *c.value == "" {
			*c.value = c.def
			continue
		}
		if !isColor(*c.value) {
			return nil, failure.InvalidArgument(c.field, "%q is not a colour like #1f5fbf", clip(*c.value))
		}
		*c.value = strings.ToLower(*c.value)
	}
	for _, a := range b.assets() {
		if a.id != "" && !asset.ValidID(a.id) {
			return nil, failure.InvalidArgument(a.field, "%q is not an asset id (UploadAsset returns them)", clip(a.id))
		}
	}
	return b, nil
}

// isColor reports "#rrggbb".
func isColor(s string) bool {
	if len(s) != 7 || s[0] != '#' {
		return false
	}
	for i := 1; i < 7; i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}

// clip shortens a refused value for its message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Assets finds the files a branding refers to: package asset's Store.
type Assets interface {
	Get(ctx context.Context, instanceID, id string) (asset.Asset, error)
}

// WithAssets makes c check that the assets a branding refers to exist in
// the instance and are of their field's kind (images for logos and
// icons, a font for the font). Without it, a branding that refers to an
// asset is refused.
func (c *Commands) WithAssets(a Assets) *Commands {
	cp := *c
	cp.assets = a
	return &cp
}

// checkAssets checks the assets of b: each must be one of the instance's,
// of the kind its field needs; failure.InvalidArgument naming the field
// otherwise.
func (c *Commands) checkAssets(ctx context.Context, instanceID string, b Branding) error {
	for _, f := range b.assets() {
		if f.id == "" {
			continue
		}
		if c.assets == nil {
			return failure.FailedPrecondition("this server keeps no assets; %s cannot be set", f.field)
		}
		a, err := c.assets.Get(ctx, instanceID, f.id)
		if failure.Is(err, failure.KindNotFound) {
			return failure.InvalidArgument(f.field, "no asset %s was uploaded to this instance", f.id)
		}
		if err != nil {
			return fmt.Errorf("settings: asset of %s: %w", f.field, err)
		}
		if k := asset.KindOf(a.ContentType); k != f.kind {
			return failure.InvalidArgument(f.field, "asset %s is a %s (%s), not a %s", f.id, k, a.ContentType, f.kind)
		}
	}
	return nil
}
