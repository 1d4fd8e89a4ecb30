package catalog

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the format detector and decoders: they
// must never panic, and the records they emit must come in file order with
// real line numbers.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"array-pretty.json", "objects.ndjson", "scrapy-arrays.jl", "bad-rows.ndjson", "truncated-array.json"} {
		b, err := os.ReadFile(filepath.Join(fixtures, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("[\n{\"id\":1},\n[],\n\"x\"\n]\n[{\"id\":2}]"))
	f.Add([]byte("\ufeff\r\n{\"id\":1}\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		last := 0
		lines := 1
		for _, b := range data {
			if b == '\n' {
				lines++
			}
		}
		_ = decode(bytesReader(data), "fuzz", func(r record) {
			if r.line < 1 || r.line < last || r.line > lines {
				t.Fatalf("record at line %d after line %d (input has %d lines)", r.line, last, lines)
			}
			if (r.fields == nil) == (r.bad == "") {
				t.Fatalf("record must be either fields or bad: %+v", r)
			}
			last = r.line
		})
	})
}

func bytesReader(b []byte) *bytesReaderT { return &bytesReaderT{b: b} }

// bytesReaderT hands out data in small pieces, to exercise buffer refills.
type bytesReaderT struct{ b []byte }

func (r *bytesReaderT) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 7)], r.b)
	r.b = r.b[n:]
	return n, nil
}
