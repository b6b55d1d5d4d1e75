package keyring

import (
	"bytes"
	"errors"
	"testing"
)

func mustKey(t testing.TB, id string, fill byte) Key {
	t.Helper()
	return Key{ID: id, Secret: bytes.Repeat([]byte{fill}, SecretSize)}
}

func mustRing(t testing.TB, current Key, retired ...Key) *Ring {
	t.Helper()
	r, err := New(current, retired...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		current Key
		retired []Key
		wantErr string
	}{
		{name: "ok/current only", current: mustKey(t, "k1", 1)},
		{name: "ok/current and retired", current: mustKey(t, "k2", 2), retired: []Key{mustKey(t, "k1", 1)}},
		{name: "fail/duplicate id", current: mustKey(t, "k1", 1), retired: []Key{mustKey(t, "k1", 2)}, wantErr: "used twice"},
		{name: "fail/short secret", current: Key{ID: "k1", Secret: make([]byte, 16)}, wantErr: "must be 32 bytes"},
		{name: "fail/bad id in retired key", current: mustKey(t, "k1", 1), retired: []Key{mustKey(t, "k 2", 2)}, wantErr: "key id must be"},
		{name: "fail/zero key", current: Key{}, wantErr: "key id must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(tt.current, tt.retired...)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if r.CurrentID() != tt.current.ID {
					t.Errorf("CurrentID() = %q, want %q", r.CurrentID(), tt.current.ID)
				}
				return
			}
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tt.wantErr)) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestEncryptDecrypt(t *testing.T) {
	r := mustRing(t, mustKey(t, "k1", 1))
	tests := []struct {
		name      string
		plaintext []byte
		ad        []byte
	}{
		{name: "ok/text with associated data", plaintext: []byte("totp seed"), ad: []byte("instance-1/user-7/totp")},
		{name: "ok/empty plaintext", plaintext: []byte{}, ad: []byte("x")},
		{name: "ok/nil associated data", plaintext: []byte("secret"), ad: nil},
		{name: "ok/large plaintext", plaintext: bytes.Repeat([]byte("a"), 1<<16), ad: []byte("big")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct, err := r.Encrypt(tt.plaintext, tt.ad)
			if err != nil {
				t.Fatal(err)
			}
			if len(tt.plaintext) >= 6 && bytes.Contains(ct, tt.plaintext) {
				t.Error("ciphertext contains the plaintext")
			}
			id, err := r.KeyID(ct)
			if err != nil || id != "k1" {
				t.Errorf("KeyID = %q, %v; want k1", id, err)
			}
			got, err := r.Decrypt(ct, tt.ad)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Errorf("Decrypt gave %q, want %q", got, tt.plaintext)
			}
		})
	}
}

func TestEncryptUsesFreshNonces(t *testing.T) {
	r := mustRing(t, mustKey(t, "k1", 1))
	a, _ := r.Encrypt([]byte("same"), nil)
	b, _ := r.Encrypt([]byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Error("two encryptions of the same plaintext are equal")
	}
}

func TestDecryptRejects(t *testing.T) {
	r := mustRing(t, mustKey(t, "k1", 1))
	ct, err := r.Encrypt([]byte("the plaintext"), []byte("row-1"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ct   []byte
		ad   []byte
	}{
		{name: "fail/other associated data", ct: ct, ad: []byte("row-2")},
		{name: "fail/missing associated data", ct: ct, ad: nil},
		{name: "fail/empty ciphertext", ct: nil, ad: []byte("row-1")},
		{name: "fail/truncated ciphertext", ct: ct[:len(ct)-1], ad: []byte("row-1")},
		{name: "fail/header only", ct: ct[:4], ad: []byte("row-1")},
		{name: "fail/extended ciphertext", ct: append(bytes.Clone(ct), 0), ad: []byte("row-1")},
		{name: "fail/unknown version", ct: append([]byte{2}, ct[1:]...), ad: []byte("row-1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := r.Decrypt(tt.ct, tt.ad); !errors.Is(err, ErrDecrypt) {
				t.Errorf("Decrypt error = %v, want ErrDecrypt", err)
			}
		})
	}
}

func TestDecryptDetectsTamperingWithAnyByte(t *testing.T) {
	r := mustRing(t, mustKey(t, "k1", 1))
	ad := []byte("row-1")
	ct, err := r.Encrypt([]byte("the plaintext"), ad)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ct {
		for _, flip := range []byte{0x01, 0x80, 0xFF} {
			tampered := bytes.Clone(ct)
			tampered[i] ^= flip
			_, err := r.Decrypt(tampered, ad)
			if err == nil {
				t.Fatalf("byte %d ^ %#x: Decrypt succeeded", i, flip)
			}
			if !errors.Is(err, ErrDecrypt) && !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("byte %d ^ %#x: error %v is neither ErrDecrypt nor ErrUnknownKey", i, flip, err)
			}
		}
	}
}

func TestRotation(t *testing.T) {
	k1, k2 := mustKey(t, "k1", 1), mustKey(t, "k2", 2)
	old := mustRing(t, k1)
	ad := []byte("user-1")
	sealedByK1, err := old.Encrypt([]byte("old secret"), ad)
	if err != nil {
		t.Fatal(err)
	}

	rotated := mustRing(t, k2, k1)
	t.Run("ok/retired key still decrypts", func(t *testing.T) {
		got, err := rotated.Decrypt(sealedByK1, ad)
		if err != nil || string(got) != "old secret" {
			t.Fatalf("Decrypt = %q, %v", got, err)
		}
	})
	t.Run("ok/KeyID tells what to re-encrypt", func(t *testing.T) {
		id, err := rotated.KeyID(sealedByK1)
		if err != nil || id != "k1" {
			t.Fatalf("KeyID = %q, %v; want k1", id, err)
		}
		resealed, err := rotated.Encrypt([]byte("old secret"), ad)
		if err != nil {
			t.Fatal(err)
		}
		if id, _ := rotated.KeyID(resealed); id != "k2" {
			t.Fatalf("re-encrypted under %q, want k2", id)
		}
	})
	t.Run("fail/ring without the retired key", func(t *testing.T) {
		_, err := mustRing(t, k2).Decrypt(sealedByK1, ad)
		if !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("error %v, want ErrUnknownKey", err)
		}
	})
	t.Run("fail/same id with another secret", func(t *testing.T) {
		_, err := mustRing(t, mustKey(t, "k1", 9)).Decrypt(sealedByK1, ad)
		if !errors.Is(err, ErrDecrypt) {
			t.Fatalf("error %v, want ErrDecrypt", err)
		}
	})
}

func FuzzDecrypt(f *testing.F) {
	r := mustRing(f, mustKey(f, "k1", 1), mustKey(f, "old", 2))
	ct, err := r.Encrypt([]byte("plaintext"), []byte("ad"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ct, []byte("ad"))
	f.Add([]byte{}, []byte{})
	f.Add([]byte{1, 3, 'o', 'l', 'd'}, []byte(nil))
	f.Add([]byte{1, 255}, []byte("ad"))
	f.Fuzz(func(t *testing.T, ct, ad []byte) {
		pt, err := r.Decrypt(ct, ad)
		if err != nil {
			if !errors.Is(err, ErrDecrypt) && !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("error %v is neither ErrDecrypt nor ErrUnknownKey", err)
			}
			return
		}
		// Only a genuine ciphertext opens; then KeyID agrees.
		if id, err := r.KeyID(ct); err != nil || (id != "k1" && id != "old") {
			t.Fatalf("Decrypt succeeded (%q) but KeyID = %q, %v", pt, id, err)
		}
	})
}
