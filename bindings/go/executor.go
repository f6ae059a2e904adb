package aphelion

/*
#include <stdlib.h>
#include "calls_generated.h"
*/
import "C"

import (
	"context"
	"unsafe"
)

// ExecutorOptions are an executor's options (aph_executor_options); the zero value gives the
// defaults.
type ExecutorOptions struct {
	Tracker       *Tracker   // charged with the memory held for runs; nil: none
	Trace         *TraceSink // spans per node and per run; nil: none
	Stream        *Stream    // nil: the device's default stream
	CheckNumerics bool       // fail a run at the first node producing NaN or Inf
	Profile       bool       // time every node (NodeStats)
	CPUThreads    int        // CPU worker threads for runs; 0: the default
	MaxPlans      int        // plans kept for symbolic sizes; 0: 8
	// MatmulPrecision: the linear layers' arithmetic (MatmulPrecisionF32 by default; BF16 and
	// INT8 on a CPU with AVX512_BF16 / AVX512_VNNI, else ErrNotImplemented from NewExecutor).
	MatmulPrecision MatmulPrecision
}

// toC locks the handles the options name (released by ps) and fills a C struct.
func (o *ExecutorOptions) toC(ps *pins) (*C.aph_executor_options, error) {
	if o == nil {
		return nil, nil
	}
	c := (*C.aph_executor_options)(C.calloc(1, C.sizeof_aph_executor_options))
	ps.unlocks = append(ps.unlocks, func() { C.free(unsafe.Pointer(c)) })
	c.struct_size = C.sizeof_aph_executor_options
	if o.Tracker != nil {
		p, err := o.Tracker.h.use()
		if err != nil {
			return nil, err
		}
		ps.unlocks = append(ps.unlocks, o.Tracker.h.unlock)
		c.tracker = p
	}
	if o.Trace != nil {
		p, err := o.Trace.h.use()
		if err != nil {
			return nil, err
		}
		ps.unlocks = append(ps.unlocks, o.Trace.h.unlock)
		c.trace = p
	}
	sp, err := ps.stream(o.Stream)
	if err != nil {
		return nil, err
	}
	c.stream = sp
	c.check_numerics = cbool(o.CheckNumerics)
	c.profile = cbool(o.Profile)
	c.cpu_threads = C.size_t(o.CPUThreads)
	c.max_plans = C.size_t(o.MaxPlans)
	c.matmul_precision = C.aph_matmul_precision(o.MatmulPrecision)
	return c, nil
}

// Executor runs a graph on a device (aph_executor). It must be used by one goroutine at a time
// in C; the binding serialises its methods, so sharing one is safe (calls take turns). Separate
// executors run in parallel.
type Executor struct{ h handle[C.aph_executor] }

func newExecutor(p *C.aph_executor) *Executor {
	e := &Executor{}
	e.h.init(p, func(p *C.aph_executor) { C.aph_executor_release(p) }, true, "Executor")
	setFinalizer(e)
	return e
}

// NewExecutor checks graph, infers shapes and dtypes, and plans memory for a copy of it on
// device. opts may be nil.
func NewExecutor(graph *Graph, device *Device, opts *ExecutorOptions) (*Executor, error) {
	if graph == nil {
		return nil, argError("graph is nil")
	}
	var ps pins
	defer ps.release()
	gp, err := graph.h.use()
	if err != nil {
		return nil, err
	}
	ps.unlocks = append(ps.unlocks, graph.h.unlock)
	dp, err := ps.device(device)
	if err != nil {
		return nil, err
	}
	co, err := opts.toC(&ps)
	if err != nil {
		return nil, err
	}
	var out *C.aph_executor
	var cerr *C.char
	if err := check(C.go_aph_executor_create(gp, dp, co, &out, &cerr), cerr); err != nil {
		return nil, err
	}
	return newExecutor(out), nil
}

// Close drops the executor's reference (idempotent).
func (e *Executor) Close() error { e.h.close(); return nil }

func (e *Executor) bind(name string, t *Tensor, optional bool,
	f func(p *C.aph_executor, n *C.char, t *C.aph_tensor, cerr **C.char) C.aph_status) error {
	var ps pins
	defer ps.release()
	tp, err := ps.tensor(t, "tensor", optional)
	if err != nil {
		return err
	}
	n := cstr(name)
	return e.h.do(func(p *C.aph_executor, cerr **C.char) C.aph_status { return f(p, n, tp, cerr) })
}

// SetInput binds input node name to t (a reference is kept until rebound or Close).
func (e *Executor) SetInput(name string, t *Tensor) error {
	return e.bind(name, t, false, func(p *C.aph_executor, n *C.char, tp *C.aph_tensor, cerr **C.char) C.aph_status {
		return C.go_aph_executor_set_input(p, n, tp, cerr)
	})
}

// SetWeight binds weight node name to t.
func (e *Executor) SetWeight(name string, t *Tensor) error {
	return e.bind(name, t, false, func(p *C.aph_executor, n *C.char, tp *C.aph_tensor, cerr **C.char) C.aph_status {
		return C.go_aph_executor_set_weight(p, n, tp, cerr)
	})
}

// BindOutput makes every later run write output name into t (nil unbinds).
func (e *Executor) BindOutput(name string, t *Tensor) error {
	return e.bind(name, t, true, func(p *C.aph_executor, n *C.char, tp *C.aph_tensor, cerr **C.char) C.aph_status {
		return C.go_aph_executor_bind_output(p, n, tp, cerr)
	})
}

// LoadWeights binds every weight node from a safetensors file (memory-mapped in place on the
// CPU: those weights are read-only tensors).
func (e *Executor) LoadWeights(ctx context.Context, path string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cp := cstr(path)
	return e.h.do(func(p *C.aph_executor, cerr **C.char) C.aph_status {
		return C.go_aph_executor_load_weights(p, cp, cerr)
	})
}

// Run runs the graph once with the bound inputs and weights. A context already cancelled (or
// past its deadline) refuses the run and returns ctx.Err(); a run in progress is not
// interrupted (the C run is not cancellable).
func (e *Executor) Run(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := e.h.use()
	if err != nil {
		return err
	}
	var cerr *C.char
	s := C.go_aph_executor_run(p, &cerr)
	e.h.unlock()
	return check(s, cerr)
}

// RunWith binds inputs (by input node name), runs once, and returns every output as a new
// tensor reference (the caller closes them; see Output for what they alias).
func (e *Executor) RunWith(ctx context.Context, inputs map[string]*Tensor) (map[string]*Tensor, error) {
	for name, t := range inputs {
		if err := e.SetInput(name, t); err != nil {
			return nil, err
		}
	}
	if err := e.Run(ctx); err != nil {
		return nil, err
	}
	outs := map[string]*Tensor{}
	for _, name := range e.OutputNames() {
		t, err := e.Output(name)
		if err != nil {
			for _, o := range outs {
				o.Close()
			}
			return nil, err
		}
		outs[name] = t
	}
	return outs, nil
}

// Output is output node name's value after the last successful run (a new reference). Unless
// the output is bound, it is over the executor's memory: the next Run overwrites it (copy it,
// or bind the output, to keep a value). ErrInvalidState before the first run.
func (e *Executor) Output(name string) (*Tensor, error) {
	n := cstr(name)
	var out *C.aph_tensor
	if err := e.h.do(func(p *C.aph_executor, cerr **C.char) C.aph_status {
		return C.go_aph_executor_output(p, n, &out, cerr)
	}); err != nil {
		return nil, err
	}
	return newTensor(out), nil
}

// ValueInfo describes an input, weight or output: a symbolic dimension is -1 in Shape with its
// name in DimNames ("" for a fixed one).
type ValueInfo struct {
	Name     string
	NodeID   uint64
	DType    DType
	Shape    []int64
	DimNames []string
}

func goValueInfo(v *C.aph_value_info) ValueInfo {
	info := ValueInfo{Name: C.GoString(v.name), NodeID: uint64(v.node_id), DType: DType(v.dtype),
		Shape: copyShape(v.shape, v.ndim)}
	if v.ndim > 0 && v.dim_names != nil {
		info.DimNames = make([]string, int(v.ndim))
		for i, s := range unsafe.Slice(v.dim_names, int(v.ndim)) {
			if s != nil {
				info.DimNames[i] = C.GoString(s)
			}
		}
	}
	return info
}

func (e *Executor) infos(count func(*C.aph_executor) C.size_t,
	info func(*C.aph_executor, C.size_t, *C.aph_value_info, **C.char) C.aph_status) ([]ValueInfo, error) {
	var out []ValueInfo
	err := e.h.do(func(p *C.aph_executor, cerr **C.char) C.aph_status {
		n := int(count(p))
		for i := 0; i < n; i++ {
			var v C.aph_value_info
			v.struct_size = C.sizeof_aph_value_info
			if s := info(p, C.size_t(i), &v, cerr); s != C.APH_OK {
				return s
			}
			out = append(out, goValueInfo(&v))
		}
		return C.APH_OK
	})
	return out, err
}

// Inputs are the input nodes' signatures, in graph order.
func (e *Executor) Inputs() ([]ValueInfo, error) {
	return e.infos(func(p *C.aph_executor) C.size_t { return C.aph_executor_input_count(p) },
		func(p *C.aph_executor, i C.size_t, v *C.aph_value_info, cerr **C.char) C.aph_status {
			return C.go_aph_executor_input_info(p, i, v, cerr)
		})
}

// Weights are the weight nodes' signatures.
func (e *Executor) Weights() ([]ValueInfo, error) {
	return e.infos(func(p *C.aph_executor) C.size_t { return C.aph_executor_weight_count(p) },
		func(p *C.aph_executor, i C.size_t, v *C.aph_value_info, cerr **C.char) C.aph_status {
			return C.go_aph_executor_weight_info(p, i, v, cerr)
		})
}

// Outputs are the output nodes' signatures.
func (e *Executor) Outputs() ([]ValueInfo, error) {
	return e.infos(func(p *C.aph_executor) C.size_t { return C.aph_executor_output_count(p) },
		func(p *C.aph_executor, i C.size_t, v *C.aph_value_info, cerr **C.char) C.aph_status {
			return C.go_aph_executor_output_info(p, i, v, cerr)
		})
}

// OutputNames are the output nodes' names, in graph order.
func (e *Executor) OutputNames() []string {
	p := e.h.lock()
	defer e.h.unlock()
	n := int(C.aph_executor_output_count(p))
	names := make([]string, n)
	for i := range names {
		names[i] = C.GoString(C.aph_executor_output_name(p, C.size_t(i)))
	}
	return names
}

func (e *Executor) find(name string, f func(*C.aph_executor, *C.char, *C.size_t, **C.char) C.aph_status) (int, error) {
	n := cstr(name)
	var idx C.size_t
	err := e.h.do(func(p *C.aph_executor, cerr **C.char) C.aph_status { return f(p, n, &idx, cerr) })
	return int(idx), err
}

// FindInput is the index of input name among Inputs (ErrNotFound).
func (e *Executor) FindInput(name string) (int, error) {
	return e.find(name, func(p *C.aph_executor, n *C.char, i *C.size_t, cerr **C.char) C.aph_status {
		return C.go_aph_executor_find_input(p, n, i, cerr)
	})
}

// FindWeight is the index of weight name among Weights (ErrNotFound).
func (e *Executor) FindWeight(name string) (int, error) {
	return e.find(name, func(p *C.aph_executor, n *C.char, i *C.size_t, cerr **C.char) C.aph_status {
		return C.go_aph_executor_find_weight(p, n, i, cerr)
	})
}

// FindOutput is the index of output name among Outputs (ErrNotFound).
func (e *Executor) FindOutput(name string) (int, error) {
	return e.find(name, func(p *C.aph_executor, n *C.char, i *C.size_t, cerr **C.char) C.aph_status {
		return C.go_aph_executor_find_output(p, n, i, cerr)
	})
}

// PlanInfo is the executor's memory plan (aph_plan_info).
type PlanInfo struct {
	ArenaBytes, LivePeakBytes, UnsharedBytes, OutputBytes, ConstantBytes, TotalBytes, BudgetBytes uint64
	Buffers, Steps, PlansCached                                                                   int
	PlansMade, ArenaCapacityBytes, HeldBytes                                                      uint64
}

// PlanInfo describes the current plan (ErrInvalidState for symbolic graphs before inputs give
// every symbol a size).
func (e *Executor) PlanInfo() (PlanInfo, error) {
	var c C.aph_plan_info
	c.struct_size = C.sizeof_aph_plan_info
	if err := e.h.do(func(p *C.aph_executor, cerr **C.char) C.aph_status {
		return C.go_aph_executor_plan_info(p, &c, cerr)
	}); err != nil {
		return PlanInfo{}, err
	}
	return PlanInfo{uint64(c.arena_bytes), uint64(c.live_peak_bytes), uint64(c.unshared_bytes), uint64(c.output_bytes),
		uint64(c.constant_bytes), uint64(c.total_bytes), uint64(c.budget_bytes), int(c.buffers), int(c.steps),
		int(c.plans_cached), uint64(c.plans_made), uint64(c.arena_capacity_bytes), uint64(c.held_bytes)}, nil
}

// NodeStats describes one node of the plan (aph_node_stats); Offset is ^uint64(0) when the
// value is not in the arena.
type NodeStats struct {
	ID              uint64
	Name, Op        string
	DType           DType
	Shape           []int64
	Bytes, Offset   uint64
	LastNs, TotalNs uint64
}

// NodeStats gives every node's statistics (timings when the Profile option is set).
func (e *Executor) NodeStats() ([]NodeStats, error) {
	var out []NodeStats
	err := e.h.do(func(p *C.aph_executor, cerr **C.char) C.aph_status {
		n := int(C.aph_executor_node_count(p))
		for i := 0; i < n; i++ {
			var s C.aph_node_stats
			s.struct_size = C.sizeof_aph_node_stats
			if st := C.go_aph_executor_node_stats(p, C.size_t(i), &s, cerr); st != C.APH_OK {
				return st
			}
			out = append(out, NodeStats{uint64(s.id), C.GoString(s.name), C.GoString(s.op), DType(s.dtype),
				copyShape(s.shape, s.ndim), uint64(s.bytes), uint64(s.offset), uint64(s.last_ns), uint64(s.total_ns)})
		}
		return C.APH_OK
	})
	return out, err
}

// RunCount is the number of successful runs.
func (e *Executor) RunCount() uint64 {
	defer e.h.unlock()
	return uint64(C.aph_executor_run_count(e.h.lock()))
}

// Symbols gives each symbolic dimension's name and its size now (-1 while unbound), in order.
func (e *Executor) Symbols() ([]string, []int64, error) {
	var names []string
	var values []int64
	err := e.h.do(func(p *C.aph_executor, cerr **C.char) C.aph_status {
		n := int(C.aph_executor_symbol_count(p))
		for i := 0; i < n; i++ {
			var name *C.char
			var v C.int64_t
			if s := C.go_aph_executor_symbol(p, C.size_t(i), &name, &v, cerr); s != C.APH_OK {
				return s
			}
			names = append(names, C.GoString(name))
			values = append(values, int64(v))
		}
		return C.APH_OK
	})
	return names, values, err
}

// Retain returns a second, independent *Executor for the same C executor (each closed separately).
func (e *Executor) Retain() (*Executor, error) {
	p, err := e.h.use()
	if err != nil {
		return nil, err
	}
	defer e.h.unlock()
	C.aph_executor_retain(p)
	return newExecutor(p), nil
}
