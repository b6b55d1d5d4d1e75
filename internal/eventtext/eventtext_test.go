package eventtext

import (
	"strings"
	"testing"

	"golang.org/x/text/language"
)

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		field, header string
		want          language.Tag
	}{
		{"", "", language.English},
		{"de", "", language.German},
		{"de-AT", "en", language.German},
		{"", "fr-FR, de;q=0.8, en;q=0.5", language.German},
		{"fr", "", language.English},
		{"", "not a header ;;; q=", language.English},
		{"en", "de", language.English},
	} {
		got, err := Match(c.field, c.header)
		if err != nil || got != c.want {
			t.Errorf("Match(%q, %q) = %v, %v; want %v", c.field, c.header, got, err, c.want)
		}
	}
	if _, err := Match("no such language!", ""); err == nil || !strings.Contains(err.Error(), "language tag") {
		t.Fatalf("a bad tag: %v", err)
	}
	if _, err := Match(strings.Repeat("a", 200), ""); err == nil {
		t.Fatal("an overlong tag was accepted")
	}
}

func TestDescribe(t *testing.T) {
	p := map[string]any{"key": "admin", "name": "Line\nbreak " + strings.Repeat("x", 200)}
	if got := Describe(language.German, "project.role.added", p); got != "Die Rolle admin wurde dem Projekt hinzugefügt." {
		t.Errorf("de: %q", got)
	}
	if got := Describe(language.English, "project.role.added", map[string]any{}); got != "Role – was added to the project." {
		t.Errorf("absent field: %q", got)
	}
	got := Describe(language.English, "group.added", p)
	if strings.ContainsAny(got, "\n") || !strings.HasSuffix(got, "… was added.") || len([]rune(got)) > 120 {
		t.Errorf("a long value with a control character: %q", got)
	}
	if got := Describe(language.English, "group.added", map[string]any{"name": map[string]any{"a": "b"}}); got != "Group – was added." {
		t.Errorf("a nested value: %q", got)
	}
	if got := Describe(language.German, "no.such.type", nil); got != "Ein Ereignis vom Typ no.such.type wurde aufgezeichnet." {
		t.Errorf("unknown: %q", got)
	}
	if ph := Placeholders("a {b} c {d}{e"); len(ph) != 2 || ph[0] != "b" || ph[1] != "d" {
		t.Errorf("placeholders %v", ph)
	}
}

// FuzzMatch: any language field and header pick a supported language or
// fail with an error, never panic.
func FuzzMatch(f *testing.F) {
	f.Add("de", "en-US,en;q=0.9")
	f.Add("", "*;q=0.1, de-CH")
	f.Add("x-private", "")
	f.Fuzz(func(t *testing.T, field, header string) {
		got, err := Match(field, header)
		if err == nil && got != language.English && got != language.German {
			t.Fatalf("Match(%q, %q) = %v", field, header, got)
		}
	})
}
