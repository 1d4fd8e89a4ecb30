package catalog

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

const fixtures = "../testdata/catalogs"

func fixtureOpts() Options {
	return Options{ImagesDir: filepath.Join(fixtures, "images")}
}

// The three catalog shapes carry the same products, with the same rows,
// lines, ids and raw fields.
func TestReadFormats(t *testing.T) {
	type want struct {
		row, line int
		id, image string
	}
	tests := []struct {
		file string
		want []want
	}{
		{"array-pretty.json", []want{{1, 2, "p-1", "a.jpg"}, {2, 9, "2", "b.jpg"}, {3, 11, "p-3", "with space.jpg"}}},
		{"objects.ndjson", []want{{1, 1, "p-1", "a.jpg"}, {2, 2, "2", "b.jpg"}, {3, 4, "p-3", "with space.jpg"}}},
		{"scrapy-arrays.jl", []want{{1, 1, "p-1", "a.jpg"}, {2, 1, "2", "b.jpg"}, {3, 3, "p-3", "with space.jpg"}}},
	}
	imagesAbs, _ := filepath.Abs(filepath.Join(fixtures, "images"))
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			products, skipped, err := Read(filepath.Join(fixtures, tc.file), fixtureOpts())
			if err != nil {
				t.Fatal(err)
			}
			if len(skipped) != 0 {
				t.Fatalf("unexpected skips: %v", skipped)
			}
			if len(products) != len(tc.want) {
				t.Fatalf("got %d products, want %d", len(products), len(tc.want))
			}
			for i, w := range tc.want {
				p := products[i]
				if p.Row != w.row || p.Line != w.line || p.ID != w.id || p.ImageName != w.image {
					t.Errorf("product %d = row %d line %d id %q image %q, want %+v", i, p.Row, p.Line, p.ID, p.ImageName, w)
				}
				if wantPath := filepath.Join(imagesAbs, w.image); p.ImagePath != wantPath {
					t.Errorf("product %d path %q, want %q", i, p.ImagePath, wantPath)
				}
			}
			// Every field is carried raw: the price keeps its trailing zero,
			// the id keeps its JSON type, nested values are untouched.
			if got := string(products[0].Fields["price"]); got != "19.90" {
				t.Errorf("price raw = %s, want 19.90", got)
			}
			if got := string(products[1].Fields["productId"]); got != "2" {
				t.Errorf("numeric id raw = %s, want 2", got)
			}
			var nested struct {
				K []json.RawMessage `json:"k"`
			}
			if err := json.Unmarshal(products[2].Fields["nested"], &nested); err != nil || len(nested.K) != 3 {
				t.Errorf("nested field not carried: %s (%v)", products[2].Fields["nested"], err)
			}
		})
	}
}

// Every bad row is skipped with its kind and a reason; good rows around
// them survive, and the row/line numbers point at the right place.
func TestReadBadRows(t *testing.T) {
	products, skipped, err := Read(filepath.Join(fixtures, "bad-rows.ndjson"), fixtureOpts())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range products {
		ids = append(ids, p.ID)
	}
	wantIDs := "ok-1 arr-ok arr-ok-2 café 12345678901234567890"
	if got := strings.Join(ids, " "); got != wantIDs {
		t.Errorf("kept %q, want %q", got, wantIDs)
	}
	want := []struct {
		row, line int
		kind      SkipKind
		id        string
		inReason  string
	}{
		{2, 2, SkipMissingID, "", `no "productId" field`},
		{3, 3, SkipMissingID, "", "is empty"},
		{4, 4, SkipMissingID, "", "is empty"},
		{5, 5, SkipMissingID, "", `no "productId" field`},
		{6, 6, SkipBadID, "", "got a boolean"},
		{7, 7, SkipBadID, "", "got an object"},
		{8, 8, SkipDuplicateID, "ok-1", "row 1 (line 1) has the same id and was kept"},
		{9, 9, SkipMissingImage, "no-image-field", `no "imageName" field`},
		{10, 10, SkipMissingImage, "empty-image", "is empty"},
		{11, 11, SkipMissingImage, "number-image", "must be a string"},
		{12, 12, SkipImageNotFound, "missing-file", "does not exist"},
		{13, 13, SkipImageOutside, "dotdot", "leads outside"},
		{14, 14, SkipImageOutside, "sneaky-dotdot", "leads outside"},
		{15, 15, SkipImageOutside, "absolute", "absolute path"},
		{16, 16, SkipImageNotAFile, "folder", "is a folder"},
		{17, 17, SkipInvalidJSON, "", "line 17 is not valid JSON"},
		{18, 18, SkipNotObject, "", "a string, not a JSON object"},
		{20, 19, SkipNotObject, "", "a number, not a JSON object"},
	}
	if len(skipped) != len(want) {
		for _, s := range skipped {
			t.Log(s)
		}
		t.Fatalf("got %d skips, want %d", len(skipped), len(want))
	}
	for i, w := range want {
		s := skipped[i]
		if s.Row != w.row || s.Line != w.line || s.Kind != w.kind || s.ID != w.id || !strings.Contains(s.Reason, w.inReason) {
			t.Errorf("skip %d = %+v\nwant row %d line %d kind %s id %q reason containing %q", i, s, w.row, w.line, w.kind, w.id, w.inReason)
		}
	}
	// A row skipped for its id still names its image for the report.
	if skipped[0].ImageName != "b.jpg" {
		t.Errorf("missing-id skip lost its image name: %+v", skipped[0])
	}
}

// Files that are not catalogs fail as a whole, with the file and line named.
func TestReadFatal(t *testing.T) {
	tests := []struct {
		file     string
		inErr    []string
		isEmpty  bool
		noImages bool
	}{
		{file: "empty.json", inErr: []string{"empty.json", "no records"}, isEmpty: true},
		{file: "not-json.csv", inErr: []string{"not-json.csv", "not a JSON catalog", "first at line 1"}},
		{file: "truncated-array.json", inErr: []string{"truncated-array.json", "ends early", "truncated"}},
		{file: "broken-array.json", inErr: []string{"broken-array.json", "invalid JSON at line 3", "NDJSON"}},
		{file: "no-such-file.json", inErr: []string{"no-such-file.json", "cannot open"}},
		{file: "objects.ndjson", inErr: []string{"no images folder"}, noImages: true},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			opts := fixtureOpts()
			if tc.noImages {
				opts.ImagesDir = ""
			}
			products, skipped, err := Read(filepath.Join(fixtures, tc.file), opts)
			if err == nil {
				t.Fatalf("no error; got %d products %d skips", len(products), len(skipped))
			}
			for _, s := range tc.inErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if errors.Is(err, ErrEmpty) != tc.isEmpty {
				t.Errorf("errors.Is(err, ErrEmpty) = %v, want %v", !tc.isEmpty, tc.isEmpty)
			}
		})
	}
}

// Custom field names are honoured, and the defaults are not then required.
func TestReadCustomFields(t *testing.T) {
	in := `{"sku": "s-1", "file": "a.jpg", "productId": "ignored"}` + "\n" + `{"productId": "x", "imageName": "a.jpg"}`
	opts := fixtureOpts()
	opts.IDField, opts.ImageField = "sku", "file"
	products, skipped, err := ReadReader(strings.NewReader(in), "custom", opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(products) != 1 || products[0].ID != "s-1" || products[0].ImageName != "a.jpg" {
		t.Errorf("products = %+v", products)
	}
	if len(skipped) != 1 || skipped[0].Kind != SkipMissingID || !strings.Contains(skipped[0].Reason, `"sku"`) {
		t.Errorf("skipped = %+v", skipped)
	}
}

func TestSkipString(t *testing.T) {
	s := Skip{Row: 3, Line: 7, ID: "p-1", Reason: "because"}
	if got, want := s.String(), `row 3 (line 7) id "p-1": because`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// With precomputed vectors the images are optional: no folder, or a
// missing file, keeps the row with an empty ImagePath.
func TestReadImagesOptional(t *testing.T) {
	in := `{"productId": "p-1", "imageName": "a.jpg"}` + "\n" + `{"productId": "p-2", "imageName": "missing.jpg"}`
	for _, tc := range []struct {
		name      string
		dir       string
		wantPaths []bool // ImagePath set?
	}{
		{"no folder", "", []bool{false, false}},
		{"folder", filepath.Join(fixtures, "images"), []bool{true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			products, skipped, err := ReadReader(strings.NewReader(in), "optional", Options{ImagesDir: tc.dir, ImagesOptional: true})
			if err != nil || len(skipped) != 0 || len(products) != 2 {
				t.Fatalf("products %+v skipped %+v err %v, want both rows", products, skipped, err)
			}
			for i, p := range products {
				if (p.ImagePath != "") != tc.wantPaths[i] {
					t.Errorf("%s: ImagePath %q", p.ID, p.ImagePath)
				}
			}
		})
	}
}
