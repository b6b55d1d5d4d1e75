package keyring

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestLoadOrCreateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "dir", "master.key")

	first, created, err := LoadOrCreateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Error("first call: created = false, want true")
	}
	second, created, err := LoadOrCreateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if created {
		t.Error("second call: created = true, want false")
	}
	if first.ID != second.ID || !bytes.Equal(first.Secret, second.Secret) {
		t.Error("second call returned another key")
	}

	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(content) != first.String()+"\n" {
		t.Errorf("file holds %q, want the key and a newline", content)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the key file (no temporary files left)", len(entries))
	}
	if runtime.GOOS != "windows" {
		info, _ := os.Stat(path)
		if perm := info.Mode().Perm(); perm != 0o600 {
			t.Errorf("file mode %#o, want 0600", perm)
		}
		dirInfo, _ := os.Stat(filepath.Dir(path))
		if perm := dirInfo.Mode().Perm(); perm != 0o700 {
			t.Errorf("directory mode %#o, want 0700", perm)
		}
	}
}

func TestLoadOrCreateFileRejects(t *testing.T) {
	good, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		unix    bool // only meaningful where permission bits apply
		wantErr string
	}{
		{name: "fail/readable by group and others", content: good.String(), mode: 0o644, unix: true, wantErr: "want 0600"},
		{name: "fail/readable by group", content: good.String(), mode: 0o640, unix: true, wantErr: "want 0600"},
		{name: "fail/empty file", content: "", mode: 0o600, wantErr: "form ID:BASE64"},
		{name: "fail/malformed key", content: "k1:" + strings.Repeat("A", 20), mode: 0o600, wantErr: "secret must be 32 bytes"},
		{name: "fail/too large", content: strings.Repeat("x", 2000), mode: 0o600, wantErr: "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.unix && runtime.GOOS == "windows" {
				t.Skip("permission bits do not apply on Windows")
			}
			path := filepath.Join(t.TempDir(), "master.key")
			if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil { // WriteFile is subject to umask
				t.Fatal(err)
			}
			_, _, err := LoadOrCreateFile(path)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), good.String()[3:]) {
				t.Errorf("error %q contains the key", err)
			}
			after, _ := os.ReadFile(path)
			if string(after) != tt.content {
				t.Error("the rejected file was modified")
			}
		})
	}
}

func TestLoadOrCreateFileAcceptsStricterMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("permission bits do not apply on Windows")
	}
	path := filepath.Join(t.TempDir(), "master.key")
	want, _, err := LoadOrCreateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	got, created, err := LoadOrCreateFile(path)
	if err != nil || created || got.ID != want.ID {
		t.Fatalf("got %v, created %v, err %v", got, created, err)
	}
}
