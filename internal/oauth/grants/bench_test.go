package grants

import (
	"testing"

	"github.com/castellan-iam/castellan/internal/database/dbtest"
)

// BenchmarkRefresh measures one rotation of a refresh token (Refresh: the
// token's row read with its grant, spent, and a new row written, in one
// transaction) on each backend, without HTTP, signing or claims.
func BenchmarkRefresh(b *testing.B) {
	for _, backend := range dbtest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			src := backend.New(b)
			f := newFixture(b, src)
			tok, err := f.grants.Issue(ctx, editor, spec("s-1", true))
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if _, tok, err = f.grants.Refresh(ctx, inst, "client-1", tok, idle); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRefreshParallel is BenchmarkRefresh from 8 goroutines per
// core, each rotating the token of its own grant: the rotations that
// arrive together commit together.
func BenchmarkRefreshParallel(b *testing.B) {
	for _, backend := range dbtest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			f := newFixture(b, backend.New(b))
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				tok, err := f.grants.Issue(ctx, editor, spec("s-1", true))
				if err != nil {
					b.Error(err)
					return
				}
				for pb.Next() {
					if _, tok, err = f.grants.Refresh(ctx, inst, "client-1", tok, idle); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
