package neighbors

import "golang.org/x/sys/cpu"

// haveAVX2 reports whether the AVX2+FMA kernels may run on this CPU.
var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func dot4x3AVX2(q0, q1, q2, q3, x0, x1, x2 *float32, n int, out *float32)

//go:noescape
func dot1x4AVX2(q, x0, x1, x2, x3 *float32, n int, out *float32)
