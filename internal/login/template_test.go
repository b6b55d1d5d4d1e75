package login

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// autofillFields are the autofill field names of the HTML standard the
// login uses or could ("Autofilling form controls: the autocomplete
// attribute").
var autofillFields = map[string]bool{
	"off": true, "on": true, "name": true, "given-name": true, "additional-name": true, "family-name": true, "nickname": true,
	"username": true, "new-password": true, "current-password": true, "one-time-code": true, "organization": true,
	"email": true, "tel": true, "url": true, "photo": true, "language": true, "bday": true, "street-address": true,
	"postal-code": true, "country": true, "country-name": true, "address-level1": true, "address-level2": true,
}

var autocompleteAttr = regexp.MustCompile(`autocomplete="([^"{]*)"`)

// Every autocomplete attribute is one field name, optionally followed by
// "webauthn": two field names ("email username") are invalid, and
// assistive technology and password managers then ignore the hint (axe's
// rule autocomplete-valid).
func TestAutocompleteIsValid(t *testing.T) {
	err := fs.WalkDir(templateFiles, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(templateFiles, path)
		if err != nil {
			return err
		}
		for _, m := range autocompleteAttr.FindAllStringSubmatch(string(b), -1) {
			tokens := strings.Fields(m[1])
			if len(tokens) == 2 && tokens[1] == "webauthn" {
				tokens = tokens[:1]
			}
			if len(tokens) != 1 || !autofillFields[tokens[0]] {
				t.Errorf("%s: autocomplete=%q", path, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for claim, token := range autocompleteOf {
		if !autofillFields[token] {
			t.Errorf("the claim %s gets autocomplete=%q", claim, token)
		}
	}
}

var doneParameter = regexp.MustCompile(`\?done=([a-z-]+)"`)

// Every page that sends the browser back to the authenticators with
// ?done=… has the notice the page then shows.
func TestEveryDoneHasANotice(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range doneParameter.FindAllStringSubmatch(string(b), -1) {
			n++
			if authenticatorNotices[m[1]] == "" {
				t.Errorf("%s: ?done=%s shows no notice", file, m[1])
			}
		}
	}
	if n == 0 {
		t.Fatal("found no ?done= parameter: the test no longer sees them")
	}
}
