package grants

import (
	"errors"
	"testing"

	"github.com/castellan-iam/castellan/internal/database/dbtest"
)

// A grant bound to a DPoP key (RFC 9449 section 5) refreshes only with a
// proof of that key; another key, or none, is ErrKeyMismatch and spends
// nothing. The binding survives a rebuild of the read model.
func TestRefreshBound(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		f := newFixture(t, src)
		s := spec("sess-1", true)
		s.DPoPJKT = "jkt-of-the-key"
		first := f.issue(t, s)
		for _, jkt := range []string{"", "jkt-of-another-key"} {
			if _, _, err := f.grants.RefreshBound(ctx, inst, "client-1", first, idle, jkt); !errors.Is(err, ErrKeyMismatch) {
				t.Fatalf("refresh with key %q: %v, want ErrKeyMismatch", jkt, err)
			}
		}
		if g, _, err := f.grants.ByRefreshToken(ctx, inst, first); err != nil || g.DPoPJKT != "jkt-of-the-key" {
			t.Fatalf("the refused refreshes spent the token or lost the key: %+v %v", g, err)
		}
		if _, err := f.store.Rebuild(ctx, Projection{}.Name()); err != nil {
			t.Fatal(err)
		}
		g, next, err := f.grants.RefreshBound(ctx, inst, "client-1", first, idle, "jkt-of-the-key")
		if err != nil || next == "" || g.DPoPJKT != "jkt-of-the-key" {
			t.Fatalf("refresh with the key: %+v %v", g, err)
		}
		// An unbound grant refreshes with or without a key.
		plain := f.issue(t, spec("sess-2", true))
		if _, _, err := f.grants.RefreshBound(ctx, inst, "client-1", plain, idle, "any-key"); err != nil {
			t.Fatal(err)
		}
	})
}
