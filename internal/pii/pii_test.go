package pii

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/keyring"
)

func TestSealOpenErase(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		ctx := context.Background()
		db := src.Open(t, Migrations)
		key, _ := keyring.GenerateKey()
		ring, _ := keyring.New(key)
		k := New(ring)
		var a, b []byte
		err := db.InTx(ctx, func(tx *database.Tx) error {
			var err error
			if a, err = k.Seal(ctx, tx, "inst", "alice", []byte("alice@example.com")); err != nil {
				return err
			}
			b, err = k.Seal(ctx, tx, "inst", "bob", []byte("bob@example.com"))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(a, []byte("alice")) {
			t.Fatal("sealed data holds the plaintext")
		}
		open := k.Opener(ctx, db.Reader())
		if got, err := open("inst", "alice", a); err != nil || string(got) != "alice@example.com" {
			t.Fatalf("open: %q %v", got, err)
		}
		if _, err := open("inst", "bob", a); err == nil {
			t.Fatal("alice's data opened with bob's key")
		}
		if _, err := open("other", "alice", a); !errors.Is(err, eventstore.ErrErased) {
			t.Fatalf("another instance's subject: %v", err)
		}
		if err := db.InTx(ctx, func(tx *database.Tx) error { return k.Erase(ctx, tx, "inst", "alice") }); err != nil {
			t.Fatal(err)
		}
		fresh := k.Opener(ctx, db.Reader())
		if _, err := fresh("inst", "alice", a); !errors.Is(err, eventstore.ErrErased) {
			t.Fatalf("after erasure: %v", err)
		}
		if got, err := fresh("inst", "bob", b); err != nil || string(got) != "bob@example.com" {
			t.Fatalf("bob after alice's erasure: %q %v", got, err)
		}
	})
}
