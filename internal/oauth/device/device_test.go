package device

import (
	"strings"
	"testing"
)

func TestUserCode(t *testing.T) {
	for range 100 {
		c, err := newUserCode()
		if err != nil {
			t.Fatal(err)
		}
		if NormalizeUserCode(FormatUserCode(c)) != c || NormalizeUserCode(strings.ToLower(c)) != c {
			t.Fatalf("%q does not survive formatting", c)
		}
	}
	for _, bad := range []string{"", "BCDF-GHJ", "BCDF-GHJKL", "ABCD-EFGH", "BCDF-GHJ1", "BCDF\x00GHJK", strings.Repeat("B", 40)} {
		if NormalizeUserCode(bad) != "" {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzNormalizeUserCode(f *testing.F) {
	f.Add("bcdf-ghjk")
	f.Add("BCDF GHJK")
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeUserCode(s)
		if n == "" {
			return
		}
		if len(n) != 8 || strings.Trim(n, userCodeAlphabet) != "" {
			t.Fatalf("%q normalized to %q", s, n)
		}
	})
}
