//go:build !linux

package pipeline

// dropPages is a no-op where madvise is not available.
func dropPages([]float32) {}
