package credential

import (
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/failure"
)

func TestCheckComplexity(t *testing.T) {
	strict := DefaultPolicy
	strict.MinPasswordLength, strict.RequireUpper, strict.RequireDigit, strict.RequireSymbol = 12, true, true, true
	for _, tc := range []struct {
		name    string
		pol     Policy
		pw      string
		missing string // "" when accepted
	}{
		{"ok/default policy, eight characters", DefaultPolicy, "abcdefgh", ""},
		{"fail/seven characters", DefaultPolicy, "abcdefg", "8 to 1024"},
		{"fail/over 1024 bytes", DefaultPolicy, strings.Repeat("a", 1025), "8 to 1024"},
		{"ok/characters, not bytes, count", DefaultPolicy, "äöüäöüäö", ""},
		{"fail/strict policy names everything missing", strict, "abcdefgh", "at least 12 characters, an upper-case letter, a digit, a symbol"},
		{"ok/strict policy met", strict, "Abcdefgh1234!", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.pol.CheckComplexity(tc.pw)
			if tc.missing == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !failure.Is(err, failure.KindInvalidArgument) || !strings.Contains(err.Error(), tc.missing) {
				t.Fatalf("got %v, want one naming %q", err, tc.missing)
			}
		})
	}
}
