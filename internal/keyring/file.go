package keyring

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// LoadOrCreateFile returns the key stored in path, one line in the
// [Key.String] form. When the file does not exist it generates a key, writes
// it with mode 0600 (creating missing parent directories with mode 0700) and
// reports created=true; the caller should say so, since losing that file
// makes the data it protects unreadable.
//
// The file appears atomically: the key is written to a temporary file in the
// same directory, synced, then linked into place without replacing a file
// that appeared meanwhile. If another process won that race, its key is
// returned instead. On file systems without hard links it falls back to a
// rename.
//
// A file that group or others may access (looser than 0600) is rejected,
// except on Windows where Unix permission bits do not apply.
func LoadOrCreateFile(path string) (key Key, created bool, err error) {
	key, err = loadFile(path)
	if err == nil {
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return Key{}, false, err
	}

	key, err = GenerateKey()
	if err != nil {
		return Key{}, false, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Key{}, false, fmt.Errorf("keyring: creating key directory: %w", err)
	}
	// os.CreateTemp creates the file with mode 0600.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return Key{}, false, fmt.Errorf("keyring: creating key file: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // no-op once linked or renamed away

	if _, err := tmp.WriteString(key.String() + "\n"); err != nil {
		tmp.Close()
		return Key{}, false, fmt.Errorf("keyring: writing key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return Key{}, false, fmt.Errorf("keyring: writing key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return Key{}, false, fmt.Errorf("keyring: writing key file: %w", err)
	}

	switch err := os.Link(tmpName, path); {
	case err == nil:
	case errors.Is(err, fs.ErrExist):
		// Another process created the file first: use its key, not ours.
		key, err := loadFile(path)
		return key, false, err
	default:
		if err := os.Rename(tmpName, path); err != nil {
			return Key{}, false, fmt.Errorf("keyring: writing key file: %w", err)
		}
	}
	syncDir(dir)
	return key, true, nil
}

// loadFile reads and checks a key file. Errors wrap fs.ErrNotExist when the
// file is missing and never include the file's content.
func loadFile(path string) (Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return Key{}, fmt.Errorf("keyring: reading key file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("keyring: reading key file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return Key{}, fmt.Errorf("keyring: key file %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return Key{}, fmt.Errorf("keyring: key file %s has mode %#o, which lets other users read it; want 0600 (chmod 600 %s)", path, perm, path)
	}
	// A key line is about 80 bytes; refuse to read anything much larger.
	const maxFileSize = 1024
	content, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return Key{}, fmt.Errorf("keyring: reading key file: %w", err)
	}
	if len(content) > maxFileSize {
		return Key{}, fmt.Errorf("keyring: key file %s is too large to hold one key", path)
	}
	key, err := parseKey(string(content))
	if err != nil {
		return Key{}, fmt.Errorf("keyring: key file %s: %w", path, err)
	}
	return key, nil
}

// syncDir makes a new directory entry durable where the platform allows it.
// Failure is ignored: the key file itself is already synced.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
