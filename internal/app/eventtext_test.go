package app

import (
	"reflect"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/api/eventapi"
	"github.com/castellan-iam/castellan/internal/eventtext"
)

// TestEveryEventTypeIsDescribed: every event type the binary registers has
// a description in every language the console speaks, and each
// placeholder of it names a plain field of the payload that holds no
// credential material. A new event type fails here until it is described.
func TestEveryEventTypeIsDescribed(t *testing.T) {
	for _, p := range Registry().Payloads() {
		typ := reflect.TypeOf(p).Elem()
		fields := map[string]reflect.Type{}
		var walk func(reflect.Type)
		walk = func(typ reflect.Type) {
			for i := range typ.NumField() {
				f := typ.Field(i)
				if f.Anonymous && f.Type.Kind() == reflect.Struct {
					walk(f.Type)
					continue
				}
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if name == "-" {
					continue
				}
				if name == "" {
					name = f.Name
				}
				fields[name] = f.Type
			}
		}
		walk(typ)
		for _, lang := range eventtext.Languages {
			if !eventtext.Has(lang, p.EventType()) {
				t.Errorf("%s has no description in %s; add one to package eventtext's catalogue", p.EventType(), lang)
				continue
			}
		}
		for _, name := range eventtext.PlaceholdersOf(p.EventType()) {
			ft, ok := fields[name]
			switch {
			case !ok:
				t.Errorf("%s: the description names {%s}, which the payload lacks", p.EventType(), name)
			case eventapi.Sensitive(name):
				t.Errorf("%s: the description names {%s}, which holds credential material", p.EventType(), name)
			default:
				switch ft.Kind() {
				case reflect.String, reflect.Bool, reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint32, reflect.Uint64:
				default:
					t.Errorf("%s: the description names {%s}, which is not a single value (%s)", p.EventType(), name, ft)
				}
			}
		}
	}
}
