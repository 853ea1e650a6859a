package backfill

import (
	"syscall"
	"unsafe"
)

// hugePageSize is the size of a transparent huge page on Linux with 4 KiB
// pages (amd64, arm64).
const hugePageSize = 2 << 20

// adviseHugePages asks the kernel to back the whole 2 MiB pages of b with
// huge pages, before they are first touched. The first touch of fresh
// memory costs a page fault per 4 KiB page, which the CPU profile of a
// backfill in a fresh process showed as a tenth of its time; one fault per
// 2 MiB is next to nothing. It is only advice: with transparent huge pages
// off, nothing changes.
func adviseHugePages(b []byte) {
	base := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	start := (base+hugePageSize-1)&^(hugePageSize-1) - base
	end := (base+uintptr(len(b)))&^(hugePageSize-1) - base
	if len(b) < hugePageSize || end <= start {
		return
	}
	syscall.Madvise(b[start:end], syscall.MADV_HUGEPAGE)
}
