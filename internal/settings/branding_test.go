package settings

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"slices"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/asset"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/eventstore/eventstoretest"
	"github.com/castellan-iam/castellan/internal/failure"
)

func brandingSetup(t *testing.T) (*eventstoretest.Store, *Commands, *asset.DBStore) {
	t.Helper()
	s := eventstoretest.New(t, inst, registerEvents, append(migrations(), asset.Migrations...), projections()...)
	s.Given(t, orgCreated(t, "o1", "Acme"), orgCreated(t, "o2", "Globex"))
	assets := asset.NewDBStore(s.DB())
	return s, NewCommands(s.Store).WithAssets(assets), assets
}

func logoPNG(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 4, 2))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestBrandingOfAnOrganizationOverridesTheInstance(t *testing.T) {
	s, c, assets := brandingSetup(t)
	logo, err := asset.Upload(ctx, assets, inst, asset.KindImage, logoPNG(t))
	must(t, err)
	must(t, c.Set(ctx, editor, inst, "", Branding{PrimaryColor: "#112233"}))
	must(t, c.Set(ctx, editor, inst, "o1", Branding{PrimaryColor: "#AABBCC", LogoLight: logo, HidePoweredBy: true}))

	// Colours left out are the built-in ones; colours are stored in lower case.
	want := builtInBranding
	want.PrimaryColor = "#112233"
	acme := builtInBranding
	acme.PrimaryColor, acme.LogoLight, acme.HidePoweredBy = "#aabbcc", logo, true
	s.Then(t, &BrandingSet{want}, &BrandingSet{acme})

	if got := effective(t, s.DB(), "o1"); got.Branding != acme || got.Sources[GroupBranding] != LevelOrganization {
		t.Fatalf("o1: %+v from %s", got.Branding, got.Sources[GroupBranding])
	}
	if got := effective(t, s.DB(), "o2"); got.Branding != want || got.Sources[GroupBranding] != LevelInstance {
		t.Fatalf("o2: %+v from %s", got.Branding, got.Sources[GroupBranding])
	}
	must(t, c.Reset(ctx, editor, inst, "", GroupBranding))
	if got := effective(t, s.DB(), "o2"); got.Branding != builtInBranding || got.Sources[GroupBranding] != LevelBuiltIn {
		t.Fatalf("after the reset: %+v from %s", got.Branding, got.Sources[GroupBranding])
	}
	// Setting the same value again appends nothing.
	must(t, c.Set(ctx, editor, inst, "o1", Branding{PrimaryColor: "#aabbcc", LogoLight: logo, HidePoweredBy: true}))
	s.Then(t, &BrandingSet{want}, &BrandingSet{acme}, &BrandingReset{})
}

func TestBrandingIsRefusedNamingTheField(t *testing.T) {
	s, c, assets := brandingSetup(t)
	logo, err := asset.Upload(ctx, assets, inst, asset.KindImage, logoPNG(t))
	must(t, err)
	font, err := asset.Upload(ctx, assets, inst, asset.KindFont, append([]byte("wOF2"), make([]byte, 60)...))
	must(t, err)
	foreign, err := asset.Upload(ctx, assets, "inst-2", asset.KindImage, append(logoPNG(t), 0))
	must(t, err)
	for _, tc := range []struct {
		name, field string
		branding    Branding
	}{
		{"fail/a colour name", "branding.primaryColor", Branding{PrimaryColor: "red"}},
		{"fail/css in a colour", "branding.backgroundColor", Branding{BackgroundColor: "#fff;}body{background:url(x)"}},
		{"fail/three digits", "branding.warningColor", Branding{WarningColor: "#abc"}},
		{"fail/not hex", "branding.fontColor", Branding{FontColor: "#12345g"}},
		{"fail/a dark colour", "branding.fontColorDark", Branding{FontColorDark: "rgb(0,0,0)"}},
		{"fail/not an asset id", "branding.logoLight", Branding{LogoLight: "../../etc/passwd"}},
		{"fail/an asset never uploaded", "branding.logoDark", Branding{LogoDark: asset.IDOf([]byte("nothing"))}},
		{"fail/another instance's asset", "branding.iconLight", Branding{IconLight: foreign}},
		{"fail/a font as a logo", "branding.iconDark", Branding{IconDark: font}},
		{"fail/an image as the font", "branding.font", Branding{Font: logo}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Set(ctx, editor, inst, "o1", tc.branding)
			var fe *failure.Error
			if !errors.As(err, &fe) || fe.Kind != failure.KindInvalidArgument || fe.Field != tc.field {
				t.Fatalf("got %v, want invalid argument on %s", err, tc.field)
			}
		})
	}
	s.Then(t)
	// Without an asset store, a branding with assets is refused; one
	// without is not.
	plain := NewCommands(s.Store)
	if err := plain.Set(ctx, editor, inst, "", Branding{LogoLight: logo}); !failure.Is(err, failure.KindFailedPrecondition) ||
		!strings.Contains(err.Error(), "branding.logoLight") {
		t.Fatalf("without an asset store: %v", err)
	}
	must(t, plain.Set(ctx, editor, inst, "", Branding{FontColor: "#000000"}))
}

func TestBrandingOnBothBackends(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		db := src.Open(t, append(append(slices.Clone(eventstore.Migrations), migrations()...), asset.Migrations...))
		r := eventstore.NewRegistry()
		registerEvents(r)
		store, err := eventstore.New(db, r, projections(), eventstore.Options{})
		must(t, err)
		_, err = store.Push(ctx, eventstore.SystemEditor, orgCreated(t, "o1", "Acme"))
		must(t, err)
		assets := asset.NewDBStore(db)
		c := NewCommands(store).WithAssets(assets)
		logo, err := asset.Upload(ctx, assets, inst, asset.KindImage, logoPNG(t))
		must(t, err)
		must(t, c.Set(ctx, editor, inst, "o1", Branding{LogoLight: logo, LogoDark: logo, PrimaryColor: "#000000"}))
		got := effective(t, db, "o1")
		if got.Branding.LogoDark != logo || got.Branding.PrimaryColor != "#000000" || got.Sources[GroupBranding] != LevelOrganization {
			t.Fatalf("%+v", got.Branding)
		}
	})
}
