package keyring

import (
	"bytes"
	"errors"
	"testing"
)

func TestDeriveKey(t *testing.T) {
	k1, k2 := mustKey(t, "k1", 1), mustKey(t, "k2", 2)
	old := mustRing(t, k1)
	rotated := mustRing(t, k2, k1)
	derive := func(r *Ring, id, purpose string) []byte {
		t.Helper()
		b, err := r.DeriveKey(id, purpose)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != 32 {
			t.Fatalf("derived %d bytes, want 32", len(b))
		}
		return b
	}
	a := derive(old, "k1", "cursor")
	if !bytes.Equal(a, derive(mustRing(t, k1), "k1", "cursor")) {
		t.Error("two rings with one key derive different keys: replicas would disagree")
	}
	if !bytes.Equal(a, derive(rotated, "k1", "cursor")) {
		t.Error("a retired key derives another key after a rotation")
	}
	if bytes.Equal(a, derive(old, "k1", "other purpose")) {
		t.Error("two purposes share a key")
	}
	if bytes.Equal(a, derive(rotated, "k2", "cursor")) {
		t.Error("two ring keys derive the same key")
	}
	if bytes.Contains(a, k1.Secret[:8]) {
		t.Error("the derived key exposes the secret")
	}
	if _, err := old.DeriveKey("k2", "cursor"); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("deriving from a key the ring lacks: %v, want ErrUnknownKey", err)
	}
	if _, err := old.DeriveKey("k1", ""); err == nil {
		t.Error("derived a key without a purpose")
	}
}
