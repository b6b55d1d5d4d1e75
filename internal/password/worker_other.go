//go:build !linux

package password

// noHugePages: only Linux has khugepaged (worker_linux.go).
func noHugePages() {}
