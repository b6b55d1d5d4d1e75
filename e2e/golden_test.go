package e2e

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// jsonType names the JSON type of a decoded value.
func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64, json.Number:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

var updateGolden = flag.Bool("update-golden", false, "rewrite e2e/testdata/*.golden.json")

// goldenJSON compares a JSON document with e2e/testdata/name.golden.json:
// its members, their types, and the values of the members not in vary;
// those vary from run to run (times, ids, the server's port) and are
// replaced by their JSON type. -update-golden rewrites the file.
func goldenJSON(t *testing.T, name string, doc map[string]any, vary ...string) {
	t.Helper()
	shape := map[string]any{}
	for k, v := range doc {
		shape[k] = v
	}
	for _, k := range vary {
		if v, ok := shape[k]; ok {
			shape[k] = "<" + jsonType(v) + ">"
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(shape); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	path := filepath.Join("testdata", name+".golden.json")
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-golden to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed; got:\n%s", path, got)
	}
}
