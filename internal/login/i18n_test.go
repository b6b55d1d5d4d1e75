package login

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// templateKey is a catalogue key a template translates: {{t "…"}}.
var templateKey = regexp.MustCompile(`\{\{\s*t\s+"((?:[^"\\]|\\.)*)"`)

// viewFields are the fields of a page's data whose text the templates
// translate ({{t .Title}}, {{t .Error}} …): a string given to them in the
// code is a catalogue key.
var viewFields = map[string]bool{
	"Title": true, "Error": true, "Notice": true, "Label": true, "Intro": true, "Button": true, "Failed": true,
	"OrgError": true, "EmailError": true, "PasswordError": true, "ErrorKey": true,
}

// Every string the pages show is in the German catalogue: the keys of the
// templates, the strings the code gives the fields the templates
// translate, the messages of failed steps and the tables of labels and
// notices. A string missing from it would show in English on a German
// page.
func TestEveryStringIsTranslated(t *testing.T) {
	keys := map[string]string{} // key → where it is used
	err := fs.WalkDir(templateFiles, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(templateFiles, path)
		if err != nil {
			return err
		}
		for _, m := range templateKey.FindAllStringSubmatch(string(b), -1) {
			k, err := strconv.Unquote(`"` + m[1] + `"`)
			if err != nil {
				t.Errorf("%s: %q: %v", path, m[1], err)
				continue
			}
			keys[k] = path
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") || file == "i18n.go" {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		add := func(e ast.Expr) {
			if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && s != "" {
					keys[s] = fset.Position(lit.Pos()).String()
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.KeyValueExpr:
				if id, ok := n.Key.(*ast.Ident); ok && viewFields[id.Name] {
					add(n.Value)
				}
			case *ast.AssignStmt:
				if len(n.Lhs) == len(n.Rhs) {
					for i, l := range n.Lhs {
						switch l := l.(type) {
						case *ast.SelectorExpr:
							if viewFields[l.Sel.Name] {
								add(n.Rhs[i])
							}
						case *ast.Ident:
							// notice := "…" (then view{Notice: notice})
							if viewFields[strings.ToUpper(l.Name[:1])+l.Name[1:]] {
								add(n.Rhs[i])
							}
						}
					}
				}
			case *ast.CallExpr:
				// h.failed(w, r, page, v, err, checkFailed)
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "failed" && len(n.Args) > 0 {
					add(n.Args[len(n.Args)-1])
				}
			}
			return true
		})
	}
	for _, f := range codeFactors {
		keys[f.label], keys[f.notice] = "codeFactors", "codeFactors"
	}
	for _, n := range authenticatorNotices {
		keys[n] = "authenticatorNotices"
	}
	for _, n := range scopeText {
		keys[n] = "scopeText"
	}

	if len(keys) < 100 {
		t.Fatalf("found only %d strings: the test no longer sees them", len(keys))
	}
	for k, where := range keys {
		_, ok := messages[k]
		if _, passkey := passkeyMessages[k]; !ok && !passkey {
			t.Errorf("%s: %q has no German translation", where, k)
		}
	}
}
