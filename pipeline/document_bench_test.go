package pipeline

import (
	"encoding/json"
	"testing"
)

// BenchmarkEncodeDocument encodes one product document as the documents
// stage does for every product: a catalog record of eight fields and the
// essync fields, with (full) and without (catalog; the part the key quoting
// is a share of) a 1280-d vector. The same file runs against an older
// commit for a ratio (key quoting with json.Marshal before jsonstr), in one
// script, alternating:
//
//	nice -n 19 go test -run '^$' -bench EncodeDocument -benchmem -count 5 ./pipeline/
func BenchmarkEncodeDocument(b *testing.B) {
	fields := map[string]json.RawMessage{}
	for k, v := range map[string]string{
		"productId": `"p-0000042"`, "imageName": `"p-0000042.jpg"`, "title": `"Air Max 90 Essential"`, "brand": `"Nike"`,
		"shop": `"shop-3"`, "price": `129.95`, "color": `"white"`, "url": `"https://shop.example/p/42"`,
	} {
		fields[k] = json.RawMessage(v)
	}
	vector := make([]float32, 1280)
	for i := range vector {
		vector[i] = float32(i%97-48) / 1000
	}
	doc := Document{ProductID: "p-0000042", ImageName: "p-0000042.jpg", ImageSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		GroupID: "p-0000042", Model: "effnet-b0@1a2b3c4d5e6f", SyncedAt: "2026-12-02T06:00:00Z"}
	for _, tc := range []struct {
		name   string
		vector []float32
	}{{"catalog", nil}, {"full", vector}} {
		b.Run(tc.name, func(b *testing.B) {
			d := doc
			d.Vector = tc.vector
			for b.Loop() {
				if _, err := encodeDocument(fields, d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
