package asset

import (
	"bytes"
	"encoding/binary"
	"image"
	_ "image/gif"  // image.DecodeConfig of GIF
	_ "image/jpeg" // image.DecodeConfig of JPEG
	_ "image/png"  // image.DecodeConfig of PNG
	"strings"

	"github.com/castellan-iam/castellan/internal/failure"
)

// Kind is what an asset is used as.
type Kind string

// The kinds.
const (
	KindImage Kind = "image"
	KindFont  Kind = "font"
)

// The size limits of an upload.
const (
	MaxImageBytes = 512 << 10
	MaxFontBytes  = 1 << 20
	// MaxImageSide bounds the width and height of a PNG, JPEG or GIF.
	MaxImageSide = 4096
)

// The content types Castellan admits and serves.
const (
	TypePNG   = "image/png"
	TypeJPEG  = "image/jpeg"
	TypeGIF   = "image/gif"
	TypeWebP  = "image/webp"
	TypeICO   = "image/x-icon"
	TypeWOFF2 = "font/woff2"
	TypeWOFF  = "font/woff"
)

// Field is the request field an admission failure names.
const Field = "data"

// KindOf is the kind of a content type Admit returns, or "" for another.
func KindOf(contentType string) Kind {
	switch contentType {
	case TypePNG, TypeJPEG, TypeGIF, TypeWebP, TypeICO:
		return KindImage
	case TypeWOFF2, TypeWOFF:
		return KindFont
	}
	return ""
}

// ParseKind reads a kind as the API spells it.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case KindImage, KindFont:
		return k, nil
	}
	return "", failure.InvalidArgument("kind", "%q is not a kind of asset; the kinds are image and font", s)
}

// Admit checks an upload of kind k and returns its content type, sniffed
// from the bytes: PNG, JPEG, GIF, WebP or ICO for an image, WOFF2 or WOFF
// for a font. A declared type is never consulted. Too large, empty,
// unknown or SVG content is failure.InvalidArgument naming Field.
func Admit(k Kind, data []byte) (string, error) {
	limit := MaxImageBytes
	switch k {
	case KindImage:
	case KindFont:
		limit = MaxFontBytes
	default:
		return "", failure.InvalidArgument("kind", "%q is not a kind of asset; the kinds are image and font", k)
	}
	if len(data) == 0 {
		return "", failure.InvalidArgument(Field, "required")
	}
	if len(data) > limit {
		return "", failure.InvalidArgument(Field, "is %d KiB; the limit for the kind %s is %d KiB", (len(data)+1023)>>10, k, limit>>10)
	}
	ct := sniff(data)
	switch {
	case ct == "" && looksLikeSVG(data):
		return "", failure.InvalidArgument(Field, "SVG is not accepted, as it can carry scripts; upload the %s as PNG, WebP, JPEG, GIF or ICO", k)
	case ct == "" && k == KindFont && isSFNT(data):
		return "", failure.InvalidArgument(Field, "TrueType and OpenType fonts are not accepted; convert the font to WOFF2 (or WOFF)")
	case ct == "" || KindOf(ct) != k:
		if k == KindFont {
			return "", failure.InvalidArgument(Field, "is not a font: WOFF2 or WOFF are accepted")
		}
		return "", failure.InvalidArgument(Field, "is not an image: PNG, WebP, JPEG, GIF or ICO are accepted")
	}
	if err := checkImage(ct, data); err != nil {
		return "", err
	}
	return ct, nil
}

// sniff names the format of data by its magic bytes, or "".
func sniff(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return TypePNG
	case bytes.HasPrefix(data, []byte{0xff, 0xd8, 0xff}):
		return TypeJPEG
	case bytes.HasPrefix(data, []byte("GIF87a")), bytes.HasPrefix(data, []byte("GIF89a")):
		return TypeGIF
	case len(data) >= 16 && string(data[:4]) == "RIFF" && string(data[8:15]) == "WEBPVP8":
		return TypeWebP
	case len(data) >= 6 && bytes.HasPrefix(data, []byte{0, 0, 1, 0}) && binary.LittleEndian.Uint16(data[4:6]) > 0:
		return TypeICO
	case bytes.HasPrefix(data, []byte("wOF2")):
		return TypeWOFF2
	case bytes.HasPrefix(data, []byte("wOFF")):
		return TypeWOFF
	}
	return ""
}

// checkImage decodes the header of a PNG, JPEG or GIF: a file that only
// begins like one is refused, as is one larger than MaxImageSide.
func checkImage(ct string, data []byte) error {
	switch ct {
	case TypePNG, TypeJPEG, TypeGIF:
	default:
		return nil
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return failure.InvalidArgument(Field, "is not a readable %s image", strings.TrimPrefix(ct, "image/"))
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > MaxImageSide || cfg.Height > MaxImageSide {
		return failure.InvalidArgument(Field, "an image is at most %d×%d pixels", MaxImageSide, MaxImageSide)
	}
	return nil
}

// looksLikeSVG reports text that begins like XML or an <svg> element,
// after a byte order mark and white space.
func looksLikeSVG(data []byte) bool {
	head := bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	head = bytes.TrimLeft(head, " \t\r\n")
	if len(head) > 4096 {
		head = head[:4096]
	}
	lower := bytes.ToLower(head)
	return bytes.HasPrefix(lower, []byte("<?xml")) || bytes.HasPrefix(lower, []byte("<svg")) ||
		(bytes.HasPrefix(lower, []byte("<")) && bytes.Contains(lower, []byte("<svg")))
}

// isSFNT reports a TrueType or OpenType font.
func isSFNT(data []byte) bool {
	return bytes.HasPrefix(data, []byte{0, 1, 0, 0}) || bytes.HasPrefix(data, []byte("OTTO")) || bytes.HasPrefix(data, []byte("true"))
}
