package hashproc

import "golang.org/x/sys/unix"

// noHugePages keeps the kernel from backing a hashing process's memory
// with transparent huge pages. A region some package of the binary marks
// for them (MADV_HUGEPAGE) during its initialization was filled by the
// kernel's khugepaged to whole 2 MiB pages while the process sat idle:
// 5 MiB after handing its memory back grew to 13 MiB within 30 s.
func noHugePages() {
	_ = unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0)
}
