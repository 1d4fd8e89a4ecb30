package embed

import (
	"context"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

// mapFrom builds a channels×h×w feature map whose channel sums are the
// given h×w grid (spread over channels so the sum matters, not one channel).
func mapFrom(grid [][]float32, channels int) []float32 {
	h, w := len(grid), len(grid[0])
	fm := make([]float32, channels*h*w)
	for ch := 0; ch < channels; ch++ {
		for y := range grid {
			for x, v := range grid[y] {
				fm[ch*h*w+y*w+x] = v / float32(channels)
			}
		}
	}
	return fm
}

func TestSCDARegion(t *testing.T) {
	tests := []struct {
		name string
		grid [][]float32
		box  image.Rectangle
		ok   bool
	}{
		{"one blob", [][]float32{
			{0, 0, 0, 0},
			{0, 9, 8, 0},
			{0, 7, 0, 0},
			{0, 0, 0, 0},
		}, image.Rect(1, 1, 3, 3), true},
		{"largest of two blobs wins", [][]float32{
			{9, 0, 0, 0},
			{0, 0, 5, 5},
			{0, 0, 5, 5},
			{0, 0, 0, 0},
		}, image.Rect(2, 1, 4, 3), true},
		{"diagonal cells are not connected", [][]float32{
			{9, 0, 0, 0},
			{0, 9, 0, 0},
			{0, 0, 9, 9},
			{0, 0, 0, 0},
		}, image.Rect(2, 2, 4, 3), true},
		{"flat map has no region", [][]float32{
			{1, 1},
			{1, 1},
		}, image.Rectangle{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, w := len(tt.grid), len(tt.grid[0])
			mask, box, ok := scdaRegion(mapFrom(tt.grid, 3), 3, h, w)
			if ok != tt.ok || box != tt.box {
				t.Fatalf("box %v ok %v, want %v %v", box, ok, tt.box, tt.ok)
			}
			if ok {
				for i, m := range mask {
					if m != (image.Pt(i%w, i/w).In(tt.box) && tt.grid[i/w][i%w] > 0) {
						t.Errorf("mask %v does not match the region %v", mask, tt.box)
						break
					}
				}
			}
		})
	}
}

func TestMaskedPool(t *testing.T) {
	// 2 channels, 4 cells; mask keeps cells 1 and 2.
	fm := []float32{1, 2, 4, 8, 10, 20, 40, 80}
	got := maskedPool(fm, 2, 4, []bool{false, true, true, false})
	if want := []float32{3, 30}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestFocusCrop(t *testing.T) {
	crop := &Card{Size: 224, Resize: ResizeCrop}
	pad := &Card{Size: 224, Resize: ResizePad}
	crop70 := &Card{Size: 224, Resize: ResizeCrop, CropMaxShare: 0.7}
	pad70 := &Card{Size: 224, Resize: ResizePad, CropMaxShare: 0.7}
	tests := []struct {
		name   string
		card   *Card
		bounds image.Rectangle
		box    image.Rectangle // cells of a 7×7 map
		want   image.Rectangle
		ok     bool
	}{
		// 700×700: one cell is 100 px; cells 2..5 × 2..5 are 200..500, already square.
		{"square image, centred box", crop, image.Rect(0, 0, 700, 700), image.Rect(2, 2, 5, 5), image.Rect(200, 200, 500, 500), true},
		// A wide box becomes a square around its centre: x 100..600 (500 wide), y 300..400 → y 100..600.
		{"wide box is squared", crop, image.Rect(0, 0, 700, 700), image.Rect(1, 3, 6, 4), image.Rect(100, 100, 600, 600), true},
		// 1400×700 centre crop starts at x=350: cells 0..2 → x 350..550, y 0..200.
		{"landscape image: the centre square's cells", crop, image.Rect(0, 0, 1400, 700), image.Rect(0, 0, 2, 2), image.Rect(350, 0, 550, 200), true},
		// A square near the edge is shifted inside the image rather than cut.
		{"square kept inside the image", crop, image.Rect(0, 0, 700, 700), image.Rect(0, 3, 1, 7), image.Rect(0, 300, 400, 700), true},
		{"object fills the frame: no second pass", crop, image.Rect(0, 0, 700, 700), image.Rect(0, 0, 7, 6), image.Rectangle{}, false},
		{"tiny image: no second pass", crop, image.Rect(0, 0, 35, 35), image.Rect(3, 3, 4, 4), image.Rectangle{}, false},
		// Pad: 1400×700 scales by 6.25 to 224×112 at top 56; cells 0..7 × 2..5 (rows 64..160 px) → y (64-56)·6.25=50 .. 650.
		{"pad mode maps through the letterbox", pad, image.Rect(0, 0, 1400, 700), image.Rect(2, 2, 5, 5), image.Rect(400, 50, 1000, 650), true},
		// crop_max_share: a 6-cell-wide box (30 of 49 cells) squares to 600 px, 0.73 of the 700² frame.
		{"six of seven cells wide: cropped without a share limit", crop, image.Rect(0, 0, 700, 700), image.Rect(0, 2, 6, 7), image.Rect(0, 100, 600, 700), true},
		{"six of seven cells wide: kept whole at share 0.7", crop70, image.Rect(0, 0, 700, 700), image.Rect(0, 2, 6, 7), image.Rectangle{}, false},
		{"five of seven cells (0.51 of the frame): cropped at share 0.7", crop70, image.Rect(0, 0, 700, 700), image.Rect(1, 3, 6, 4), image.Rect(100, 100, 600, 600), true},
		// Pad sees the whole 1400×700: a 600² crop is 0.37 of it.
		{"pad: the share is of the whole image", pad70, image.Rect(0, 0, 1400, 700), image.Rect(2, 2, 5, 5), image.Rect(400, 50, 1000, 650), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := focusCrop(tt.card, tt.bounds, tt.box, 7, 7)
			if ok != tt.ok || got != tt.want {
				t.Errorf("got %v %v, want %v %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestVectorKeySeparatesFocus(t *testing.T) {
	c := &Card{SHA256: "5b35d9cdc090645af8fe008f9b68fac6181aa67cec87871a000046ef22047035"}
	if c.vectorKey() != c.SHA256 {
		t.Errorf("whole-image vectors must keep the model's own key (existing caches stay valid)")
	}
	crop, pool, locate, steps1, small := *c, *c, *c, *c, *c
	crop.Focus, pool.Focus, locate.Focus, steps1.Focus, small.Focus = FocusSCDACrop, FocusSCDAPool, FocusSCDACrop, FocusSCDACrop, FocusSCDACrop
	locate.LocateSize, steps1.FocusSteps, small.CropSize, small.FocusSteps = 128, 1, 192, 1
	keys := []string{c.vectorKey(), crop.vectorKey(), pool.vectorKey(), locate.vectorKey(), steps1.vectorKey(), small.vectorKey()}
	if len(slices.Compact(slices.Sorted(slices.Values(keys)))) != len(keys) || len(keys[1]) != 64 {
		t.Errorf("keys %q must differ per focus step and be 64 hex digits", keys)
	}
	two := crop
	two.FocusSteps = DefaultFocusSteps
	if two.vectorKey() != crop.vectorKey() || two.Fingerprint() != crop.Fingerprint() {
		t.Errorf("focus_steps %d is the default: fingerprint %q must equal %q", DefaultFocusSteps, two.Fingerprint(), crop.Fingerprint())
	}
	c.Name, locate.Name, small.Name = "m", "m", "m"
	if got := locate.Fingerprint(); got != "m@5b35d9cdc090+scda-crop-l128" {
		t.Errorf("locate fingerprint %q", got)
	}
	if got := small.Fingerprint(); got != "m@5b35d9cdc090+scda-crop-c192-s1" {
		t.Errorf("crop size fingerprint %q", got)
	}
	share := small
	share.CropMaxShare = 0.7
	if got := share.Fingerprint(); got != "m@5b35d9cdc090+scda-crop-c192-k70-s1" || share.vectorKey() == small.vectorKey() {
		t.Errorf("crop share fingerprint %q (key must differ from %q's)", got, small.Fingerprint())
	}
}

// TestFocusCropBringsPastedPhotosCloser runs the default model (real ORT) on
// every product of testdata/eval: the focus step must make a product's photos
// pasted onto other photos or shrunk onto white more like its original photo,
// on average, than whole-image vectors do (measured: mean cosine 0.571 → 0.612
// with one zoom step, 0.565 → 0.642 with two).
func TestFocusCropBringsPastedPhotosCloser(t *testing.T) {
	card := defaultCard(t)
	if card.Focus != FocusSCDACrop {
		t.Fatalf("default card focus %q, want %q", card.Focus, FocusSCDACrop)
	}
	whole := *card
	whole.Focus, whole.FocusSteps, whole.CropSize, whole.CropMaxShare = FocusNone, 0, 0, 0
	var in []Input
	for _, im := range loadEvalSet(t) {
		switch im.variant {
		case "orig", "paste1", "paste2", "white":
			in = append(in, Input{im.group + "/" + im.variant, filepath.Join(testdata, "eval", "images", im.file)})
		}
	}
	mean := map[string]float64{}
	for _, c := range []*Card{card, &whole} {
		res, err := newTestEmbedder(t, c, Options{IntraOpThreads: 2}).Embed(context.Background(), in, nil)
		if err != nil {
			t.Fatal(err)
		}
		orig := map[string][]float32{}
		for _, r := range res {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			if g, v, _ := strings.Cut(r.ID, "/"); v == "orig" {
				orig[g] = r.Vector
			}
		}
		var sum float64
		var n int
		for _, r := range res {
			g, v, _ := strings.Cut(r.ID, "/")
			if v == "orig" {
				continue
			}
			for k := range r.Vector {
				sum += float64(r.Vector[k]) * float64(orig[g][k])
			}
			n++
		}
		mean[c.Focus] = sum / float64(n)
	}
	t.Logf("mean cosine to the original photo: whole image %.3f, scda-crop %.3f", mean[FocusNone], mean[FocusSCDACrop])
	if mean[FocusSCDACrop] < mean[FocusNone]+0.03 {
		t.Errorf("scda-crop mean cosine %.3f is not clearly above the whole image's %.3f", mean[FocusSCDACrop], mean[FocusNone])
	}
}

// TestFeatureMapSize checks the shapes a card's feature map may have: fixed,
// or dynamic together with the input's sides (what locate_size needs).
func TestFeatureMapSize(t *testing.T) {
	card := &Card{InputName: "input", Layout: LayoutNCHW, Size: 224, Dims: 1280, FeatureMapName: "fm", Focus: FocusSCDACrop}
	locate, small := *card, *card
	locate.LocateSize, small.CropSize = 128, 192
	in := func(h, w int64) []ort.InputOutputInfo {
		return []ort.InputOutputInfo{{Name: "input", Dimensions: ort.NewShape(-1, 3, h, w)}}
	}
	fm := func(h, w int64) []ort.InputOutputInfo {
		return []ort.InputOutputInfo{{Name: "fm", Dimensions: ort.NewShape(-1, 1280, h, w)}}
	}
	tests := []struct {
		name       string
		card       *Card
		ins, outs  []ort.InputOutputInfo
		h, w       int
		dynamic    bool
		errContain string
	}{
		{"fixed", card, in(224, 224), fm(7, 7), 7, 7, false, ""},
		{"dynamic", card, in(-1, -1), fm(-1, -1), 7, 7, true, ""},
		{"dynamic with locate", &locate, in(-1, -1), fm(-1, -1), 7, 7, true, ""},
		{"locate needs a dynamic model", &locate, in(224, 224), fm(7, 7), 0, 0, false, "dynamic spatial"},
		{"dynamic with crop size", &small, in(-1, -1), fm(-1, -1), 7, 7, true, ""},
		{"crop size needs a dynamic model", &small, in(224, 224), fm(7, 7), 0, 0, false, "crop_size 192 needs"},
		{"dynamic map, fixed input", card, in(224, 224), fm(-1, -1), 0, 0, false, "fixed H and W"},
		{"wrong channels", card, in(224, 224), []ort.InputOutputInfo{{Name: "fm", Dimensions: ort.NewShape(-1, 64, 7, 7)}}, 0, 0, false, "want [N, 1280, H, W]"},
		{"missing", card, in(224, 224), nil, 0, 0, false, "no output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, w, dyn, err := featureMapSize(tt.card, tt.ins, tt.outs)
			if tt.errContain != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errContain) {
					t.Fatalf("err %v, want one containing %q", err, tt.errContain)
				}
				return
			}
			if err != nil || h != tt.h || w != tt.w || dyn != tt.dynamic {
				t.Errorf("got %d %d %v %v, want %d %d %v", h, w, dyn, err, tt.h, tt.w, tt.dynamic)
			}
		})
	}
}

// TestLocateSizeVectorsComeFromFullPasses runs the default model (real ORT,
// dynamic input) with a 128 px localisation pass on testdata/eval photos:
// every image costs a small pass and at least one pass at the card's Size,
// and no result is the small pass's own vector.
func TestLocateSizeVectorsComeFromFullPasses(t *testing.T) {
	card := defaultCard(t)
	card.LocateSize, card.CropSize = 128, 0
	var in []Input
	for _, im := range loadEvalSet(t) {
		if im.variant == "orig" || im.variant == "white" {
			in = append(in, Input{im.file, filepath.Join(testdata, "eval", "images", im.file)})
		}
	}
	e := newTestEmbedder(t, card, Options{IntraOpThreads: 2, BatchSize: 8})
	res, err := e.Embed(context.Background(), in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.inferred.Load(); got < int64(2*len(in)) {
		t.Errorf("%d model passes for %d images, want at least 2 each (locate + full size)", got, len(in))
	}
	lc := card.locateCard()
	for i, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		data, err := os.ReadFile(in[i].Path)
		if err != nil {
			t.Fatal(err)
		}
		img, err := decodeImage(in[i].Path, data, DefaultMaxPixels, card)
		if err != nil {
			t.Fatal(err)
		}
		small := make([]float32, tensorLen(lc))
		toTensor(lc, img, small)
		v, _, _, errs, err := e.inferRegions(lc.Size, small, 1)
		if err != nil || errs[0] != nil {
			t.Fatal(err, errs[0])
		}
		var dot float64
		for k := range v[0] {
			dot += float64(v[0][k]) * float64(r.Vector[k])
		}
		if dot > 0.99999 {
			t.Errorf("%s: the result is the %d px localisation pass's vector (cosine %.6f)", r.ID, lc.Size, dot)
		}
	}
}

// TestCropSizeVectorsComeFromTheSmallerPass runs the default model (real ORT)
// on testdata/eval photos pasted onto other photos, with crop_size 192: the
// object is cropped in (some) and every such result is the 192 px pass over
// the crop, the same the card at 224 gives for those not cropped.
func TestCropSizeVectorsComeFromTheSmallerPass(t *testing.T) {
	full := defaultCard(t)
	full.CropSize = 0
	small := *full
	small.CropSize = 192
	var in []Input
	for _, im := range loadEvalSet(t) {
		if im.variant == "paste1" || im.variant == "orig" {
			in = append(in, Input{im.file, filepath.Join(testdata, "eval", "images", im.file)})
		}
	}
	ef := newTestEmbedder(t, full, Options{IntraOpThreads: 2, BatchSize: 8})
	es := newTestEmbedder(t, &small, Options{IntraOpThreads: 2, BatchSize: 8})
	rf, err := ef.Embed(context.Background(), in, nil)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := es.Embed(context.Background(), in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ef.inferred.Load() != es.inferred.Load() || ef.inferred.Load() <= int64(len(in)) {
		t.Fatalf("passes: %d at 224, %d with crop_size; want equal and some crops", ef.inferred.Load(), es.inferred.Load())
	}
	same, differ := 0, 0
	for i := range rf {
		if rf[i].Err != nil || rs[i].Err != nil {
			t.Fatal(rf[i].Err, rs[i].Err)
		}
		if slices.Equal(rf[i].Vector, rs[i].Vector) {
			same++ // not cropped: the first pass's vector at 224 either way
		} else {
			differ++
		}
	}
	if same == 0 || differ == 0 {
		t.Errorf("%d vectors equal, %d differ: want both (uncropped photos keep the 224 px pass, crops use 192 px)", same, differ)
	}
}
