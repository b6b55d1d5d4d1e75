package asset_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/castellan-iam/castellan/internal/asset"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/failure"
)

var ctx = context.Background()

func TestDBStore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		s := asset.NewDBStore(src.Open(t, asset.Migrations))
		logo := pngOf(t, 8, 8)
		id, err := asset.Upload(ctx, s, "inst-1", asset.KindImage, logo)
		if err != nil {
			t.Fatal(err)
		}
		if id != asset.IDOf(logo) || !asset.ValidID(id) {
			t.Fatalf("id %q, want the SHA-256 of the bytes %q", id, asset.IDOf(logo))
		}
		again, err := asset.Upload(ctx, s, "inst-1", asset.KindImage, logo)
		if err != nil || again != id {
			t.Fatalf("the same bytes again: %q, %v", again, err)
		}
		got, err := s.Get(ctx, "inst-1", id)
		if err != nil {
			t.Fatal(err)
		}
		if got.ContentType != asset.TypePNG || !bytes.Equal(got.Data, logo) || got.ID != id || got.CreatedAt.IsZero() {
			t.Fatalf("got %s %q %d bytes", got.ID, got.ContentType, len(got.Data))
		}
		// Another instance holds nothing of the first's, not even by id.
		if _, err := s.Get(ctx, "inst-2", id); !failure.Is(err, failure.KindNotFound) {
			t.Fatalf("another instance's asset: %v", err)
		}
		for _, bad := range []string{"", "x", id[:63], id + "0", "../" + id[3:], string(bytes.ToUpper([]byte(id)))} {
			if _, err := s.Get(ctx, "inst-1", bad); !failure.Is(err, failure.KindNotFound) {
				t.Fatalf("Get(%q) = %v, want not found", bad, err)
			}
		}
		// Refused bytes are not stored.
		if _, err := asset.Upload(ctx, s, "inst-1", asset.KindImage, []byte("<svg/>")); !failure.Is(err, failure.KindInvalidArgument) {
			t.Fatalf("svg upload: %v", err)
		}
		if _, err := s.Get(ctx, "inst-1", asset.IDOf([]byte("<svg/>"))); !failure.Is(err, failure.KindNotFound) {
			t.Fatalf("a refused upload was stored: %v", err)
		}
	})
}
