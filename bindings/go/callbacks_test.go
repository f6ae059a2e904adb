package aphelion

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"unsafe"
)

func TestLogCallback(t *testing.T) {
	var mu sync.Mutex
	var got []string
	noErr(t, SetLogCallback(func(level LogLevel, target, message string) {
		mu.Lock()
		got = append(got, fmt.Sprintf("%v %s %s", level, target, message))
		mu.Unlock()
	}))
	old := GetLogLevel()
	noErr(t, SetLogLevel(LogLevelInfo))
	noErr(t, LogWrite(LogLevelWarn, "aphelion::gotest", "hello from Go"))
	noErr(t, LogWrite(LogLevelDebug, "aphelion::gotest", "filtered out"))
	noErr(t, LogTrainingStep(1, 10, 0.5, 1e-3))
	noErr(t, LogMemoryUsage(1024, 2048, "gotest"))
	// Messages logged on many goroutines at once all arrive.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_ = LogWrite(LogLevelError, "aphelion::gotest", fmt.Sprintf("concurrent %d", i))
		}(i)
	}
	wg.Wait()
	// A panicking callback never crosses into C.
	noErr(t, SetLogCallback(func(LogLevel, string, string) { panic("boom in log callback") }))
	noErr(t, LogWrite(LogLevelError, "aphelion::gotest", "to a panicking callback"))
	noErr(t, SetLogCallback(nil))
	noErr(t, SetLogLevel(old))
	noErr(t, LogApplyPreset(LogPresetTesting))
	noErr(t, SetLogLevel(old))
	mu.Lock()
	defer mu.Unlock()
	joined := strings.Join(got, "\n")
	if !strings.Contains(joined, "warn aphelion::gotest hello from Go") || strings.Contains(joined, "filtered out") {
		t.Fatalf("log messages:\n%s", joined)
	}
	for i := 0; i < 8; i++ {
		if !strings.Contains(joined, fmt.Sprintf("concurrent %d", i)) {
			t.Fatalf("concurrent message %d missing:\n%s", i, joined)
		}
	}
	if err := SetLogLevel(LogLevel(9)); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("log level 9: %v", err)
	}
}

func TestTraceSinks(t *testing.T) {
	mem := must(NewMemoryTraceSink())
	defer mem.Close()
	var events, spans atomic.Int32
	cb := must(NewCallbackTraceSink(func(e TraceEvent) {
		events.Add(1)
		if e.ID == "panic" {
			panic("boom in trace callback")
		}
	}, func(TraceSpan) { spans.Add(1) }))
	filt := must(NewFilterTraceSink(mem, TraceLevelWarn))
	defer filt.Close()
	fan := must(NewFanoutTraceSink(filt, cb))
	defer fan.Close()
	cb.Close() // the fan-out keeps it (and its Go funcs) alive
	noErr(t, fan.Record(TraceEvent{ID: "a", Message: "info dropped by the filter"}))
	noErr(t, fan.Record(TraceEvent{ID: "b", Message: "kept", Level: TraceLevelError, SpanID: "s1"}))
	noErr(t, fan.Record(TraceEvent{ID: "panic", Message: "callback panics", Level: TraceLevelInfo}))
	noErr(t, fan.RecordSpan(TraceSpan{Name: "stage", Category: "stage", StartNs: 1, DurationNs: 5, ArgsJSON: `{"k":1}`}))
	if events.Load() != 3 || spans.Load() != 1 {
		t.Fatalf("callback sink saw %d events, %d spans", events.Load(), spans.Load())
	}
	evs := must(mem.Events())
	if len(evs) != 1 || evs[0].ID != "b" || evs[0].SpanID != "s1" || evs[0].Level != TraceLevelError || evs[0].Timestamp == 0 {
		t.Fatalf("memory sink events %+v", evs)
	}
	sps := must(mem.Spans())
	if len(sps) != 1 || sps[0].ArgsJSON != `{"k":1}` {
		t.Fatalf("spans %+v", sps)
	}
	js := must(mem.ExportJSON())
	var parsed any
	noErr(t, json.Unmarshal([]byte(js), &parsed))
	chrome := must(mem.ExportChrome())
	noErr(t, json.Unmarshal([]byte(chrome), &parsed))
	noErr(t, mem.Clear())
	if len(must(mem.Events())) != 0 {
		t.Fatal("clear")
	}
	if evs, err := fan.Events(); err != nil || len(evs) != 0 {
		t.Fatalf("a fan-out keeps no events: %v %v", evs, err)
	}
	if err := mem.Record(TraceEvent{ID: "x", Message: "bad level", Level: TraceLevel(9)}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("event with level 9: %v", err)
	}
}

func TestPipelineCallbacks(t *testing.T) {
	d := cpu(t)
	sink := must(NewMemoryTraceSink())
	defer sink.Close()
	tr := must(NewTracker(1 << 20))
	defer tr.Close()
	bctx := must(NewBuildContext(d, sink, tr))
	defer bctx.Close()
	g := must(LoadGraph(filepath.Join(sourceDir(t), "bench/ffi/small.json")))
	defer g.Close()

	pl := must(PipelinePreset("run"))
	defer pl.Close()
	var progress []string
	noErr(t, pl.OnProgress(func(stage string, i, n int) { progress = append(progress, fmt.Sprintf("%s %d/%d", stage, i, n)) }))
	var stageSaw string
	noErr(t, pl.AddStage("count", func(c *BuildContext, g *Graph) error {
		stageSaw = fmt.Sprintf("%d nodes", g.NodeCount())
		return c.Trace(TraceLevelInfo, "go.stage", "from Go")
	}))
	var pre, post int
	noErr(t, pl.AddPreHook(func(c *BuildContext, g *Graph) error {
		pre++
		// Hooks see the graph read-only.
		if _, err := g.AddNode("z", nil); err == nil {
			return errors.New("a hook could change its graph")
		}
		return nil
	}))
	noErr(t, pl.AddPostHook(func(*BuildContext, *Graph) error { post++; return nil }))
	noErr(t, pl.Skip("hashing"))
	x := must(FromSlice(d, []float32{-1, 2, -3, 4, -5, 6, -7, 8, -9, 10, -11, 12, -13, 14, -15, 16}, 1, 16))
	defer x.Close()
	noErr(t, bctx.SetInput("x", x))
	noErr(t, bctx.SetExecutorOptions(&ExecutorOptions{CPUThreads: 1}))
	noErr(t, bctx.Allocate(10))
	noErr(t, pl.Run(context.Background(), bctx, g))
	if stageSaw != "3 nodes" || pre != 1 || post != 1 {
		t.Fatalf("stage saw %q, pre %d post %d", stageSaw, pre, post)
	}
	if names := pl.StageNames(); len(names) != 6 || names[5] != "count" {
		t.Fatalf("stages %v", names)
	}
	if len(progress) != 6 || progress[2] != "hashing (skipped) 3/6" {
		t.Fatalf("progress %v", progress)
	}
	ex := must(bctx.Executor())
	defer ex.Close()
	y := must(ex.Output("y"))
	defer y.Close()
	if v := must(ToSlice[float32](y)); v[0] != 0 || v[1] != 2 {
		t.Fatalf("executed output %v", v)
	}
	if dd := bctx.Device(); dd.Label() != "cpu" || dd.Close() != nil {
		t.Fatal("context device")
	}
	if s := bctx.Sink(); s == nil || s.Close() != nil {
		t.Fatal("context sink")
	}
	if tt := bctx.Tracker(); tt == nil || tt.AllocatedBytes() == 0 || tt.Close() != nil {
		t.Fatal("context tracker")
	}
	if err := bctx.Allocate(1 << 30); !errors.Is(err, ErrOutOfMemory) {
		t.Fatalf("over budget: %v", err)
	}

	// A failing stage: its *Error status is kept; a plain error is a backend error; a panic is
	// recovered into a failing status with its text. Nothing crosses into C.
	cases := []struct {
		fn     Stage
		status error
		text   string
	}{
		{func(*BuildContext, *Graph) error { return &Error{Status: StatusNotFound, Message: "no such thing"} }, ErrNotFound, "no such thing"},
		{func(*BuildContext, *Graph) error { return errors.New("plain failure") }, ErrBackend, "plain failure"},
		{func(*BuildContext, *Graph) error { panic("stage exploded") }, ErrBackend, "stage exploded"},
	}
	for i, c := range cases {
		p := must(NewPipeline())
		noErr(t, p.AddBuiltin("validation"))
		noErr(t, p.AddStage(fmt.Sprintf("s%d", i), c.fn))
		err := p.Run(context.Background(), bctx, g)
		if !errors.Is(err, c.status) || !strings.Contains(err.Error(), c.text) || !strings.Contains(err.Error(), fmt.Sprintf("(stage: s%d)", i)) {
			t.Errorf("case %d: %v", i, err)
		}
		p.Close()
	}
	hp := must(NewPipeline())
	defer hp.Close()
	noErr(t, hp.AddPreHook(func(*BuildContext, *Graph) error { panic(fmt.Errorf("hook exploded")) }))
	if err := hp.Run(context.Background(), bctx, g); !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), "hook exploded") {
		t.Fatalf("panicking hook: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := hp.Run(ctx, bctx, g); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled pipeline: %v", err)
	}
	if err := hp.AddBuiltin("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown builtin: %v", err)
	}
	if _, err := PipelinePreset("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown preset: %v", err)
	}
	noErr(t, pl.OnProgress(nil))
}

func TestCustomOp(t *testing.T) {
	d := cpu(t)
	noErr(t, RegisterCustomOp("go_double", CustomOp{
		Infer: func(params string, in []TensorSpec) (DType, []int64, error) {
			if len(in) != 1 {
				return 0, nil, &Error{Status: StatusInvalidArgument, Message: "go_double takes one operand"}
			}
			return in[0].DType, in[0].Shape, nil
		},
		CPU: func(params string, in []*Tensor, out *Tensor) error {
			var p struct{ Panic bool }
			_ = json.Unmarshal([]byte(params), &p)
			if p.Panic {
				panic("custom op exploded")
			}
			src, err := ToSlice[float32](in[0])
			if err != nil {
				return err
			}
			dst, err := out.Float32s()
			if err != nil {
				return err
			}
			for i := range src {
				dst[i] = 2 * src[i]
			}
			return nil
		},
	}))
	defer UnregisterCustomOp("go_double")
	build := func(params string) *Executor {
		g := must(GraphFromJSON([]byte(`{"nodes":[
			{"id":1,"name":"x","config":{"name":"input","version":"1.0.0","params":{"dtype":"f32","shape":[2,3]}},"metadata":{}},
			{"id":2,"name":"d","config":{"name":"go_double","version":"1.0.0","params":` + params + `},"metadata":{}},
			{"id":3,"name":"y","config":{"name":"output","version":"1.0.0","params":{}},"metadata":{}}],
			"edges":[[1,2],[2,3]]}`)))
		defer g.Close()
		ex := must(NewExecutor(g, d, nil))
		t.Cleanup(func() { ex.Close() })
		return ex
	}
	x := must(FromSlice(d, []float32{1, 2, 3, 4, 5, 6}, 2, 3))
	defer x.Close()
	ex := build(`{}`)
	out := must(ex.RunWith(context.Background(), map[string]*Tensor{"x": x}))
	y := must(ToSlice[float32](out["y"]))
	out["y"].Close()
	if y[5] != 12 {
		t.Fatalf("custom op output %v", y)
	}
	ex2 := build(`{"Panic":true}`)
	noErr(t, ex2.SetInput("x", x))
	err := ex2.Run(context.Background())
	if !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), "custom op exploded") {
		t.Fatalf("panicking custom op: %v", err)
	}
	if err := UnregisterCustomOp("never_registered"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unregister unknown: %v", err)
	}
	if err := RegisterCustomOp("relu", CustomOp{Infer: func(string, []TensorSpec) (DType, []int64, error) { return 0, nil, nil },
		CPU: func(string, []*Tensor, *Tensor) error { return nil }}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("registering a built-in name: %v", err)
	}
}

func TestSchemas(t *testing.T) {
	n := OpSchemaCount()
	if n < 20 {
		t.Fatalf("%d built-in operations", n)
	}
	mm := must(FindOpSchema("matmul"))
	if mm.Name != "matmul" || mm.Kind != NodeKindCompute || len(mm.Params) == 0 {
		t.Fatalf("matmul schema %+v", mm)
	}
	s0 := must(GetOpSchema(mm.Index))
	if s0.Name != "matmul" {
		t.Fatal("schema by index")
	}
	for i := 0; i < n; i++ {
		if _, err := GetOpSchema(i); err != nil {
			t.Fatalf("schema %d: %v", i, err)
		}
	}
	if _, err := FindOpSchema("frobnicate"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown op: %v", err)
	}
	if _, err := GetOpSchema(n); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("index out of range: %v", err)
	}
}

// Memory the caller owns (mmap'd: not Go memory) wrapped without a copy; the deleter runs once
// when the last reference goes.
func TestTensorFromBlobDeleter(t *testing.T) {
	d := cpu(t)
	mem, err := syscall.Mmap(-1, 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	noErr(t, err)
	f := unsafe.Slice((*float32)(unsafe.Pointer(&mem[0])), 8)
	for i := range f {
		f[i] = float32(i)
	}
	var deleted atomic.Int32
	x := must(TensorFromBlob(d, DTypeF32, []int64{2, 4}, nil, unsafe.Pointer(&mem[0]), func() {
		deleted.Add(1)
		_ = syscall.Munmap(mem)
	}))
	view := must(x.Select(0, 1))
	x.Close()
	if deleted.Load() != 0 {
		t.Fatal("deleter ran while a view lives")
	}
	if v := must(ToSlice[float32](view)); v[3] != 7 {
		t.Fatalf("blob view %v", v)
	}
	view.Close()
	if deleted.Load() != 1 {
		t.Fatalf("deleter ran %d times", deleted.Load())
	}
	// A panicking deleter is recovered.
	mem2, err := syscall.Mmap(-1, 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	noErr(t, err)
	defer syscall.Munmap(mem2)
	y := must(TensorFromBlob(d, DTypeU8, []int64{16}, nil, unsafe.Pointer(&mem2[0]), func() { panic("deleter exploded") }))
	y.Close()
	// Failure: the deleter is not called and the caller keeps the memory.
	_, err = TensorFromBlob(d, DTypeF32, []int64{2}, []int64{-1}, unsafe.Pointer(&mem2[0]), func() { t.Error("deleter of a failed wrap ran") })
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("negative stride: %v", err)
	}
}

func TestSafetensors(t *testing.T) {
	d := cpu(t)
	a := must(FromSlice(d, []float32{1, 2, 3, 4, 5, 6}, 2, 3))
	defer a.Close()
	b := must(FromSlice(d, []int64{7, 8}, 2))
	defer b.Close()
	path := filepath.Join(t.TempDir(), "w.safetensors")
	noErr(t, SaveSafetensors(path, []string{"a", "b"}, []*Tensor{a, b}, map[string]string{"format": "pt", "q\"uote": "x\u0001"}))
	f := must(OpenSafetensors(path))
	defer f.Close()
	if names := f.Names(); len(names) != 2 {
		t.Fatalf("names %v", names)
	}
	if md := must(f.Metadata()); !strings.Contains(md, `"format":"pt"`) {
		t.Fatalf("metadata %s", md)
	}
	dt, shape, err := f.Info("a")
	noErr(t, err)
	if dt != DTypeF32 || len(shape) != 2 || shape[1] != 3 {
		t.Fatalf("info %v %v", dt, shape)
	}
	if _, _, err := f.Info("zz"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing tensor: %v", err)
	}
	w := must(f.Tensor("a", d))
	defer w.Close()
	// Memory-mapped weights are read-only: no mutable slice; ToSlice copies.
	if !w.IsReadOnly() {
		t.Fatal("mapped weights should be read-only")
	}
	if _, err := w.Float32s(); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("mutable view of read-only weights: %v", err)
	}
	if _, err := w.Bytes(); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bytes of read-only weights: %v", err)
	}
	if v := must(ToSlice[float32](w)); v[4] != 5 {
		t.Fatalf("weights %v", v)
	}
	if err := w.CopyFromHost(make([]byte, 24)); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("write into read-only weights: %v", err)
	}
	cp := must(w.ToDevice(d))
	defer cp.Close()
	if v := must(cp.Float32s()); v[4] != 5 {
		t.Fatal("writable copy")
	}
	if _, err := OpenSafetensors(filepath.Join(t.TempDir(), "none.safetensors")); !errors.Is(err, ErrIo) {
		t.Fatalf("missing file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.safetensors")
	noErr(t, os.WriteFile(bad, []byte("\x10\x00\x00\x00\x00\x00\x00\x00{not json}      "), 0o644))
	if _, err := OpenSafetensors(bad); !errors.Is(err, ErrSerialization) {
		t.Fatalf("malformed file: %v", err)
	}
}

// The tokenizer gives sentence-transformers' ids for the golden sentences
// (tests/data/minilm/golden.json), through the binding.
func TestTokenizerGolden(t *testing.T) {
	var golden struct {
		Sentences []string    `json:"sentences"`
		InputIDs  [][]int64   `json:"input_ids"`
		MaxSeq    json.Number `json:"max_seq_length"`
	}
	raw := must(os.ReadFile(filepath.Join(sourceDir(t), "tests/data/minilm/golden.json")))
	noErr(t, json.Unmarshal(raw, &golden))
	dir := minilmDir(t)
	tok := must(LoadTokenizer(context.Background(), filepath.Join(dir, "tokenizer.json")))
	defer tok.Close()
	if tok.VocabSize() != 30522 || tok.TokenToID("[CLS]") != 101 || tok.SpecialTokenCount() != 2 {
		t.Fatalf("vocab %d, [CLS] %d, specials %d", tok.VocabSize(), tok.TokenToID("[CLS]"), tok.SpecialTokenCount())
	}
	if s, ok := tok.IDToToken(102); !ok || s != "[SEP]" {
		t.Fatalf("id 102 -> %q", s)
	}
	if _, ok := tok.IDToToken(1 << 40); ok {
		t.Fatal("id out of range")
	}
	maxLen := int(must(golden.MaxSeq.Int64()))
	opts := &EncodeOptions{Truncation: TruncationMaxLength, MaxLength: maxLen, Padding: PaddingLongest}
	for i, s := range golden.Sentences {
		ids := must(tok.EncodeIDs(s, opts))
		if fmt.Sprint(ids) != fmt.Sprint(golden.InputIDs[i]) {
			t.Errorf("sentence %d %q:\n got %v\nwant %v", i, s, ids, golden.InputIDs[i])
		}
	}
	// The batch form: padded to the longest, masks and lengths agree with the ids.
	d := cpu(t)
	enc := must(tok.Encode(golden.Sentences, opts, d))
	defer enc.Close()
	shape := enc.InputIDs.Shape()
	ids := must(enc.InputIDs.Int64s())
	mask := must(enc.AttentionMask.Int64s())
	for i := range golden.Sentences {
		want := golden.InputIDs[i]
		if enc.Lengths[i] != len(want) {
			t.Fatalf("length %d: %d vs %d", i, enc.Lengths[i], len(want))
		}
		for j := 0; j < int(shape[1]); j++ {
			v, m := ids[i*int(shape[1])+j], mask[i*int(shape[1])+j]
			if j < len(want) && (v != want[j] || m != 1) || j >= len(want) && m != 0 {
				t.Fatalf("batch row %d col %d: id %d mask %d", i, j, v, m)
			}
		}
	}
	js := must(os.ReadFile(filepath.Join(dir, "tokenizer.json")))
	tok2 := must(TokenizerFromJSON(js))
	defer tok2.Close()
	if tok2.MaxLength() != tok.MaxLength() {
		t.Fatal("tokenizer from JSON")
	}
	if _, err := tok.EncodeIDs("bad \xff utf8", opts); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("invalid UTF-8: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := LoadTokenizer(ctx, dir); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled load: %v", err)
	}
}
