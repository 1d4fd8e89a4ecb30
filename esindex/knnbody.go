package esindex

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"sync"
)

// knnBodies recycles the buffers kNN request bodies are written into: a
// 1280-d query vector is ≈ 15 KiB of JSON, built once per search.
var knnBodies = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

// appendKNNBody appends q's search request (the JSON KNN sends) to buf. The
// vector is written by appendFloat32 straight into the buffer, without
// reflection over a map of interfaces; the rest (filters, excludes) is small
// and goes through encoding/json. Vectors with NaN or ±Inf are refused, as
// encoding/json does.
func appendKNNBody(buf []byte, q KNNQuery, numCandidates int) ([]byte, error) {
	buf = append(buf, `{"knn":{"field":"`+VectorField+`","query_vector":[`...)
	for i, v := range q.Vector {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("query vector value %d is %v: not a number JSON can carry", i, v)
		}
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendFloat32(buf, v)
	}
	buf = append(buf, `],"k":`...)
	buf = strconv.AppendInt(buf, int64(q.K), 10)
	buf = append(buf, `,"num_candidates":`...)
	buf = strconv.AppendInt(buf, int64(numCandidates), 10)
	if len(q.Filters) > 0 {
		filter, err := json.Marshal(filterClauses(q.Filters))
		if err != nil {
			return nil, err
		}
		buf = append(buf, `,"filter":`...)
		buf = append(buf, filter...)
	}
	buf = append(buf, `},"size":`...)
	buf = strconv.AppendInt(buf, int64(q.K), 10)
	buf = append(buf, `,"track_total_hits":false`...)
	if len(q.Excludes) > 0 {
		excludes, err := json.Marshal(q.Excludes)
		if err != nil {
			return nil, err
		}
		buf = append(buf, `,"_source":{"excludes":`...)
		buf = append(buf, excludes...)
		buf = append(buf, '}')
	}
	return append(buf, '}'), nil
}

// pow10 holds 10^-45 … 10^53: the scales appendFloat32 needs for every
// finite float32.
var pow10 = func() (t [99]float64) {
	for i := range t {
		t[i], _ = strconv.ParseFloat("1e"+strconv.Itoa(i-45), 64) // correctly rounded
	}
	return t
}()

// appendFloat32 appends v as a JSON number of 9 significant digits (trailing
// zeros dropped), an integer with a decimal exponent: "-123456789e-11". Nine
// significant digits always read back as the same float32 (even parsed as a
// double first and then rounded to float, as Jackson may: the decimal is
// nearer v than any float32 midpoint by a wide margin), and they cost a
// multiplication and an integer print instead of strconv's shortest-digit
// search: 1 280 of them are written for every search. The digits come from
// v×10^k in float64: its error (≤ 2⁻⁵² relative) moves the 9th digit by one
// at most, so the decimal is within 1.5·10⁻⁸ of v (relative), below half a
// float32 step (≥ 2⁻²⁵ ≈ 3·10⁻⁸). v must be finite.
func appendFloat32(buf []byte, v float32) []byte {
	if v == 0 {
		return append(buf, '0')
	}
	x := float64(v)
	if x < 0 {
		buf = append(buf, '-')
		x = -x
	}
	_, e2 := math.Frexp(x)                                      // x = f·2^e2, f in [0.5, 1)
	e10 := int(math.Floor(float64(e2-1) * 0.30102999566398120)) // log10(2)
	switch {                                                    // the estimate is off by at most one
	case x >= pow10[e10+1+45]:
		e10++
	case x < pow10[e10+45]:
		e10--
	}
	m := uint64(x*pow10[8-e10+45] + 0.5) // 9 digits: 10^8 ≤ m ≤ 10^9
	if m < 1e8 {                         // x just below a power of ten that rounds down in float64
		e10--
		m = uint64(x*pow10[8-e10+45] + 0.5)
	}
	exp := e10 - 8
	if m >= 1e9 { // rounded up to 10^9
		m /= 10
		exp++
	}
	for m%10 == 0 {
		m /= 10
		exp++
	}
	buf = strconv.AppendUint(buf, m, 10)
	if exp != 0 {
		buf = append(buf, 'e')
		buf = strconv.AppendInt(buf, int64(exp), 10)
	}
	return buf
}
