package eventapi

import (
	"testing"
)

func TestRedact(t *testing.T) {
	in := map[string]any{"hash": "h", "secretId": "s1", "secretSealed": "x", "nested": []any{map[string]any{"seed": "s", "code": "c", "name": "n"}},
		"refreshTokenHash": "r", "privateKey": "k", "accessTokenType": "jwt"}
	out := redact(in).(map[string]any)
	for _, k := range []string{"hash", "secretSealed", "refreshTokenHash", "privateKey"} {
		if out[k] != "[redacted]" {
			t.Errorf("%s = %v", k, out[k])
		}
	}
	nested := out["nested"].([]any)[0].(map[string]any)
	if nested["seed"] != "[redacted]" || nested["code"] != "[redacted]" || nested["name"] != "n" || out["secretId"] != "s1" || out["accessTokenType"] != "jwt" {
		t.Fatalf("redacted %v", out)
	}
}

func FuzzParseAfter(f *testing.F) {
	f.Add("12.345")
	f.Add("-1.2")
	f.Add("1.")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseAfter(s)
		if err != nil {
			return
		}
		if p.TxID < 0 || p.Global < 0 {
			t.Fatalf("%q gave %v", s, p)
		}
		if q, err := parseAfter(p.String()); err != nil || q != p {
			t.Fatalf("%q: round trip %v %v", s, q, err)
		}
	})
}
