package authn

import "testing"

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		header, token string
		ok            bool
	}{
		{"Bearer cst_abc", "cst_abc", true},
		{"bearer cst_abc", "cst_abc", true},
		{"Basic dXNlcjpwdw==", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer a b", "", false},
		{"", "", false},
	} {
		token, ok := bearerToken(tc.header)
		if ok != tc.ok || (ok && token != tc.token) {
			t.Errorf("bearerToken(%q) = %q, %v", tc.header, token, ok)
		}
	}
}

// The Authorization header comes from the network.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer x", "bearer  y", "Bearer\tz", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		token, ok := bearerToken(header)
		if ok && (token == "" || len(token) >= len(header)) {
			t.Fatalf("bearerToken(%q) = %q", header, token)
		}
	})
}
