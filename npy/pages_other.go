//go:build !linux

package npy

// DropPages is a no-op where madvise is not available.
func DropPages([]float32) {}
