package embed

import "sync"

// tensorPools recycle the input tensors of query photos (one pool per
// length: the first pass and the crop pass may differ in size). A 224 px
// tensor is 588 KiB; allocating it means zeroing it, and after a GC often
// faulting its pages in again, for every search. Prepare and Advance take
// their tensors here; Recycle gives them back.
var tensorPools sync.Map // int → *sync.Pool of *[]float32

func tensorPool(n int) *sync.Pool {
	if p, ok := tensorPools.Load(n); ok {
		return p.(*sync.Pool)
	}
	p, _ := tensorPools.LoadOrStore(n, &sync.Pool{})
	return p.(*sync.Pool)
}

// newQueryTensor returns a tensor of n values, recycled when one is free.
// Its values are stale: toTensor writes every one of them (padding included).
func newQueryTensor(n int) []float32 {
	if t, ok := tensorPool(n).Get().(*[]float32); ok {
		return *t
	}
	return make([]float32, n)
}

// Recycle gives back a pass's tensor (Query.Tensor from Prepare, or a Pass's
// from Advance) once the model has run it, so that the next query reuses its
// memory. Only such a tensor may be given back, once, and the caller must not
// read or write it afterwards.
func (e *Embedder) Recycle(tensor []float32) {
	if len(tensor) == 0 || len(tensor) != cap(tensor) {
		return
	}
	tensorPool(len(tensor)).Put(&tensor)
}
