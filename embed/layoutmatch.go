package embed

import "math"

// layoutScales are the zooms Match tries: one photo against a crop of it
// that keeps this share of each side (shops crop a little, not a lot).
var layoutScales = []float32{1, 0.95, 0.9, 0.85}

// Match returns how well two Layouts agree: the largest normalised
// cross-correlation (-1..1) of one with a window of the other, over the
// zooms in layoutScales and the shifts of the window inside the image (a
// grid of whole cells, then a climb in half and quarter cells), tried both
// ways round. It stops early once a score
// reaches enough (pass 2 to search everything). Two plain images match
// with 1; a plain one and a structured one with 0.
func (l *Layout) Match(o *Layout, enough float32) float32 {
	a, b := l.floats(), o.floats()
	best := float32(-1)
	for _, s := range layoutScales {
		for _, pair := range [2][2]*layoutFloats{{&a, &b}, {&b, &a}} {
			if r := bestWindow(pair[0], pair[1], s, enough); r > best {
				best = r
			}
			if best >= enough || s == 1 { // at zoom 1 both ways are the same
				break
			}
		}
		if best >= enough {
			break
		}
	}
	return best
}

// layoutFloats is a Layout as floats with its mean taken out.
type layoutFloats struct {
	v    [LayoutSide * LayoutSide]float32
	norm float32 // sqrt of the sum of squares of v (0: a plain image)
}

func (l *Layout) floats() layoutFloats {
	var f layoutFloats
	var sum float32
	for i, x := range l {
		f.v[i] = float32(x)
		sum += float32(x)
	}
	mean := sum / float32(len(l))
	var ss float32
	for i := range f.v {
		f.v[i] -= mean
		ss += f.v[i] * f.v[i]
	}
	f.norm = float32(math.Sqrt(float64(ss)))
	return f
}

// plainNorm is the norm below which a Layout counts as plain: a standard
// deviation under 1 grey level.
const plainNorm = LayoutSide

// bestWindow is the best correlation of whole with a window of big that
// covers scale of each side, shifted over big in layoutStep steps.
func bestWindow(big, whole *layoutFloats, scale, enough float32) float32 {
	if big.norm < plainNorm || whole.norm < plainNorm {
		if big.norm < plainNorm && whole.norm < plainNorm {
			return 1
		}
		return 0
	}
	const n = LayoutSide
	span := scale * n
	room := n - span
	best, bx, by := float32(-1), float32(0), float32(0)
	var win [n * n]float32
	try := func(ox, oy float32) bool {
		if ox < 0 || oy < 0 || ox > room+1e-3 || oy > room+1e-3 {
			return false
		}
		sampleWindow(&big.v, ox, oy, scale, &win)
		if r := correlate(&win, whole); r > best {
			best, bx, by = r, ox, oy
		}
		return best >= enough
	}
	// A grid of whole-cell shifts (the last one flush with the far edge),
	// then a climb from the best in half and quarter cells: the
	// correlation of one photo with itself peaks within a cell of a grid
	// point, and fine textures lose much of it a quarter cell off.
	for _, oy := range layoutShifts(room) {
		for _, ox := range layoutShifts(room) {
			if try(ox, oy) {
				return best
			}
		}
	}
	if room > 0 {
		for _, step := range []float32{0.5, 0.25} {
			for moved := true; moved; {
				cx, cy, was := bx, by, best
				for _, d := range [8][2]float32{{-1, 0}, {1, 0}, {0, -1}, {0, 1}, {-1, -1}, {1, 1}, {-1, 1}, {1, -1}} {
					if try(cx+d[0]*step, cy+d[1]*step) {
						return best
					}
				}
				moved = best > was
			}
		}
	}
	return best
}

// layoutShifts are the grid shifts tried in a room of that many cells.
func layoutShifts(room float32) []float32 {
	var out []float32
	for o := float32(0); o < room; o++ {
		out = append(out, o)
	}
	return append(out, room)
}

// sampleWindow fills win with src (n×n) sampled bilinearly over the window
// whose top-left corner is (ox, oy) and whose side is scale×n cells.
func sampleWindow(src *[LayoutSide * LayoutSide]float32, ox, oy, scale float32, win *[LayoutSide * LayoutSide]float32) {
	const n = LayoutSide
	if scale == 1 && ox == 0 && oy == 0 {
		*win = *src
		return
	}
	var x0 [n]int
	var fx [n]float32
	for i := range n {
		x := ox + (float32(i)+0.5)*scale - 0.5
		x0[i], fx[i] = split(x)
	}
	for j := range n {
		y := oy + (float32(j)+0.5)*scale - 0.5
		y0, fy := split(y)
		r0 := src[y0*n : y0*n+n]
		r1 := src[min(y0+1, n-1)*n : min(y0+1, n-1)*n+n]
		out := win[j*n : j*n+n]
		for i := range n {
			a, b := x0[i], min(x0[i]+1, n-1)
			top := r0[a] + fx[i]*(r0[b]-r0[a])
			bot := r1[a] + fx[i]*(r1[b]-r1[a])
			out[i] = top + fy*(bot-top)
		}
	}
}

// split returns a sample position's cell (clamped into the grid) and the
// fraction towards the next one.
func split(x float32) (int, float32) {
	if x <= 0 {
		return 0, 0
	}
	i := int(x)
	if i >= LayoutSide-1 {
		return LayoutSide - 1, 0
	}
	return i, x - float32(i)
}

// correlate is the normalised cross-correlation of win (mean taken out
// here) with whole (mean already out).
func correlate(win *[LayoutSide * LayoutSide]float32, whole *layoutFloats) float32 {
	var sum float32
	for _, x := range win {
		sum += x
	}
	mean := sum / float32(len(win))
	var dot, ss float32
	for i, x := range win {
		x -= mean
		dot += x * whole.v[i]
		ss += x * x
	}
	if ss <= 0 {
		return 0
	}
	return dot / (float32(math.Sqrt(float64(ss))) * whole.norm)
}
