package aphelion

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// sourceDir is the repository root (bindings/go is two levels down), or APHELION_SOURCE_DIR.
func sourceDir(t testing.TB) string {
	if d := os.Getenv("APHELION_SOURCE_DIR"); d != "" {
		return d
	}
	d, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// must returns v, or panics (failing the test with a stack trace) when err is not nil.
func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("unexpected error: %v", err))
	}
	return v
}

func noErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func cpu(t testing.TB) *Device {
	d := must(CPU())
	t.Cleanup(func() { d.Close() })
	return d
}

func TestVersion(t *testing.T) {
	ma, mi, pa := Version()
	if ma != HeaderVersionMajor || mi != HeaderVersionMinor {
		t.Fatalf("library %d.%d.%d, header %d.%d", ma, mi, pa, HeaderVersionMajor, HeaderVersionMinor)
	}
	if want := fmt.Sprintf("%d.%d.%d", ma, mi, pa); !strings.HasPrefix(VersionString(), want) {
		t.Fatalf("VersionString %q, want prefix %q", VersionString(), want)
	}
	if err := checkVersion(0, 2, 7); err != nil {
		t.Fatalf("0.2.7 must be accepted: %v", err)
	}
	err := checkVersion(0, 3, 1)
	if err == nil || !strings.Contains(err.Error(), "0.3.1") || !strings.Contains(err.Error(), "0.2") {
		t.Fatalf("a 0.3 library must be refused naming both versions, got %v", err)
	}
	if checkVersion(1, 2, 0) == nil {
		t.Fatal("another major version must be refused")
	}
}

func TestOpenEnums(t *testing.T) {
	if s := Status(42).String(); s != "Status(42)" {
		t.Fatalf("unknown status prints %q", s)
	}
	if s := StatusNotFound.String(); s != "APH_ERR_NOT_FOUND" || StatusName(StatusNotFound) != s {
		t.Fatalf("StatusNotFound prints %q, library %q", s, StatusName(StatusNotFound))
	}
	if DTypeF32.String() != "f32" || DTypeBF16.String() != DTypeBF16.Name() || DType(99).String() != "DType(99)" {
		t.Fatalf("dtype names: %v %v %v", DTypeF32, DTypeBF16, DType(99))
	}
	if LogLevelWarn.String() != LogLevelName(LogLevelWarn) {
		t.Fatalf("log level %q vs library %q", LogLevelWarn, LogLevelName(LogLevelWarn))
	}
	// Every dtype the binding names has the library's name.
	for d := DTypeF32; d <= DTypeF8E5M2; d++ {
		if d.String() != d.Name() {
			t.Errorf("dtype %d: binding %q, library %q", d, d.String(), d.Name())
		}
	}
	// A value outside the enum passed to the library is an error, never a crash.
	_, err := NewTensor(cpu(t), DType(77), 2)
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("dtype 77: %v", err)
	}
	e := &Error{Status: Status(42), Message: "from the future"}
	if !strings.Contains(e.Error(), "Status(42)") {
		t.Fatalf("unknown status error text %q", e.Error())
	}
}

func TestErrors(t *testing.T) {
	_, err := ModelConfigPreset("huge", "m")
	if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("want NotFound only, got %v", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Status != StatusNotFound || !strings.Contains(e.Message, "huge") {
		t.Fatalf("errors.As: %#v", e)
	}
	tr := must(NewTracker(100))
	defer tr.Close()
	err = tr.Allocate(101)
	if !errors.Is(err, ErrOutOfMemory) || !strings.Contains(err.Error(), "exceed limit of 100 bytes") {
		t.Fatalf("tracker over its limit: %v", err)
	}
	ex := smallExecutor(t)
	_, err = ex.Output("y")
	if !errors.Is(err, ErrInvalidState) {
		t.Fatalf("output before a run: %v", err)
	}
}

// Many goroutines fail at once with different messages; each must read its own (the message is
// copied inside the same cgo call as the failing call).
func TestErrorMessagesPerGoroutine(t *testing.T) {
	const goroutines, iterations = 64, 500
	var wg sync.WaitGroup
	errs := make(chan string, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < iterations; i++ {
				name := fmt.Sprintf("preset-g%d-i%d", g, i)
				_, err := ModelConfigPreset(name, "m")
				var e *Error
				if !errors.As(err, &e) || e.Status != StatusNotFound || !strings.Contains(e.Message, "'"+name+"'") {
					errs <- fmt.Sprintf("goroutine %d iteration %d: got %v", g, i, err)
					return
				}
				if i%3 == 0 {
					// A success in between must not disturb the next failure's message, and
					// yielding moves goroutines between OS threads.
					c := must(NewModelConfig("ok", "1.0.0"))
					c.Close()
					runtime.Gosched()
				}
				if i%5 == 0 {
					_, err := ParseDType(name)
					if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), name) {
						errs <- fmt.Sprintf("goroutine %d dtype %s: got %v", g, name, err)
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestCloseIsIdempotentAndSafe(t *testing.T) {
	d := cpu(t)
	x := must(Zeros(d, DTypeF32, 2, 3))
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = x.Shape()
			x.Close()
			x.Close()
		}()
	}
	wg.Wait()
	if _, err := x.Reshape(6); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrInvalidState) {
		t.Fatalf("use after Close: %v", err)
	}
	if x.NDim() != 0 || x.DType() != DTypeInvalid || x.Shape() == nil && false {
		t.Fatal("getters after Close give zero values")
	}
	// Views and devices can be released in any order.
	y := must(Zeros(d, DTypeF32, 4, 4))
	v := must(y.Transpose(0, 1))
	dev := y.Device()
	y.Close()
	dev.Close()
	got := must(ToSlice[float32](v))
	if len(got) != 16 || got[5] != 0 {
		t.Fatalf("view after its base closed: %v", got)
	}
	v.Close()
}

func TestFinalizerBackstop(t *testing.T) {
	d := cpu(t)
	tr := must(NewTracker(0))
	defer tr.Close()
	noErr(t, d.SetTracker(tr))
	defer d.SetTracker(nil)
	for i := 0; i < 50; i++ {
		_ = must(Zeros(d, DTypeF32, 1024)) // dropped without Close
	}
	for i := 0; i < 10 && tr.AllocatedBytes() > 0; i++ {
		runtime.GC()
		runtime.Gosched()
	}
	// The finalizers released the tensors: the memory went back to the device (whose allocator
	// may cache blocks, but the tracker sees live tensors only).
	if n := tr.AllocatedBytes(); n >= 50*4096 {
		t.Fatalf("finalizers did not release the tensors: %d bytes still charged", n)
	}
}

func TestDevices(t *testing.T) {
	n := must(DeviceCount(DeviceKindCPU))
	if n != 1 {
		t.Fatalf("cpu count %d", n)
	}
	d := cpu(t)
	if d.Kind() != DeviceKindCPU || d.Label() != "cpu" || d.Ordinal() != 0 || d.Name() == "" {
		t.Fatalf("cpu device: %v %q %d %q", d.Kind(), d.Label(), d.Ordinal(), d.Name())
	}
	if d.LogicalCores() < 1 || d.TotalMemory() == 0 {
		t.Fatalf("cores %d memory %d", d.LogicalCores(), d.TotalMemory())
	}
	free, total, err := d.MemoryInfo()
	noErr(t, err)
	if total == 0 || free > total {
		t.Fatalf("memory info %d/%d", free, total)
	}
	if _, _, err := d.ComputeCapability(); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("compute capability of a CPU: %v", err)
	}
	_, err = OpenDevice(DeviceKindCUDA, 7)
	if !errors.Is(err, ErrDeviceNotAvailable) || !strings.Contains(err.Error(), "cuda:7") {
		t.Fatalf("cuda:7: %v", err)
	}
	cfg := must(NewDeviceConfig())
	defer cfg.Close()
	noErr(t, cfg.SetForceCPU(true))
	noErr(t, cfg.SetComponent("gotest"))
	noErr(t, cfg.SetCUDADevice(2))
	if !cfg.ForceCPU() || cfg.Component() != "gotest" || cfg.CUDADevice() != 2 {
		t.Fatal("device config round trip")
	}
	if err := cfg.SetCUDADevice(-1); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("negative ordinal: %v", err)
	}
	sel := must(SelectDevice(cfg))
	defer sel.Close()
	if sel.Kind() != DeviceKindCPU {
		t.Fatal("forced CPU selected something else")
	}
	info := must(GetCUDAInfo())
	if info.DeviceCount == 0 && info.Reason == "" {
		t.Fatal("no CUDA device and no reason")
	}
	s := must(d.DefaultStream())
	defer s.Close()
	sd := s.Device()
	defer sd.Close()
	if sd.Label() != "cpu" || s.CUDAHandle() != nil {
		t.Fatal("default stream of the CPU")
	}
	idle := must(s.Idle())
	ev := must(NewEvent(d))
	defer ev.Close()
	noErr(t, ev.Record(s))
	noErr(t, s.WaitEvent(ev))
	noErr(t, ev.Synchronize())
	done := must(ev.Done())
	if !idle || !done {
		t.Fatal("CPU streams are idle and their events done")
	}
	noErr(t, s.Synchronize())
	noErr(t, d.Synchronize())
	st := must(d.MemoryStats())
	_ = st
	noErr(t, d.ResetPeakStats())
	noErr(t, d.EmptyCache())
	s2 := must(NewStream(d))
	s2.Close()
	ev2 := must(ev.Retain())
	ev2.Close()
	mem := must(d.Allocate(256, nil))
	noErr(t, d.RecordStream(mem, st0(t, d)))
	noErr(t, d.Free(mem))
	if err := d.Free(mem); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("double free of raw memory: %v", err)
	}
	err = WithCPUThreadLimit(2, func() error {
		if CPUThreadLimit() != 2 || CPUThreadCount() != 2 {
			return fmt.Errorf("limit %d count %d", CPUThreadLimit(), CPUThreadCount())
		}
		return nil
	})
	noErr(t, err)
	if err := WithCPUThreadLimit(5000, func() error { return nil }); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("thread limit 5000: %v", err)
	}
}

func st0(t testing.TB, d *Device) *Stream {
	s := must(d.DefaultStream())
	t.Cleanup(func() { s.Close() })
	return s
}

func TestTracker(t *testing.T) {
	tr := must(NewTracker(1000))
	defer tr.Close()
	noErr(t, tr.Allocate(600))
	if !tr.WouldFit(400) || tr.WouldFit(401) || tr.AllocatedBytes() != 600 || tr.PeakBytes() != 600 || tr.LimitBytes() != 1000 {
		t.Fatal("tracker counters")
	}
	noErr(t, tr.Deallocate(600))
	if err := tr.Deallocate(1); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("deallocating too much: %v", err)
	}
	if n := must(tr.EstimateWithOverhead([]int64{10, 100}, DTypeF32)); n != 4400 {
		t.Fatalf("estimate %d", n)
	}
	noErr(t, tr.SetOverheadFactor(2))
	if tr.OverheadFactor() != 2 {
		t.Fatal("overhead factor")
	}
	tr.Reset()
	if tr.PeakBytes() != 0 {
		t.Fatal("reset")
	}
	if n := must(EstimateTensorBytes([]int64{2, 3}, DTypeF64)); n != 48 {
		t.Fatalf("estimate %d", n)
	}
	if n := must(EstimateAttentionBytes(1, 1, 4, 2, DTypeF32)); n != 192 {
		t.Fatalf("attention estimate %d", n)
	}
}

func TestDTypes(t *testing.T) {
	if DTypeF32.Size() != 4 || !DTypeBF16.IsHalfPrecision() || !DTypeI8.IsInteger() || !DTypeF16.IsFloatingPoint() ||
		DTypeF64.IsTraining() || DTypeF16.Accumulator() != DTypeF32 {
		t.Fatal("dtype properties")
	}
	if d := must(ParseDType("bfloat16")); d != DTypeBF16 {
		t.Fatalf("bfloat16 -> %v", d)
	}
	if PrecisionModeBF16.ComputeDType() != DTypeBF16 || PrecisionModeBF16.MasterWeightDType() != DTypeF32 ||
		!PrecisionModeFP16.RequiresLossScaling() {
		t.Fatal("precision modes")
	}
}

func randomF32(r *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(r.NormFloat64())
	}
	return out
}

func TestTensorsZeroCopy(t *testing.T) {
	d := cpu(t)
	r := rand.New(rand.NewSource(1))
	src := randomF32(r, 12)
	x := must(FromSlice(d, src, 3, 4))
	defer x.Close()
	if x.DType() != DTypeF32 || x.NDim() != 2 || x.Numel() != 12 || x.NBytes() != 48 || !x.IsContiguous() || x.IsReadOnly() {
		t.Fatal("tensor metadata")
	}
	if s := x.Strides(); s[0] != 4 || s[1] != 1 {
		t.Fatalf("strides %v", s)
	}
	data := must(x.Float32s())
	for i := range src {
		if data[i] != src[i] {
			t.Fatal("FromSlice copied wrong values")
		}
	}
	// Writes through the slice are the tensor's memory (no copy): a view sees them.
	data[5] = 42
	if uintptr(x.DataPointer()) == 0 {
		t.Fatal("data pointer")
	}
	tr := must(x.Transpose(0, 1))
	defer tr.Close()
	if !tr.SharesStorage(x) || tr.IsContiguous() {
		t.Fatal("transpose is a view")
	}
	vals := must(ToSlice[float32](tr)) // row-major copy of the 4x3 view
	if vals[1*3+1] != 42 {
		t.Fatalf("view does not see the write: %v", vals)
	}
	if _, err := Data[float32](tr); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a non-contiguous view as a slice: %v", err)
	}
	if _, err := Data[int64](x); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("wrong element type: %v", err)
	}
	// The other views.
	rs := must(x.Reshape(2, -1))
	defer rs.Close()
	if s := rs.Shape(); s[0] != 2 || s[1] != 6 {
		t.Fatalf("reshape %v", s)
	}
	sl := must(x.Slice(1, 0, 4, 2))
	defer sl.Close()
	nr := must(x.Narrow(0, 1, 2))
	defer nr.Close()
	se := must(x.Select(0, 1))
	defer se.Close()
	row := must(ToSlice[float32](se))
	if row[1] != 42 {
		t.Fatalf("select %v", row)
	}
	pm := must(x.Permute(1, 0))
	defer pm.Close()
	one := must(FromSlice(d, []float32{7}, 1, 4/4))
	defer one.Close()
	ex := must(one.Expand(3, 5))
	defer ex.Close()
	if e := must(ToSlice[float32](ex)); len(e) != 15 || e[14] != 7 {
		t.Fatalf("expand %v", e)
	}
	ct := must(tr.Contiguous())
	defer ct.Close()
	if !ct.IsContiguous() || ct.SharesStorage(x) {
		t.Fatal("contiguous copy")
	}
	if _, err := x.Reshape(5); !errors.Is(err, ErrInvalidArgument) && !errors.Is(err, ErrShapeMismatch) {
		t.Fatalf("bad reshape: %v", err)
	}
	// Copies in and out.
	y := must(NewTensor(d, DTypeF32, 3, 4))
	defer y.Close()
	noErr(t, y.Copy(x))
	b := make([]byte, 48)
	noErr(t, y.CopyToHost(b))
	noErr(t, y.CopyFromHost(b))
	noErr(t, y.CopyFromHostAsync(b, nil))
	noErr(t, y.CopyAsync(x, nil))
	noErr(t, CopyFromSlice(y, src))
	if err := y.CopyFromHost(b[:5]); !errors.Is(err, ErrShapeMismatch) {
		t.Fatalf("short copy: %v", err)
	}
	z := must(x.ToDevice(d))
	defer z.Close()
	bs := must(z.Bytes())
	if len(bs) != 48 {
		t.Fatal("bytes")
	}
	tb := must(TensorFromBytes(d, DTypeU8, []int64{2, 2}, []byte{1, 2, 3, 4}))
	defer tb.Close()
	on := must(NewTensorOnStream(d, DTypeI64, []int64{2}, nil))
	defer on.Close()
	st := must(d.DefaultStream())
	defer st.Close()
	noErr(t, on.RecordStream(st))
	rt := must(on.Retain())
	rt.Close()
	if on.NDim() != 1 {
		t.Fatal("retain/close of the second reference closed the first")
	}
	if td := tb.Device(); td.Label() != "cpu" || td.Close() != nil {
		t.Fatal("tensor device")
	}
	if (tb.ByteOffset()) != 0 {
		t.Fatal("byte offset")
	}
}

func TestOpsAgainstFloat64(t *testing.T) {
	d := cpu(t)
	r := rand.New(rand.NewSource(7))
	const m, k, n = 5, 7, 3
	av, bv := randomF32(r, m*k), randomF32(r, k*n)
	a := must(FromSlice(d, av, m, k))
	defer a.Close()
	b := must(FromSlice(d, bv, k, n))
	defer b.Close()
	out := must(NewTensor(d, DTypeF32, m, n))
	defer out.Close()
	o := must(out.Float32s())
	for i := range o {
		o[i] = float32(math.NaN()) // poisoned: beta 0 must not read it
	}
	noErr(t, Matmul(a, b, false, false, 1, 0, out, nil))
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var want float64
			for p := 0; p < k; p++ {
				want += float64(av[i*k+p]) * float64(bv[p*n+j])
			}
			if got := float64(o[i*n+j]); math.Abs(got-want) > 1e-5*(1+math.Abs(want)) {
				t.Fatalf("matmul [%d,%d] = %v, want %v", i, j, got, want)
			}
		}
	}
	relu := must(NewTensor(d, DTypeF32, m, k))
	defer relu.Close()
	noErr(t, Relu(a, relu, nil))
	rv := must(relu.Float32s())
	for i, v := range av {
		if want := float32(math.Max(float64(v), 0)); rv[i] != want {
			t.Fatalf("relu %v -> %v", v, rv[i])
		}
	}
	sm := must(NewTensor(d, DTypeF32, m, k))
	defer sm.Close()
	noErr(t, Softmax(a, sm, nil))
	sv := must(sm.Float32s())
	for i := 0; i < m; i++ {
		var sum, mx float64 = 0, math.Inf(-1)
		for p := 0; p < k; p++ {
			mx = math.Max(mx, float64(av[i*k+p]))
		}
		for p := 0; p < k; p++ {
			sum += math.Exp(float64(av[i*k+p]) - mx)
		}
		for p := 0; p < k; p++ {
			want := math.Exp(float64(av[i*k+p])-mx) / sum
			if math.Abs(float64(sv[i*k+p])-want) > 1e-6 {
				t.Fatalf("softmax %v want %v", sv[i*k+p], want)
			}
		}
	}
	noErr(t, BinaryScalar(BinaryOpMul, a, 2, relu, nil))
	noErr(t, Add(a, a, sm, nil))
	x2 := must(sm.Float32s())
	y2 := must(relu.Float32s())
	for i := range x2 {
		if x2[i] != y2[i] {
			t.Fatal("a + a != 2a")
		}
	}
	// A wrong output shape: the documented error, nothing written.
	bad := must(NewTensor(d, DTypeF32, n, m))
	defer bad.Close()
	if err := Matmul(a, b, false, false, 1, 0, bad, nil); !errors.Is(err, ErrShapeMismatch) {
		t.Fatalf("bad out shape: %v", err)
	}
	if err := Relu(nil, relu, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("nil input: %v", err)
	}
	sum := must(NewTensor(d, DTypeF32, m))
	defer sum.Close()
	noErr(t, Reduce(ReduceOpSum, a, -1, false, sum, nil))
	sumv := must(sum.Float32s())
	for i := 0; i < m; i++ {
		var want float64
		for p := 0; p < k; p++ {
			want += float64(av[i*k+p])
		}
		if math.Abs(float64(sumv[i])-want) > 1e-5 {
			t.Fatalf("sum %v want %v", sumv[i], want)
		}
	}
	am := must(NewTensor(d, DTypeI64, m))
	defer am.Close()
	noErr(t, Argmax(a, 1, false, am, nil))
}

func smallExecutor(t testing.TB) *Executor {
	g := must(LoadGraph(filepath.Join(sourceDir(t), "bench/ffi/small.json")))
	defer g.Close()
	ex := must(NewExecutor(g, cpu(t), nil))
	t.Cleanup(func() { ex.Close() })
	return ex
}

func TestExecutor(t *testing.T) {
	d := cpu(t)
	ex := smallExecutor(t)
	ins := must(ex.Inputs())
	if len(ins) != 1 || ins[0].Name != "x" || ins[0].DType != DTypeF32 || len(ins[0].Shape) != 2 || ins[0].Shape[1] != 16 {
		t.Fatalf("inputs %+v", ins)
	}
	outs := must(ex.Outputs())
	if len(outs) != 1 || outs[0].Name != "y" || ex.OutputNames()[0] != "y" {
		t.Fatalf("outputs %+v", outs)
	}
	if i := must(ex.FindInput("x")); i != 0 {
		t.Fatal("find input")
	}
	if _, err := ex.FindOutput("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("find output: %v", err)
	}
	if _, err := ex.FindWeight("w"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("find weight: %v", err)
	}
	if w := must(ex.Weights()); len(w) != 0 {
		t.Fatal("weights")
	}
	// Not every input bound: the documented state error.
	if err := ex.Run(context.Background()); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("run unbound: %v", err)
	}
	r := rand.New(rand.NewSource(3))
	xv := randomF32(r, 16)
	x := must(FromSlice(d, xv, 1, 16))
	defer x.Close()
	// An already-cancelled context refuses the run.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	noErr(t, ex.SetInput("x", x))
	if err := ex.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v", err)
	}
	if ex.RunCount() != 0 {
		t.Fatal("a refused run ran")
	}
	res := must(ex.RunWith(context.Background(), map[string]*Tensor{"x": x}))
	y := res["y"]
	defer y.Close()
	yv := must(ToSlice[float32](y))
	for i, v := range xv {
		if want := float32(math.Max(float64(v), 0)); yv[i] != want {
			t.Fatalf("y[%d] = %v, want relu(%v)", i, yv[i], v)
		}
	}
	if ex.RunCount() != 1 {
		t.Fatalf("run count %d", ex.RunCount())
	}
	// A bound output is written by later runs.
	bound := must(NewTensor(d, DTypeF32, 1, 16))
	defer bound.Close()
	noErr(t, ex.BindOutput("y", bound))
	noErr(t, ex.SetInput("x", x))
	noErr(t, ex.Run(context.Background()))
	bv := must(bound.Float32s())
	if bv[3] != yv[3] {
		t.Fatal("bound output")
	}
	noErr(t, ex.BindOutput("y", nil))
	pi := must(ex.PlanInfo())
	if pi.Steps != 1 || pi.PlansCached != 1 {
		t.Fatalf("plan info %+v", pi)
	}
	stats := must(ex.NodeStats())
	if len(stats) != 3 || stats[1].Op != "relu" {
		t.Fatalf("node stats %+v", stats)
	}
	names, _ := func() ([]string, []int64) { n, v, err := ex.Symbols(); noErr(t, err); return n, v }()
	if len(names) != 0 {
		t.Fatal("symbols of a fixed graph")
	}
	ex2 := must(ex.Retain())
	ex2.Close()
	if ex.RunCount() != 2 {
		t.Fatal("closing a second reference closed the first")
	}
	if err := ex.LoadWeights(context.Background(), "/nonexistent.safetensors"); !errors.Is(err, ErrIo) {
		t.Fatalf("weights file: %v", err)
	}
}

// Executors: one per goroutine in parallel, and one shared by several goroutines (the binding
// serialises it).
func TestExecutorsConcurrently(t *testing.T) {
	d := cpu(t)
	shared := smallExecutor(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			own := smallExecutor(t)
			x, err := FromSlice(d, make([]float32, 16), 1, 16)
			if err != nil {
				errs <- err
				return
			}
			defer x.Close()
			for i := 0; i < 50; i++ {
				for _, ex := range []*Executor{own, shared} {
					if err := ex.SetInput("x", x); err != nil {
						errs <- err
						return
					}
					if err := ex.Run(context.Background()); err != nil && !errors.Is(err, ErrInvalidState) {
						// Another goroutine's run may consume the shared binding first.
						errs <- err
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestGraphAndConfig(t *testing.T) {
	g := must(NewGraph())
	defer g.Close()
	in := must(ModelConfigFromJSON(`{"name":"input","version":"1.0.0","params":{"dtype":"f32","shape":[2,3]}}`))
	defer in.Close()
	relu := must(NewModelConfig("relu", "1.0.0"))
	defer relu.Close()
	outc := must(NewModelConfig("output", "1.0.0"))
	defer outc.Close()
	a := must(g.AddNode("x", in))
	b := must(g.AddNode("act", relu))
	c := must(g.AddNode("y", outc))
	noErr(t, g.AddEdge(a, b))
	noErr(t, g.AddEdge(b, c))
	if err := g.AddEdge(1, 9); !errors.Is(err, ErrNotFound) {
		t.Fatalf("edge to node 9: %v", err)
	}
	noErr(t, g.SetMetadata(b, "note", `"hi"`))
	if md := must(g.NodeMetadata(b)); md != `{"note":"hi"}` {
		t.Fatalf("metadata %s", md)
	}
	if g.NodeCount() != 3 || g.EdgeCount() != 2 || g.HasCycle() {
		t.Fatal("graph counts")
	}
	order := must(g.TopologicalSort())
	if len(order) != 3 || order[0] != a || order[2] != c {
		t.Fatalf("order %v", order)
	}
	name, cfg, err := g.Node(b)
	noErr(t, err)
	defer cfg.Close()
	if name != "act" || cfg.Name() != "relu" {
		t.Fatal("node")
	}
	if id := must(g.FindNode("y")); id != c {
		t.Fatal("find node")
	}
	f, to := func() (uint64, uint64) { f, to, err := g.Edge(1); noErr(t, err); return f, to }()
	if f != b || to != c {
		t.Fatal("edge")
	}
	h := must(g.StableHash())
	cl := must(g.Clone())
	defer cl.Close()
	if h2 := must(cl.StableHash()); len(h) != 64 || h != h2 {
		t.Fatalf("hash %q vs clone %q", h, h2)
	}
	js := must(g.ToJSON(false))
	g2 := must(GraphFromJSON([]byte(js)))
	defer g2.Close()
	if h3 := must(g2.StableHash()); h3 != h {
		t.Fatal("JSON round trip changes the hash")
	}
	if _, err := GraphFromJSON([]byte(`{"nodes": [`)); !errors.Is(err, ErrSerialization) {
		t.Fatalf("malformed JSON: %v", err)
	}
	dot := must(g.ToDot())
	if !strings.Contains(dot, "digraph") {
		t.Fatal("dot")
	}
	path := filepath.Join(t.TempDir(), "g.json")
	noErr(t, g.Save(path))
	g3 := must(LoadGraph(path))
	g3.Close()
	// The graph builds and runs.
	ex := must(NewExecutor(g, cpu(t), &ExecutorOptions{Profile: true, CPUThreads: 1}))
	defer ex.Close()
	// Model configuration parameters.
	m := must(ModelConfigPreset("small", "net"))
	defer m.Close()
	if v := must(m.Int("hidden_size")); v != 256 {
		t.Fatalf("hidden_size %d", v)
	}
	noErr(t, m.SetFloat("lr", 0.5))
	noErr(t, m.SetBool("on", true))
	noErr(t, m.SetString("s", "text"))
	noErr(t, m.SetJSON("j", `[1,2]`))
	if v := must(m.Float("lr")); v != 0.5 {
		t.Fatal("float")
	}
	if v := must(m.Bool("on")); !v {
		t.Fatal("bool")
	}
	if v := must(m.String("s")); v != "text" {
		t.Fatal("string")
	}
	if v := must(m.JSON("j")); v != "[1,2]" {
		t.Fatalf("json %s", v)
	}
	if !m.Has("lr") || len(m.Keys()) < 5 || m.Version() != "1.0.0" {
		t.Fatal("keys")
	}
	noErr(t, m.Remove("lr"))
	if _, err := m.Float("lr"); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("removed key: %v", err)
	}
	if err := m.SetFloat("nan", math.NaN()); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("NaN: %v", err)
	}
	mc := must(m.Clone())
	defer mc.Close()
	js2 := must(mc.ToJSON())
	if !strings.Contains(js2, `"name":"net"`) {
		t.Fatal(js2)
	}
	noErr(t, m.Validate())
	bad := must(NewModelConfig("", ""))
	defer bad.Close()
	if err := bad.Validate(); !errors.Is(err, ErrValidation) {
		t.Fatalf("validate: %v", err)
	}
	if v := must(bad.ValidationErrors()); !strings.Contains(v, "name: Name cannot be empty") {
		t.Fatal(v)
	}
	if err := ValidateName("a b"); !errors.Is(err, ErrValidation) {
		t.Fatal(err)
	}
	if err := ValidateVersion("1.2"); !errors.Is(err, ErrValidation) {
		t.Fatal(err)
	}
}
