package keyring

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestGenerateKey(t *testing.T) {
	k1, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if len(k1.Secret) != SecretSize {
		t.Errorf("secret is %d bytes, want %d", len(k1.Secret), SecretSize)
	}
	if len(k1.ID) != 9 || k1.ID[0] != 'k' {
		t.Errorf("ID %q, want k followed by 8 hex digits", k1.ID)
	}
	if k1.ID == k2.ID || bytes.Equal(k1.Secret, k2.Secret) {
		t.Error("two generated keys are equal")
	}
	parsed, err := ParseKey(k1.String())
	if err != nil {
		t.Fatalf("ParseKey(String()): %v", err)
	}
	if parsed.ID != k1.ID || !bytes.Equal(parsed.Secret, k1.Secret) {
		t.Error("ParseKey(String()) does not give the key back")
	}
}

func TestParseKey(t *testing.T) {
	secret := bytes.Repeat([]byte{0xAB}, SecretSize)
	b64 := base64.StdEncoding.EncodeToString(secret)
	short := base64.StdEncoding.EncodeToString(secret[:16])
	long := base64.StdEncoding.EncodeToString(append(secret, secret...))

	tests := []struct {
		name    string
		in      string
		wantID  string
		wantErr string
		secret  string // must not appear in the error
	}{
		{name: "ok/id and base64", in: "main-2024_01:" + b64, wantID: "main-2024_01"},
		{name: "ok/surrounding white space is ignored", in: "  k1:" + b64 + "\n", wantID: "k1"},
		{name: "ok/id of 32 characters", in: strings.Repeat("a", 32) + ":" + b64, wantID: strings.Repeat("a", 32)},
		{name: "fail/no colon", in: b64, wantErr: "form ID:BASE64", secret: b64},
		{name: "fail/empty id", in: ":" + b64, wantErr: "key id must be", secret: b64},
		{name: "fail/id too long", in: strings.Repeat("a", 33) + ":" + b64, wantErr: "key id must be", secret: b64},
		{name: "fail/id with a dot", in: "k.1:" + b64, wantErr: "key id must be", secret: b64},
		{name: "fail/secret and id swapped", in: b64 + ":k1", wantErr: "key id must be", secret: b64},
		{name: "fail/bad base64", in: "k1:" + b64[:20] + "!" + b64[21:], wantErr: "not valid standard base64", secret: b64[:20]},
		{name: "fail/url-safe base64 is not standard", in: "k1:" + strings.ReplaceAll(base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xFB}, 32)), "=", ""), wantErr: "not valid standard base64"},
		{name: "fail/secret too short", in: "k1:" + short, wantErr: "secret must be 32 bytes, got 16", secret: short},
		{name: "fail/secret too long", in: "k1:" + long, wantErr: "secret must be 32 bytes, got 64", secret: long},
		{name: "fail/empty secret", in: "k1:", wantErr: "secret must be 32 bytes, got 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseKey(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseKey: %v", err)
				}
				if k.ID != tt.wantID || !bytes.Equal(k.Secret, secret) {
					t.Errorf("got ID %q, secret %x", k.ID, k.Secret)
				}
				return
			}
			if err == nil {
				t.Fatal("ParseKey succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}

func TestKeyFormattingHidesSecret(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(k.Secret)
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("key", "key", k)
	outputs := map[string]string{
		"%v":   fmt.Sprintf("%v", k),
		"%+v":  fmt.Sprintf("%+v", k),
		"%#v":  fmt.Sprintf("%#v", k),
		"%s":   fmt.Sprintf("%s", k),
		"%x":   fmt.Sprintf("%x", k),
		"slog": logged.String(),
	}
	for verb, out := range outputs {
		if strings.Contains(out, b64) || strings.Contains(out, fmt.Sprintf("%x", k.Secret)) {
			t.Errorf("%s shows the secret: %s", verb, out)
		}
		if !strings.Contains(out, k.ID) {
			t.Errorf("%s does not show the ID: %s", verb, out)
		}
	}
	if !strings.Contains(k.String(), b64) {
		t.Error("String() does not contain the secret, so the key cannot be stored")
	}
}

func FuzzParseKey(f *testing.F) {
	f.Add("k1:" + base64.StdEncoding.EncodeToString(make([]byte, 32)))
	f.Add("k1:AAAA")
	f.Add(":")
	f.Add("no colon")
	f.Add("a:b:c")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKey(s)
		if err != nil {
			// Long secrets must never be echoed. (Short ones could match the
			// message's own words by chance.)
			if _, secret, ok := strings.Cut(s, ":"); ok && len(strings.TrimSpace(secret)) >= 16 &&
				strings.Contains(err.Error(), strings.TrimSpace(secret)) {
				t.Fatalf("error %q contains the secret part of %q", err, s)
			}
			return
		}
		if len(k.Secret) != SecretSize || !validID(k.ID) {
			t.Fatalf("ParseKey(%q) accepted a malformed key", s)
		}
		again, err := ParseKey(k.String())
		if err != nil || again.ID != k.ID || !bytes.Equal(again.Secret, k.Secret) {
			t.Fatalf("String() of %q does not parse back: %v", s, err)
		}
	})
}
