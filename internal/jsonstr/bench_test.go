package jsonstr

import (
	"encoding/json"
	"testing"
)

// keys are a catalog document's field names as encodeDocument quotes them,
// eight a product.
var keys = []string{"essync", "group_id", "image_name", "image_vector", "price", "product_id", "shop", "title"}

// BenchmarkAppend quotes the eight keys of a product document with Append
// and, in the same run for the ratio, with json.Marshal as encodeDocument
// did before (one allocation a key):
//
//	nice -n 19 go test -run '^$' -bench Append -benchmem -count 5 ./internal/jsonstr/
func BenchmarkAppend(b *testing.B) {
	b.Run("jsonstr.Append", func(b *testing.B) {
		buf := make([]byte, 0, 256)
		for range b.N {
			buf = buf[:0]
			for _, k := range keys {
				buf = Append(buf, k)
			}
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		buf := make([]byte, 0, 256)
		for range b.N {
			buf = buf[:0]
			for _, k := range keys {
				q, _ := json.Marshal(k)
				buf = append(buf, q...)
			}
		}
	})
}
