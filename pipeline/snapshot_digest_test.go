package pipeline

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/essync/essync/neighbors"
)

// A document read back from the index and the one a run would write give
// the same digests, whatever Elasticsearch did to the text; each kind of
// change moves exactly its digest.
func TestStoredAndFreshDigestsAgree(t *testing.T) {
	fields := map[string]json.RawMessage{"title": json.RawMessage(`"Air Max"`), "price": json.RawMessage(`0.0005054619`), "tags": json.RawMessage(`{"a": [1, 2]}`)}
	similar := []neighbors.Neighbor{{ID: "b", Similarity: 0.0005054619}, {ID: "c", Similarity: 0.25}}
	doc := Document{ProductID: "a", ImageName: "a.jpg", ImageSHA256: strings.Repeat("ab", 32), Vector: []float32{0.6, 0.8},
		GroupID: "g-a", Model: "m@1", SyncedAt: "2026-01-01T00:00:00Z"}
	body, err := encodeDocument(fields, doc)
	if err != nil {
		t.Fatal(err)
	}
	listBody := listDocument("a", similar, "g-a", 2, "x").Body
	want := record{SHA256: doc.ImageSHA256, Base: baseDigest(fields, "a", "a.jpg", "m@1", doc.ImageSHA256),
		Lists: freshListsDigest(similar, "g-a", 2), Group: groupDigest("g-a")}
	tests := []struct {
		name              string
		from, to          string
		base, lists, grup bool // which digests must still match
	}{
		{"as written", "", "", true, true, true},
		{"java number rendering", `"similarity":0.0005054619`, `"similarity":5.054619E-4`, true, true, true},
		{"catalog number re-rendered", `"price":0.0005054619`, `"price":5.054619E-4`, true, true, true},
		{"white space", `{"a": [1, 2]}`, `{"a":[1,2]}`, true, true, true},
		{"synced_at", `2026-01-01T00:00:00Z`, `2027-01-01T00:00:00Z`, true, true, true},
		{"title", `"Air Max"`, `"Air Max 90"`, false, true, true},
		{"extra field", `"title":`, `"colour":"red","title":`, false, true, true},
		{"image hash", `"image_sha256":"abab`, `"image_sha256":"cdab`, false, true, true},
		{"model", `"model":"m@1"`, `"model":"m@2"`, false, true, true},
		{"similarity", `"similarity":0.25`, `"similarity":0.2501`, true, false, true},
		{"similar_pi", `"similar_pi":["b","c"]`, `"similar_pi":["c","b"]`, true, false, true},
		// Schema 4: group_id is in both documents, group_size in the list
		// document only; a new size moves the lists digest alone.
		{"group id", `"group_id":"g-a"`, `"group_id":"g-b"`, true, false, false},
		{"group id of the list document only", `"group_id":"g-a","group_size"`, `"group_id":"g-b","group_size"`, true, false, true},
		{"group size", `"group_size":2`, `"group_size":3`, true, false, true},
		{"group size re-rendered", `"group_size":2`, `"group_size":2.0`, true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, list := string(body), string(listBody)
			if tt.from != "" {
				if !strings.Contains(src, tt.from) && !strings.Contains(list, tt.from) {
					t.Fatalf("%s not in %s nor %s", tt.from, src, list)
				}
				src = strings.Replace(src, tt.from, tt.to, 1)
				list = strings.Replace(list, tt.from, tt.to, 1)
			}
			got, err := decodeStored("a", []byte(src), 2)
			if err != nil {
				t.Fatal(err)
			}
			stored, err := decodeList("a", []byte(list))
			if err != nil {
				t.Fatal(err)
			}
			got.Record.Lists = stored.digest()
			if (got.Record.Base == want.Base) != tt.base || (got.Record.Lists == want.Lists) != tt.lists || (got.Record.Group == want.Group) != tt.grup {
				t.Errorf("base/lists/group match = %v/%v/%v, want %v/%v/%v", got.Record.Base == want.Base, got.Record.Lists == want.Lists,
					got.Record.Group == want.Group, tt.base, tt.lists, tt.grup)
			}
			if !slices.Equal(got.Vector, doc.Vector) {
				t.Errorf("vector %v, want %v", got.Vector, doc.Vector)
			}
		})
	}
}

func TestEncodeVectorRoundTripsFloat32(t *testing.T) {
	in := []float32{0, 1, -1, 0.1, 1e-7, 0.0005054619, 0.3333333, 3.4028235e38}
	var out []float32
	if err := json.Unmarshal(encodeVector(in), &out); err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if in[i] != out[i] {
			t.Errorf("value %d: wrote %v, read back %v", i, in[i], out[i])
		}
	}
}

// A snapshot written with lists resolved at the end (as the index read
// does) reads back as written; each damaged or missing file is refused
// with its name.
func TestSnapshotRoundTripAndDamage(t *testing.T) {
	state := t.TempDir()
	hdr := snapshotHeader{Alias: "p", Index: "p-1", Generation: 3, Model: "m", Dims: 2, K: 2, Count: 3, Schema: 2}
	w, err := newSnapshotWriter(state, hdr, nil)
	if err != nil {
		t.Fatal(err)
	}
	recs := []record{{SHA256: strings.Repeat("0f", 32), Size: 10, MTime: 99, Base: digest{1}}, {Lists: digest{2}}, {Group: digest{3}}}
	ids := []string{"x\n\"y", "b", "c"}
	lists := [][]string{{"b", "c"}, {"x\n\"y", "gone"}, nil}
	for i, id := range ids {
		if err := w.add(id, recs[i], []float32{float32(i), 1}, lists[i]); err != nil {
			t.Fatal(err)
		}
	}
	dir, err := w.commit(state)
	if err != nil {
		t.Fatal(err)
	}
	s, err := openSnapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.hdr.staleness(hdr, 3) != "" {
		t.Errorf("header %+v does not match %+v: %s", s.hdr, hdr, s.hdr.staleness(hdr, 3))
	}
	for i, id := range ids {
		r := s.row[id]
		if s.record(r) != recs[i] || !slices.Equal(s.vector(r), []float32{float32(i), 1}) {
			t.Errorf("%q: record %+v vector %v", id, s.record(r), s.vector(r))
		}
	}
	if got := storedList(s, 1); !slices.Equal(got, []string{"x\n\"y"}) {
		t.Errorf("list of b = %q, want the known id only", got)
	}
	s.Close()
	for _, stale := range []snapshotHeader{{Index: "p-2"}, {Generation: 4}, {Model: "n"}, {K: 3}} {
		w := hdr
		if stale.Index != "" {
			w.Index = stale.Index
		}
		if stale.Generation != 0 {
			w.Generation = stale.Generation
		}
		if stale.Model != "" {
			w.Model = stale.Model
		}
		if stale.K != 0 {
			w.K = stale.K
		}
		if hdr.staleness(w, 3) == "" {
			t.Errorf("%+v taken for %+v", hdr, w)
		}
	}

	damage := map[string]func(dir string){
		snapHeader:  func(dir string) { os.WriteFile(filepath.Join(dir, snapHeader), []byte("{"), 0o644) },
		snapIDs:     func(dir string) { os.WriteFile(filepath.Join(dir, snapIDs), []byte(`["a"]`), 0o644) },
		snapRecords: func(dir string) { os.Truncate(filepath.Join(dir, snapRecords), 5) },
		snapLists:   func(dir string) { os.Remove(filepath.Join(dir, snapLists)) },
		snapVectors: func(dir string) { os.Truncate(filepath.Join(dir, snapVectors), 100) },
	}
	for file, hurt := range damage {
		t.Run(file, func(t *testing.T) {
			d := filepath.Join(t.TempDir(), "p")
			copyDir(t, dir, d)
			hurt(d)
			_, err := openSnapshot(d)
			if err == nil || !strings.Contains(err.Error(), file) && !strings.Contains(err.Error(), "npy") {
				t.Errorf("damaged %s: err %v, want one naming the file", file, err)
			}
		})
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
}

// storedList is row i's stored neighbour ids (the run itself reads the rows
// as they are, through neighbors.RestoreRows).
func storedList(s *snapshot, i int32) []string {
	k := s.hdr.K
	var out []string
	for _, j := range s.lists[int(i)*k : int(i+1)*k] {
		if j >= 0 {
			out = append(out, s.ids[j])
		}
	}
	return out
}

// TestCanonicalFastPathAgrees checks that the values canonical returns as
// they are are exactly what decoding and encoding them gives (the digests
// stored by earlier runs stay valid), and that the others take that path.
func TestCanonicalFastPathAgrees(t *testing.T) {
	tests := []struct {
		raw  string
		fast bool
	}{
		{`true`, true}, {`false`, true}, {`null`, true}, {`0`, true},
		{`"Air Max 90"`, true}, {`""`, true}, {`"p-0000001.jpg"`, true},
		{`10`, true}, {`-42`, true}, {`123456789012345`, true},
		{`1234567890123456`, false}, {`-0`, false}, {`007`, false}, {`1.5`, false}, {`1e3`, false}, {`10.0`, false},
		{`"a<b"`, false}, {`"a&b"`, false}, {`"caf\u00e9"`, false}, {`"größe"`, false}, {`"a\"b"`, false}, {"\"a\x01b\"", false},
		{`[1,2]`, false}, {`{"a":1}`, false}, {`"unterminated`, false}, {`-`, false}, {``, false},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			if got := isCanonical([]byte(tt.raw)); got != tt.fast {
				t.Errorf("isCanonical(%s) = %v, want %v", tt.raw, got, tt.fast)
			}
			if slow := reencoded(json.RawMessage(tt.raw)); tt.fast && string(slow) != tt.raw {
				t.Errorf("%s is taken as canonical but re-encodes as %s", tt.raw, slow)
			}
			if got, slow := canonical(json.RawMessage(tt.raw)), reencoded(json.RawMessage(tt.raw)); string(got) != string(slow) {
				t.Errorf("canonical(%s) = %s, re-encoded %s", tt.raw, got, slow)
			}
		})
	}
}

// BenchmarkCanonical compares canonical with the decode-and-encode it
// spares, on a typical record's values.
func BenchmarkCanonical(b *testing.B) {
	values := []json.RawMessage{json.RawMessage(`"p-0000001"`), json.RawMessage(`"p-0000001.jpg"`), json.RawMessage(`129`), json.RawMessage(`"Air Max 90"`), json.RawMessage(`true`)}
	for _, tc := range []struct {
		name string
		f    func(json.RawMessage) []byte
	}{{"canonical", canonical}, {"reencoded", reencoded}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				for _, v := range values {
					tc.f(v)
				}
			}
		})
	}
}
