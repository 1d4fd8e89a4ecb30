package embed

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// ORTLocalRel is where scripts/install-ort puts the ONNX Runtime shared
// library, relative to the project root.
const ORTLocalRel = ".cache/ort/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1"

// ORTEnv is the environment variable naming the ONNX Runtime shared library.
const ORTEnv = "ESSYNC_ORT_LIB"

// ORTWantVersion is the ONNX Runtime release line whose C API
// github.com/yalue/onnxruntime_go v1.27.0 is compiled against.
const ORTWantVersion = "1.24"

// ErrORTMissing is returned (wrapped) when no ONNX Runtime library can be found.
var ErrORTMissing = errors.New("ONNX Runtime shared library not found")

const ortHowTo = "to fix: unpack the essync release archive and run its bin/essync (it loads lib/libonnxruntime.so.1 beside it), " +
	"or run scripts/setup (or scripts/install-ort) in an essync checkout (it installs ONNX Runtime " + ORTWantVersion +
	".x into .cache/ort/), or pass --ort-lib / " + ORTEnv + "=<libonnxruntime.so.1 of ONNX Runtime " + ORTWantVersion + ".x>"

// FindORTLibrary returns the ONNX Runtime shared library to load: explicit
// (a flag) if set, else $ESSYNC_ORT_LIB, else lib/ beside the executable (a
// release archive), else the project-local copy installed by
// scripts/install-ort, found by walking up from the working directory and
// the executable. The error says what to run when none exists.
func FindORTLibrary(explicit string) (string, error) {
	p, _, err := LocateORTLibrary(explicit)
	return p, err
}

// ONNX Runtime's environment is process-global in onnxruntime_go: it is
// created once, from one library, and kept for the life of the process.
var (
	ortMu     sync.Mutex
	ortLoaded string
)

// initORT loads the library at path and creates the ORT environment, once per
// process. A failed load can be retried with another path; asking for a
// different library after one has loaded is an error.
func initORT(path string) error {
	ortMu.Lock()
	defer ortMu.Unlock()
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("onnxruntime %s: %w", path, err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real // the same file reached by two paths is the same library
	}
	if ortLoaded != "" {
		if ortLoaded != abs {
			return fmt.Errorf("onnxruntime: %s is already loaded in this process; cannot also load %s", ortLoaded, abs)
		}
		return nil
	}
	ort.SetSharedLibraryPath(abs)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("onnxruntime: cannot load %s (%v); it must be ONNX Runtime %s.x or newer: %s",
			abs, err, ORTWantVersion, ortHowTo)
	}
	ortLoaded = abs
	slog.Debug("onnxruntime loaded", "lib", abs, "version", ort.GetVersion())
	return nil
}

// ortSpin lets idle ORT worker threads busy-wait (ORT's default). Off: the
// decode goroutines need those cycles. A variable so benchmarks can compare
// (ESSYNC_BENCH_ORT_SPIN=1 in bench_test.go).
var ortSpin = false

// ortFastQuant turns off the precise int8 products below (ORT's default:
// saturating u8×s8 on x86 CPUs without VNNI). Only BenchmarkQuantPrecision
// sets it, to measure what the precision costs.
var ortFastQuant = false

// session is one ONNX Runtime session plus the names it reads and writes.
type session struct {
	s       *ort.DynamicAdvancedSession
	outputs []string
	// mapH, mapW are the feature map's spatial size when the card names one
	// (its outputs come last in run's result) at the card's Size; 0 otherwise.
	mapH, mapW int
	// dynamicMap is true when the model's input and feature map have dynamic
	// spatial dimensions (so it can run at Card.LocateSize too).
	dynamicMap bool
}

// modelStride is the ratio of input side to feature map side for a model
// with dynamic spatial dimensions (EfficientNet, MobileNet, ResNet: 32).
const modelStride = 32

// mapSize is the feature map's spatial size for an input of side size.
func (s *session) mapSize(size int) (int, int) {
	if s.dynamicMap {
		return (size + modelStride - 1) / modelStride, (size + modelStride - 1) / modelStride
	}
	return s.mapH, s.mapW
}

// newSession opens the model bytes with the given intra-op thread count and
// checks that the card's input and outputs exist with the card's shapes.
func newSession(card *Card, model []byte, threads int) (*session, error) {
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(model)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", card.ModelPath(), err)
	}
	if err := checkIO(card, ins, outs); err != nil {
		return nil, fmt.Errorf("model %s does not match its card %s: %w", card.ModelPath(), card.Path(), err)
	}
	mapH, mapW, dynamic, err := featureMapSize(card, ins, outs)
	if err != nil {
		return nil, fmt.Errorf("model %s does not match its card %s: %w", card.ModelPath(), card.Path(), err)
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("onnxruntime session options: %w", err)
	}
	defer opts.Destroy()
	if threads > 0 {
		if err := opts.SetIntraOpNumThreads(threads); err != nil {
			return nil, fmt.Errorf("onnxruntime intra-op threads %d: %w", threads, err)
		}
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("onnxruntime inter-op threads: %w", err)
	}
	if !ortSpin {
		// Idle ORT threads sleep instead of spinning, leaving the cores to the
		// decode goroutines between batches.
		if err := opts.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); err != nil {
			return nil, fmt.Errorf("onnxruntime spinning: %w", err)
		}
	}
	// On x86 CPUs without VNNI, ONNX Runtime multiplies u8 activations by s8
	// weights with an instruction that saturates 16-bit sums, so an int8
	// model's vectors depend on the CPU (one eval query in 160 flipped on an
	// AVX2-only EPYC). The precise mode multiplies u8 by u8 instead: the same
	// exact integer results as VNNI CPUs, where the entry changes nothing.
	if !ortFastQuant {
		if err := opts.AddSessionConfigEntry("session.x64quantprecision", "1"); err != nil {
			return nil, fmt.Errorf("onnxruntime x64 quantisation precision: %w", err)
		}
	}
	outputs := []string{card.OutputName}
	if card.LogitsName != "" {
		outputs = append(outputs, card.LogitsName)
	}
	if card.FeatureMapName != "" {
		outputs = append(outputs, card.FeatureMapName)
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(model, []string{card.InputName}, outputs, opts)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", card.ModelPath(), err)
	}
	return &session{s: s, outputs: outputs, mapH: mapH, mapW: mapW, dynamicMap: dynamic}, nil
}

// featureMapSize checks the card's feature map output, [N, Dims, H, W], and
// returns H and W at the card's Size (0, 0 when the card names none). H and W
// are fixed, or dynamic together with the input's spatial dimensions (then
// H = W = Size/32 and dynamic is true). Card.LocateSize needs dynamic ones.
func featureMapSize(card *Card, ins, outs []ort.InputOutputInfo) (h, w int, dynamic bool, err error) {
	if card.FeatureMapName == "" {
		return 0, 0, false, nil
	}
	inDynamic := false
	for _, in := range ins {
		if in.Name == card.InputName && len(in.Dimensions) == 4 {
			sp := in.Dimensions[2:4] // NCHW
			if card.Layout == LayoutNHWC {
				sp = in.Dimensions[1:3]
			}
			inDynamic = sp[0] < 0 && sp[1] < 0
		}
	}
	for _, o := range outs {
		if o.Name != card.FeatureMapName {
			continue
		}
		d := o.Dimensions
		if len(d) != 4 || (d[1] >= 0 && d[1] != int64(card.Dims)) {
			return 0, 0, false, fmt.Errorf("output %q: shape %v, want [N, %d, H, W]", o.Name, d, card.Dims)
		}
		if d[2] < 0 && d[3] < 0 && inDynamic {
			if card.Size%modelStride != 0 {
				return 0, 0, false, fmt.Errorf("output %q has dynamic H and W: size %d must be a multiple of %d", o.Name, card.Size, modelStride)
			}
			return card.Size / modelStride, card.Size / modelStride, true, nil
		}
		if d[2] < 1 || d[3] < 1 {
			return 0, 0, false, fmt.Errorf("output %q: shape %v, want [N, %d, H, W] with fixed H and W (or H, W and the input's sides all dynamic)", o.Name, d, card.Dims)
		}
		if card.CropSize > 0 {
			return 0, 0, false, fmt.Errorf("crop_size %d needs a model whose input and output %q have dynamic spatial dimensions; it has %v", card.CropSize, o.Name, d)
		}
		if card.LocateSize > 0 {
			return 0, 0, false, fmt.Errorf("locate_size %d needs a model whose input and output %q have dynamic spatial dimensions; it has %v", card.LocateSize, o.Name, d)
		}
		return int(d[2]), int(d[3]), false, nil
	}
	return 0, 0, false, fmt.Errorf("no output named %q (model has %v)", card.FeatureMapName, names(outs))
}

// checkIO compares the model's declared input/outputs with the card.
func checkIO(card *Card, ins, outs []ort.InputOutputInfo) error {
	var in *ort.InputOutputInfo
	for i := range ins {
		if ins[i].Name == card.InputName {
			in = &ins[i]
		}
	}
	if in == nil {
		return fmt.Errorf("no input named %q (model has %v)", card.InputName, names(ins))
	}
	want := []int64{-1, 3, int64(card.Size), int64(card.Size)}
	if card.Layout == LayoutNHWC {
		want = []int64{-1, int64(card.Size), int64(card.Size), 3}
	}
	if err := dimsMatch(in.Dimensions, want); err != nil {
		return fmt.Errorf("input %q: %w", card.InputName, err)
	}
	outWant := map[string]int64{card.OutputName: int64(card.Dims)}
	if card.LogitsName != "" {
		outWant[card.LogitsName] = int64(card.Classes)
	}
	for name, width := range outWant {
		var found bool
		for _, o := range outs {
			if o.Name != name {
				continue
			}
			found = true
			if err := dimsMatch(o.Dimensions, []int64{-1, width}); err != nil {
				return fmt.Errorf("output %q: %w", name, err)
			}
		}
		if !found {
			return fmt.Errorf("no output named %q (model has %v)", name, names(outs))
		}
	}
	return nil
}

// dimsMatch checks got against want, where -1 in want accepts anything and
// a dynamic (-1) dimension in got accepts any wanted value.
func dimsMatch(got ort.Shape, want []int64) error {
	if len(got) != len(want) {
		return fmt.Errorf("shape %v, want %v", got, want)
	}
	for i := range want {
		if want[i] != -1 && got[i] >= 0 && got[i] != want[i] {
			return fmt.Errorf("shape %v, want %v", got, want)
		}
	}
	return nil
}

func names(infos []ort.InputOutputInfo) []string {
	out := make([]string, len(infos))
	for i, info := range infos {
		out[i] = info.Name
	}
	return out
}

// run feeds n preprocessed images of side size (input holds n*3*size²
// floats) and returns the raw outputs, one flat slice per output name, each
// n*width long.
func (s *session) run(card *Card, size int, input []float32, n int) ([][]float32, error) {
	shape := ort.NewShape(int64(n), 3, int64(size), int64(size))
	if card.Layout == LayoutNHWC {
		shape = ort.NewShape(int64(n), int64(size), int64(size), 3)
	}
	in, err := ort.NewTensor(shape, input)
	if err != nil {
		return nil, fmt.Errorf("input tensor: %w", err)
	}
	defer in.Destroy()
	outs := make([]ort.Value, len(s.outputs))
	shapes := []ort.Shape{ort.NewShape(int64(n), int64(card.Dims))}
	if card.LogitsName != "" {
		shapes = append(shapes, ort.NewShape(int64(n), int64(card.Classes)))
	}
	if card.FeatureMapName != "" {
		mh, mw := s.mapSize(size)
		shapes = append(shapes, ort.NewShape(int64(n), int64(card.Dims), int64(mh), int64(mw)))
	}
	for i := range outs {
		t, err := ort.NewEmptyTensor[float32](shapes[i])
		if err != nil {
			return nil, fmt.Errorf("output tensor: %w", err)
		}
		defer t.Destroy()
		outs[i] = t
	}
	if err := s.s.Run([]ort.Value{in}, outs); err != nil {
		return nil, fmt.Errorf("inference: %w", err)
	}
	res := make([][]float32, len(outs))
	for i, o := range outs {
		res[i] = o.(*ort.Tensor[float32]).GetData()
	}
	return res, nil
}

func (s *session) close() error {
	if s == nil || s.s == nil {
		return nil
	}
	return s.s.Destroy()
}
