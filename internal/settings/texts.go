package settings

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/castellan-iam/castellan/internal/failure"
)

// Texts are a level's own words for the hosted login and its emails, per
// language: each replaces the text of a key of a message catalogue (the
// login's keys are its English texts, the emails' are "mail." and the
// mail catalogue's key). Like every group they are set whole: an
// organization that sets texts replaces the instance's. A text is plain
// text — the login and the emails escape it like any other string, so
// markup in it shows as written and never runs. A text may use the
// placeholders of its original (%[1]s …), and no others.
type Texts struct {
	// Languages maps a language the catalogues speak ("en", "de") to its
	// texts by key.
	Languages map[string]map[string]string `json:"languages,omitempty"`
}

// Bounds of texts.
const (
	MaxTextBytes        = 1000
	MaxTextsPerLanguage = 500
)

// TextLanguages are the languages texts may be set for: those of the
// login's and the emails' catalogues.
var TextLanguages = []string{"en", "de"}

// textKeys are the keys texts may replace, with their English originals,
// as the catalogues registered them (RegisterTexts).
var textKeys = struct {
	sync.RWMutex
	originals map[string]string
}{originals: map[string]string{}}

// RegisterTexts adds keys a level's texts may replace, each with its
// English original (whose placeholders a text may use). The message
// catalogues (packages login and mail) register theirs when the program
// starts.
func RegisterTexts(originals map[string]string) {
	textKeys.Lock()
	defer textKeys.Unlock()
	for k, v := range originals {
		textKeys.originals[k] = v
	}
}

// TextKeys lists the keys texts may replace, sorted.
func TextKeys() []string {
	textKeys.RLock()
	defer textKeys.RUnlock()
	keys := make([]string, 0, len(textKeys.originals))
	for k := range textKeys.originals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TextOriginal is the English original of a key texts may replace.
func TextOriginal(key string) (string, bool) { return original(key) }

func original(key string) (string, bool) {
	textKeys.RLock()
	defer textKeys.RUnlock()
	o, ok := textKeys.originals[key]
	return o, ok
}

// verb matches a fmt verb as the catalogues write them.
var verb = regexp.MustCompile(`%(\[[0-9]+\])?[a-zA-Z%]|%`)

// Group is the group of texts.
func (Texts) Group() Group { return GroupTexts }

// Validate checks the texts: known languages and keys, bounded plain
// text, the original's placeholders only.
func (t Texts) Validate() (Value, error) {
	out := Texts{}
	for lang, texts := range t.Languages {
		field := fmt.Sprintf("texts.languages[%q]", lang)
		if !slices.Contains(TextLanguages, lang) {
			return nil, failure.InvalidArgument(field, "%q is not a language of the catalogues; they are %s", lang, strings.Join(TextLanguages, ", "))
		}
		if len(texts) > MaxTextsPerLanguage {
			return nil, failure.InvalidArgument(field, "at most %d texts per language", MaxTextsPerLanguage)
		}
		if len(texts) == 0 {
			continue
		}
		keep := make(map[string]string, len(texts))
		for key, text := range texts {
			kf := fmt.Sprintf("%s[%q]", field, truncate(key, 80))
			orig, ok := original(key)
			if !ok {
				return nil, failure.InvalidArgument(kf, "is not a key of the message catalogues (GET /v1/settings/texts/keys lists them)")
			}
			if text == "" || len(text) > MaxTextBytes || !utf8.ValidString(text) {
				return nil, failure.InvalidArgument(kf, "a text has 1 to %d bytes of UTF-8", MaxTextBytes)
			}
			if strings.IndexFunc(text, unicode.IsControl) >= 0 {
				return nil, failure.InvalidArgument(kf, "a text has no control characters (line breaks included)")
			}
			allowed := verb.FindAllString(orig, -1)
			for _, v := range verb.FindAllString(text, -1) {
				if v != "%%" && !slices.Contains(allowed, v) {
					return nil, failure.InvalidArgument(kf, "%q is not a placeholder of the original %q (write %%%% for a percent sign)", v, orig)
				}
			}
			keep[key] = text
		}
		if out.Languages == nil {
			out.Languages = map[string]map[string]string{}
		}
		out.Languages[lang] = keep
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// TextsSet sets the texts of a level.
type TextsSet struct{ Texts }

// TextsReset falls back to the texts of the level above.
type TextsReset struct{}

func (TextsSet) EventType() string   { return "settings.texts.set" }
func (TextsReset) EventType() string { return "settings.texts.reset" }
func (e *TextsSet) value() Value     { return e.Texts }
func (*TextsReset) group() Group     { return GroupTexts }

// Text returns the level's text of key in lang, if it sets one.
func (t Texts) Text(lang, key string) (string, bool) {
	s, ok := t.Languages[lang][key]
	return s, ok
}

// FormatText fills a text's placeholders with args as fmt would — %[n]s
// is the n-th, a bare %s or %d the next — without fmt's complaints about
// arguments a text leaves out; "%%" is a percent sign. A placeholder
// without an argument stays as written.
func FormatText(text string, args ...any) string {
	if !strings.Contains(text, "%") {
		return text
	}
	next := 0
	return verb.ReplaceAllStringFunc(text, func(v string) string {
		if v == "%%" {
			return "%"
		}
		if v == "%" {
			return v
		}
		i := next
		if strings.HasPrefix(v, "%[") {
			n, _ := strconv.Atoi(v[2:strings.IndexByte(v, ']')])
			i = n - 1
		}
		next = i + 1
		if i < 0 || i >= len(args) {
			return v
		}
		return fmt.Sprintf("%"+v[len(v)-1:], args[i])
	})
}
