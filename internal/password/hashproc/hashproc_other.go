//go:build !linux

package hashproc

// noHugePages: only Linux has khugepaged (hashproc_linux.go).
func noHugePages() {}
