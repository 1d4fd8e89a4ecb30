package npy

import (
	"syscall"
	"unsafe"
)

// DropPages tells the kernel this process no longer needs the resident
// pages of a read-only file mapping (a mapped .npy matrix): they leave the
// process's RSS at once and are read again from the page cache or the file
// if touched later. It is how a run that is done with the old snapshot's
// vectors keeps its peak RSS near one copy of the vectors. Best effort.
func DropPages(data []float32) {
	if len(data) == 0 {
		return
	}
	const page = 4096
	start := uintptr(unsafe.Pointer(&data[0]))
	end := start + uintptr(len(data))*4
	first := (start + page - 1) &^ (page - 1)
	last := end &^ (page - 1)
	if last <= first {
		return
	}
	all := unsafe.Slice((*byte)(unsafe.Pointer(&data[0])), len(data)*4)
	syscall.Madvise(all[first-start:last-start], syscall.MADV_DONTNEED)
}
