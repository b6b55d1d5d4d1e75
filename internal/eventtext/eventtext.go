package eventtext

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/language"
)

// Languages the descriptions are written in, the hosted login's; the first
// is the default.
var Languages = []language.Tag{language.English, language.German}

var matcher = language.NewMatcher(Languages)

// Bounds of what a request may ask for.
const (
	maxLanguage       = 35
	maxAcceptLanguage = 1000
	// maxValue bounds a field's value in a description, in characters.
	maxValue = 80
)

// Match picks the language of the descriptions: lang when given (a BCP 47
// tag, "de", "en-GB"), then the Accept-Language header, then English. A
// language the catalogue lacks falls back to the nearest it has. lang that
// is not a language tag is an error; an unreadable header is ignored, as
// browsers' headers are.
func Match(lang, acceptLanguage string) (language.Tag, error) {
	var prefs []language.Tag
	if lang != "" {
		t, err := language.Parse(lang)
		if err != nil || len(lang) > maxLanguage {
			return language.English, fmt.Errorf("%q is not a language tag such as \"en\" or \"de\"", truncate(lang, maxLanguage))
		}
		prefs = append(prefs, t)
	}
	if acceptLanguage != "" && len(acceptLanguage) <= maxAcceptLanguage {
		if tags, _, err := language.ParseAcceptLanguage(acceptLanguage); err == nil {
			prefs = append(prefs, tags...)
		}
	}
	_, i, _ := matcher.Match(prefs...)
	return Languages[i], nil
}

// Has reports whether the catalogue describes eventType in lang.
func Has(lang language.Tag, eventType string) bool {
	t, ok := catalogue[eventType]
	if !ok {
		return false
	}
	return t.in(lang) != ""
}

// Describe is the description of an event of eventType in lang, its
// placeholders filled from payload: the event's fields by JSON name, after
// the event API's redaction. An event type the catalogue lacks (an event of
// a newer binary) gets a sentence naming its type.
func Describe(lang language.Tag, eventType string, payload map[string]any) string {
	t, ok := catalogue[eventType]
	if !ok {
		return fill(unknown.in(lang), map[string]any{"type": eventType})
	}
	tmpl := t.in(lang)
	if tmpl == "" {
		tmpl = t.en
	}
	return fill(tmpl, payload)
}

// Placeholders lists the field names a template uses.
func Placeholders(tmpl string) []string {
	var out []string
	for {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(tmpl[i:], '}')
		if j < 0 {
			return out
		}
		out = append(out, tmpl[i+1:i+j])
		tmpl = tmpl[i+j+1:]
	}
}

// fill replaces each {name} with the value of the payload's field name:
// text, a number or a truth value, cut to maxValue characters; "–" for a
// field that is absent, empty or not a single value.
func fill(tmpl string, payload map[string]any) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			b.WriteString(tmpl)
			return b.String()
		}
		j := strings.IndexByte(tmpl[i:], '}')
		if j < 0 {
			b.WriteString(tmpl)
			return b.String()
		}
		b.WriteString(tmpl[:i])
		b.WriteString(value(payload[tmpl[i+1:i+j]]))
		tmpl = tmpl[i+j+1:]
	}
}

func value(v any) string {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case float64:
		s = fmt.Sprint(v)
	case bool:
		s = fmt.Sprint(v)
	case int, int64:
		s = fmt.Sprint(v)
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if s == "" {
		return "–"
	}
	return truncate(s, maxValue)
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// PlaceholdersOf lists the fields the descriptions of eventType name, in
// every language.
func PlaceholdersOf(eventType string) []string {
	t := catalogue[eventType]
	return append(Placeholders(t.en), Placeholders(t.de)...)
}
