package op

import (
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/oauth/authreq"
)

// TestFAPICodeLifetime: the profile's authorization codes live at most 60
// s (FAPI 2.0 Security Profile section 5.3.2.1); every client's code
// lives authreq.CodeLifetime, so that constant may not grow past it.
func TestFAPICodeLifetime(t *testing.T) {
	if authreq.CodeLifetime > 60*time.Second {
		t.Fatalf("authorization codes live %s; FAPI 2.0 allows at most 60 s", authreq.CodeLifetime)
	}
}
