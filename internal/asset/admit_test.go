package asset_test

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/asset"
	"github.com/castellan-iam/castellan/internal/failure"
)

// pngOf encodes a w×h PNG.
func pngOf(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	img.Set(0, 0, color.NRGBA{R: 200, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// woff2 is the start of a WOFF2 file (the header's signature and flavor).
var woff2 = append([]byte("wOF2\x00\x01\x00\x00"), make([]byte, 40)...)

func TestAdmit(t *testing.T) {
	png := pngOf(t, 16, 16)
	for _, tc := range []struct {
		name string
		kind asset.Kind
		data []byte
		want string // the content type, or a part of the refusal
		ok   bool
	}{
		{"ok/png", asset.KindImage, png, asset.TypePNG, true},
		{"ok/gif", asset.KindImage, gifOf(t), asset.TypeGIF, true},
		{"ok/webp", asset.KindImage, []byte("RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"), asset.TypeWebP, true},
		{"ok/ico", asset.KindImage, append([]byte{0, 0, 1, 0, 1, 0}, make([]byte, 16)...), asset.TypeICO, true},
		{"ok/woff2 font", asset.KindFont, woff2, asset.TypeWOFF2, true},
		{"ok/woff font", asset.KindFont, append([]byte("wOFF"), make([]byte, 40)...), asset.TypeWOFF, true},
		{"fail/svg", asset.KindImage, []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), "SVG is not accepted", false},
		{"fail/svg behind an XML declaration and a BOM", asset.KindImage, []byte("\xef\xbb\xbf\n<?xml version=\"1.0\"?><svg/>"), "SVG is not accepted", false},
		{"fail/svg behind a doctype", asset.KindImage, []byte("<!DOCTYPE svg><svg onload=alert(1)/>"), "SVG is not accepted", false},
		{"fail/html", asset.KindImage, []byte("<html><script>alert(1)</script>"), "is not an image", false},
		{"fail/empty", asset.KindImage, nil, "required", false},
		{"fail/oversize image", asset.KindImage, append(png[:len(png):len(png)], make([]byte, asset.MaxImageBytes)...), "the limit for the kind image is 512 KiB", false},
		{"fail/oversize font", asset.KindFont, append(woff2[:len(woff2):len(woff2)], make([]byte, asset.MaxFontBytes)...), "the limit for the kind font is 1024 KiB", false},
		{"fail/a font as an image", asset.KindImage, woff2, "is not an image", false},
		{"fail/an image as a font", asset.KindFont, png, "is not a font", false},
		{"fail/truetype", asset.KindFont, append([]byte{0, 1, 0, 0}, make([]byte, 40)...), "convert the font to WOFF2", false},
		{"fail/truncated png", asset.KindImage, png[:20], "not a readable png image", false},
		{"fail/a huge png", asset.KindImage, pngOf(t, asset.MaxImageSide+1, 1), "at most 4096×4096 pixels", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct, err := asset.Admit(tc.kind, tc.data)
			if tc.ok {
				if err != nil || ct != tc.want {
					t.Fatalf("Admit = %q, %v; want %q", ct, err, tc.want)
				}
				return
			}
			var fe *failure.Error
			if !errors.As(err, &fe) || fe.Kind != failure.KindInvalidArgument || fe.Field != asset.Field || !strings.Contains(fe.Message, tc.want) {
				t.Fatalf("Admit = %q, %v; want invalid argument on %q saying %q", ct, err, asset.Field, tc.want)
			}
		})
	}
}

func TestAdmitRefusesAnUnknownKind(t *testing.T) {
	_, err := asset.Admit("script", []byte("x"))
	var fe *failure.Error
	if !errors.As(err, &fe) || fe.Field != "kind" {
		t.Fatalf("Admit of kind script = %v", err)
	}
}

func gifOf(t testing.TB) []byte {
	t.Helper()
	// A 1×1 GIF.
	return []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
}

// FuzzAdmit: whatever the bytes, Admit does not panic, and what it admits
// is of the kind asked for, within the limit, and sniffed again the same.
func FuzzAdmit(f *testing.F) {
	f.Add("image", pngOf(f, 2, 2))
	f.Add("image", []byte("<svg/>"))
	f.Add("image", []byte("RIFF\x00\x00\x00\x00WEBPVP8 "))
	f.Add("image", []byte{0, 0, 1, 0, 1, 0})
	f.Add("font", woff2)
	f.Add("font", []byte("OTTO"))
	f.Fuzz(func(t *testing.T, kind string, data []byte) {
		ct, err := asset.Admit(asset.Kind(kind), data)
		if err != nil {
			if failure.KindOf(err) != failure.KindInvalidArgument {
				t.Fatalf("Admit failed with %v, not an invalid argument", err)
			}
			return
		}
		if asset.KindOf(ct) != asset.Kind(kind) {
			t.Fatalf("Admit(%q) admitted %q", kind, ct)
		}
		if limit := map[string]int{"image": asset.MaxImageBytes, "font": asset.MaxFontBytes}[kind]; len(data) > limit || len(data) == 0 {
			t.Fatalf("Admit(%q) admitted %d bytes", kind, len(data))
		}
		if again, err := asset.Admit(asset.Kind(kind), data); err != nil || again != ct {
			t.Fatalf("Admit is not stable: %q then %q, %v", ct, again, err)
		}
	})
}
