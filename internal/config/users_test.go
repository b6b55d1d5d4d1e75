package config

import (
	"strings"
	"testing"
)

func TestAllowMixedScriptLoginNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		env  map[string]string
		args []string
		want bool
	}{
		{name: "ok/off by default", want: false},
		{name: "ok/from the file", file: "users: {allow_mixed_script_login_names: true}\n", want: true},
		{name: "ok/from the environment", env: map[string]string{"CASTELLAN_USERS_ALLOW_MIXED_SCRIPT_LOGIN_NAMES": "true"}, want: true},
		{name: "ok/the flag alone", args: []string{"--users-allow-mixed-script-login-names"}, want: true},
		{name: "ok/the flag overrides the environment", env: map[string]string{"CASTELLAN_USERS_ALLOW_MIXED_SCRIPT_LOGIN_NAMES": "true"},
			args: []string{"--users-allow-mixed-script-login-names=false"}, want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{}
			for k, v := range tc.env {
				vars[k] = v
			}
			if tc.file != "" {
				vars["CASTELLAN_CONFIG"] = writeConfig(t, tc.file)
			}
			c, err := Load(tc.args, env(vars))
			if err != nil {
				t.Fatal(err)
			}
			if c.Users.AllowMixedScriptLoginNames != tc.want {
				t.Fatalf("users.allow_mixed_script_login_names = %v, want %v", c.Users.AllowMixedScriptLoginNames, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		file string
		want string
	}{
		{name: "fail/yes is not a boolean", env: map[string]string{"CASTELLAN_USERS_ALLOW_MIXED_SCRIPT_LOGIN_NAMES": "yes"},
			want: `users.allow_mixed_script_login_names (from CASTELLAN_USERS_ALLOW_MIXED_SCRIPT_LOGIN_NAMES): must be true or false, got "yes"`},
		{name: "fail/a list in the file", file: "users: {allow_mixed_script_login_names: [true]}\n",
			want: `users.allow_mixed_script_login_names (from `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{}
			for k, v := range tc.env {
				vars[k] = v
			}
			if tc.file != "" {
				vars["CASTELLAN_CONFIG"] = writeConfig(t, tc.file)
			}
			_, err := Load(nil, env(vars))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
