//go:build linux

package persistence

import "golang.org/x/sys/unix"

const releaseSupported = true

// releasePages drops [addr, addr+n) of the store's shared, read-only file
// mapping from the process's page tables (see mapped.go). addr is
// page-aligned (a window's start or the map's); the kernel rounds n up to
// whole pages. An error (none is expected for a valid mapping) leaves the
// pages mapped, which costs memory, not correctness, so it is not reported.
func releasePages(addr, n uintptr) {
	_, _, _ = unix.Syscall(unix.SYS_MADVISE, addr, n, unix.MADV_DONTNEED)
}
