package app

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/api/eventapi"
)

// notCredentials are byte fields of event payloads that hold no credential
// material: the audit trail shows them.
var notCredentials = map[string]bool{
	"user.metadata.set/value": true, "org.metadata.set/value": true,
	// A passkey's public key proves nothing by itself.
	"user.passkey.added/publicKey": true,
}

// TestAuditRedactsCredentials: every byte field of every event payload —
// where hashes, seeds, codes, sealed secrets and keys live — is redacted by
// the event API, unless it is known to hold none. A new event with a
// credential field fails here until its name says so or it is reviewed.
func TestAuditRedactsCredentials(t *testing.T) {
	bytesType := reflect.TypeOf([]byte(nil))
	raw := reflect.TypeOf(json.RawMessage(nil))
	for _, p := range Registry().Payloads() {
		var walk func(reflect.Type)
		walk = func(typ reflect.Type) {
			for i := range typ.NumField() {
				f := typ.Field(i)
				if f.Anonymous && f.Type.Kind() == reflect.Struct {
					walk(f.Type)
					continue
				}
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if name == "" || name == "-" {
					name = f.Name
				}
				credentialish := f.Type == bytesType || (f.Type.Kind() == reflect.Slice && f.Type.Elem() == bytesType)
				if f.Type == raw {
					credentialish = false
				}
				if credentialish && !eventapi.Sensitive(name) && !notCredentials[p.EventType()+"/"+name] {
					t.Errorf("%s: field %q holds bytes the audit trail would show; name it as a credential or list it in notCredentials", p.EventType(), name)
				}
			}
		}
		walk(reflect.TypeOf(p).Elem())
	}
}
