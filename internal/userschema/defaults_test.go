package userschema

import (
	"errors"
	"maps"
	"slices"
	"testing"
)

func TestDefaultSchemas(t *testing.T) {
	human, err := Compile(HumanID, 1, Human)
	if err != nil {
		t.Fatalf("human: %v", err)
	}
	machine, err := Compile(MachineID, 1, Machine)
	if err != nil {
		t.Fatalf("machine: %v", err)
	}

	t.Run("ok/human claims are the OIDC standard claims", func(t *testing.T) {
		want := map[string]string{
			"/profile/given_name":         "given_name",
			"/profile/family_name":        "family_name",
			"/profile/nick_name":          "nickname",
			"/profile/display_name":       "name",
			"/profile/preferred_language": "locale",
			"/profile/gender":             "gender",
			"/profile/avatar_url":         "picture",
		}
		if got := human.Claims(); !maps.Equal(got, want) {
			t.Errorf("claims = %v, want %v", got, want)
		}
		if got := human.SAMLAttributes()["/profile/given_name"]; got != "urn:oid:2.5.4.42" {
			t.Errorf("givenName attribute = %q", got)
		}
	})
	t.Run("ok/authenticators", func(t *testing.T) {
		if got, want := human.Authenticators(), []string{"password", "passkey", "totp", "otp_email", "otp_sms", "idp", "pat"}; !slices.Equal(got, want) {
			t.Errorf("human = %v, want %v", got, want)
		}
		if got, want := machine.Authenticators(), []string{"machine_key", "pat", "client_certificate"}; !slices.Equal(got, want) {
			t.Errorf("machine = %v, want %v", got, want)
		}
	})
	t.Run("ok/no unique fields", func(t *testing.T) {
		if len(human.UniqueFields()) != 0 || len(machine.UniqueFields()) != 0 {
			t.Error("a default schema has unique fields")
		}
	})

	tests := []struct {
		name     string
		schema   *Schema
		traits   string
		pointers []string // of the violations; nil means valid
	}{
		{name: "ok/human without traits", schema: human, traits: `{}`},
		{name: "ok/human with a full profile", schema: human, traits: `{"profile": {"given_name": "Ada", "family_name": "Lovelace", "nick_name": "ada", "display_name": "Ada Lovelace", "preferred_language": "en-GB", "gender": "female", "avatar_url": "https://example.com/ada.png"}}`},
		{name: "ok/human language tags", schema: human, traits: `{"profile": {"preferred_language": "zh-Hant-TW"}}`},
		{name: "ok/human three-letter language with numeric region", schema: human, traits: `{"profile": {"preferred_language": "gsw-419"}}`},
		{name: "fail/human profile", schema: human, traits: `{"profile": {"given_name": "", "preferred_language": "English", "gender": "robot", "avatar_url": "javascript:alert(1)", "email": "a@example.com"}, "email": "a@example.com"}`,
			pointers: []string{"/email", "/profile/avatar_url", "/profile/email", "/profile/gender", "/profile/given_name", "/profile/preferred_language"}},
		{name: "fail/human avatar is not a URI", schema: human, traits: `{"profile": {"avatar_url": "https://exa mple.com/%zz"}}`, pointers: []string{"/profile/avatar_url"}},
		{name: "ok/machine", schema: machine, traits: `{"name": "ci-runner", "description": "Deploys main"}`},
		{name: "fail/machine without a name", schema: machine, traits: `{"description": "?"}`, pointers: []string{"/name"}},
		{name: "fail/machine with an empty name and a profile", schema: machine, traits: `{"name": "", "profile": {}}`, pointers: []string{"/name", "/profile"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.schema.Validate([]byte(tt.traits))
			if tt.pointers == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("err = %v, want a *ValidationError", err)
			}
			var got []string
			for _, v := range verr.Violations {
				got = append(got, v.Pointer)
			}
			if !slices.Equal(got, tt.pointers) {
				t.Errorf("violations at %v, want %v (%v)", got, tt.pointers, err)
			}
		})
	}

	t.Run("ok/a human edits the profile but not the root", func(t *testing.T) {
		if err := human.CheckWritable(nil, []byte(`{"profile": {"given_name": "Ada"}}`), Self); err != nil {
			t.Error(err)
		}
		filtered, err := human.FilterReadable([]byte(`{"profile": {"given_name": "Ada"}}`), Self)
		if err != nil || string(filtered) != `{"profile":{"given_name":"Ada"}}` {
			t.Errorf("FilterReadable = %s, %v", filtered, err)
		}
	})
	t.Run("fail/a machine cannot rename itself", func(t *testing.T) {
		err := machine.CheckWritable([]byte(`{"name": "a"}`), []byte(`{"name": "b"}`), Self)
		if err == nil {
			t.Fatal("a machine renamed itself")
		}
		if err := machine.CheckWritable([]byte(`{"name": "a"}`), []byte(`{"name": "b"}`), Admin); err != nil {
			t.Errorf("admin: %v", err)
		}
		filtered, err := machine.FilterReadable([]byte(`{"name": "a"}`), Self)
		if err != nil || string(filtered) != `{"name":"a"}` {
			t.Errorf("FilterReadable = %s, %v", filtered, err)
		}
	})
}
