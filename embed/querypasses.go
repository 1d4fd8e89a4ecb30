package embed

import (
	"errors"
	"fmt"
	"image"
)

// This file lets a server run a query's model passes one at a time, so it can
// put the first pass of one query and the focus (crop) pass of another into
// one model call, and make the crop's tensor in the request's own goroutine
// instead of inside the model's lock. The steps are refocus's, image by image:
// Start + RunPasses + Advance until done give InferQueries' vector.

// Pass is one model input of a query: a tensor of Size×Size pixels.
type Pass struct {
	Tensor []float32
	Size   int
}

// PassResult is the model's answer to one Pass: the pass's vector (or why
// there is none) and where SCDA found the object. Advance reads it.
type PassResult struct {
	vec []float32
	reg region
	err error
}

// QueryPasses is one query between its model passes (see Start). It is used
// by one goroutine at a time.
type QueryPasses struct {
	img     image.Image     // the decoded photo the crops come from (nil: no focus)
	frame   image.Rectangle // what the last pass saw of img
	passes  int             // passes done
	cropped bool            // the last pass was a crop (not the whole image at Size)
	vec     []float32
	err     error
	done    bool
}

// Start returns q's first pass (q.Tensor, at the locate size when the card
// sets one) and the state Advance carries on from.
func (e *Embedder) Start(q Query) (*QueryPasses, Pass) {
	p := &QueryPasses{img: q.img}
	if p.img != nil {
		p.frame = p.img.Bounds()
	}
	return p, Pass{Tensor: q.Tensor, Size: e.card.locateCard().Size}
}

// RunPasses runs passes through the model (one call per distinct size, in
// the order of first appearance) and returns one result per pass. The
// returned error is for the call as a whole. Calls are serialised with
// Embed, InferQueries and the other model calls.
func (e *Embedder) RunPasses(passes []Pass) ([]PassResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sess == nil {
		return nil, errors.New("embed: Embedder is closed")
	}
	out := make([]PassResult, len(passes))
	ran := make([]bool, len(passes))
	for first := range passes {
		if ran[first] {
			continue
		}
		size := passes[first].Size
		per := 3 * size * size
		var idx []int
		for i := first; i < len(passes); i++ {
			if !ran[i] && passes[i].Size == size {
				if len(passes[i].Tensor) != per {
					return nil, fmt.Errorf("embed: pass %d has %d values, the model wants %d at %d px", i, len(passes[i].Tensor), per, size)
				}
				idx = append(idx, i)
				ran[i] = true
			}
		}
		input := passes[first].Tensor // one pass: the model reads its tensor in place
		if len(idx) > 1 {
			input = make([]float32, len(idx)*per)
			for k, i := range idx {
				copy(input[k*per:], passes[i].Tensor)
			}
		}
		vecs, _, regions, errs, err := e.inferRegions(size, input, len(idx))
		if err != nil {
			return nil, err
		}
		for k, i := range idx {
			out[i] = PassResult{vec: vecs[k], err: errs[k]}
			if regions != nil {
				out[i].reg = regions[k]
			}
		}
	}
	return out, nil
}

// Advance takes the result of the pass Start or the last Advance returned and
// says whether the card's focus wants another pass; if so it makes that
// pass's tensor (the crop, resized from the decoded photo: CPU work done in
// the caller's goroutine). When more is false, Result holds the vector.
func (e *Embedder) Advance(p *QueryPasses, r PassResult) (next Pass, more bool) {
	if p.done {
		return Pass{}, false
	}
	locate := e.card.LocateSize > 0
	first := p.passes == 0
	p.passes++
	cropCard := e.card.cropCard() // what the crop passes resize for (crop_size)
	frameCard := cropCard         // the card the last region was found with
	switch {
	case first:
		p.vec, p.err = r.vec, r.err
		if p.img == nil || e.card.Focus != FocusSCDACrop || (r.err != nil && !locate) {
			p.done = true
			return Pass{}, false
		}
		frameCard = e.card.locateCard() // the card the region was found with
	case r.err != nil:
		if p.passes == 2 && locate {
			p.vec, p.err = nil, r.err // the localisation pass's vector is never a result
		}
		p.done = true
		return Pass{}, false
	default:
		p.vec, p.err = r.vec, nil
		if !p.cropped || p.passes > e.card.focusSteps() {
			p.done = true
			return Pass{}, false
		}
	}
	crop, ok := image.Rectangle{}, false
	if r.reg.ok {
		crop, ok = focusCrop(frameCard, p.frame, r.reg.box, r.reg.h, r.reg.w)
	}
	if ok {
		p.frame = crop
	}
	if !ok && !(first && locate) {
		p.done = true
		return Pass{}, false
	}
	p.cropped = ok
	tensor := newQueryTensor(tensorLen(cropCard))
	toTensor(cropCard, subImage(p.img, p.frame), tensor)
	return Pass{Tensor: tensor, Size: cropCard.Size}, true
}

// Result is the query's vector once Advance has said no more passes, the
// same vector InferQueries gives (or the error that left it without one).
func (p *QueryPasses) Result() ([]float32, error) {
	if !p.done {
		return nil, errors.New("embed: query passes not finished")
	}
	return p.vec, p.err
}

// Passes is how many model passes the query has had so far.
func (p *QueryPasses) Passes() int { return p.passes }
