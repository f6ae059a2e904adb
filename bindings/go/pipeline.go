package aphelion

/*
#include <stdlib.h>
#include "callbacks.h"
*/
import "C"

import (
	"context"
	"runtime/cgo"
)

// BuildContext is what a pipeline runs in: a device, a trace sink, a tracker, inputs, a weights
// file and the executor the plan stage makes (aph_build_context). One goroutine at a time in C;
// serialised here.
type BuildContext struct{ h handle[C.aph_build_context] }

// NewBuildContext makes a context (device nil: aph_device_select's default; sink and tracker
// may be nil). It keeps references to all three.
func NewBuildContext(device *Device, sink *TraceSink, tracker *Tracker) (*BuildContext, error) {
	var ps pins
	defer ps.release()
	var dp *C.aph_device
	var err error
	if device != nil {
		if dp, err = ps.device(device); err != nil {
			return nil, err
		}
	}
	var sp *C.aph_trace_sink
	if sink != nil {
		if sp, err = sink.h.use(); err != nil {
			return nil, err
		}
		ps.unlocks = append(ps.unlocks, sink.h.unlock)
	}
	var tp *C.aph_tracker
	if tracker != nil {
		if tp, err = tracker.h.use(); err != nil {
			return nil, err
		}
		ps.unlocks = append(ps.unlocks, tracker.h.unlock)
	}
	var out *C.aph_build_context
	var cerr *C.char
	if err := check(C.go_aph_build_context_create(dp, sp, tp, &out, &cerr), cerr); err != nil {
		return nil, err
	}
	c := &BuildContext{}
	c.h.init(out, func(p *C.aph_build_context) { C.aph_build_context_release(p) }, true, "BuildContext")
	setFinalizer(c)
	return c, nil
}

// Close releases the context with its inputs and executor (idempotent).
func (c *BuildContext) Close() error { c.h.close(); return nil }

// Device is a new reference to the context's device.
func (c *BuildContext) Device() *Device {
	defer c.h.unlock()
	return retainedDevice(C.aph_build_context_device(c.h.lock()))
}

// Sink is a new reference to the context's sink (nil when none).
func (c *BuildContext) Sink() *TraceSink {
	defer c.h.unlock()
	return retainedTraceSink(C.aph_build_context_sink(c.h.lock()))
}

// Tracker is a new reference to the context's tracker (nil when none).
func (c *BuildContext) Tracker() *Tracker {
	defer c.h.unlock()
	p := C.aph_build_context_tracker(c.h.lock())
	if p == nil {
		return nil
	}
	C.aph_tracker_retain(p)
	return newTracker(p)
}

// Trace records an event in the context's sink (timestamp now).
func (c *BuildContext) Trace(level TraceLevel, id, message string) error {
	ci, cm := cstr(id), cstr(message)
	return c.h.do(func(p *C.aph_build_context, cerr **C.char) C.aph_status {
		return C.go_aph_build_context_trace(p, C.aph_trace_level(level), ci, cm, cerr)
	})
}

// Allocate charges bytes to the context's tracker (ErrOutOfMemory past its limit).
func (c *BuildContext) Allocate(bytes uint64) error {
	return c.h.do(func(p *C.aph_build_context, cerr **C.char) C.aph_status {
		return C.go_aph_build_context_allocate(p, C.uint64_t(bytes), cerr)
	})
}

// SetInput binds an input by node name for the execute stage.
func (c *BuildContext) SetInput(name string, t *Tensor) error {
	var ps pins
	defer ps.release()
	tp, err := ps.tensor(t, "tensor", false)
	if err != nil {
		return err
	}
	n := cstr(name)
	return c.h.do(func(p *C.aph_build_context, cerr **C.char) C.aph_status {
		return C.go_aph_build_context_set_input(p, n, tp, cerr)
	})
}

// SetWeightsFile names the safetensors file for the weight nodes.
func (c *BuildContext) SetWeightsFile(path string) error {
	cp := cstr(path)
	return c.h.do(func(p *C.aph_build_context, cerr **C.char) C.aph_status {
		return C.go_aph_build_context_set_weights_file(p, cp, cerr)
	})
}

// SetExecutorOptions sets the options of the executor the plan stage makes (their Tracker and
// Trace are ignored: the context's are used).
func (c *BuildContext) SetExecutorOptions(opts *ExecutorOptions) error {
	var ps pins
	defer ps.release()
	co, err := opts.toC(&ps)
	if err != nil {
		return err
	}
	return c.h.do(func(p *C.aph_build_context, cerr **C.char) C.aph_status {
		return C.go_aph_build_context_set_executor_options(p, co, cerr)
	})
}

// Executor is a new reference to the executor the last plan stage made (ErrInvalidState before).
func (c *BuildContext) Executor() (*Executor, error) {
	var out *C.aph_executor
	if err := c.h.do(func(p *C.aph_build_context, cerr **C.char) C.aph_status {
		return C.go_aph_build_context_executor(p, &out, cerr)
	}); err != nil {
		return nil, err
	}
	return newExecutor(out), nil
}

// Stage is a custom pipeline stage or hook: ctx and graph are lent for the call only (do not
// keep them; they stop working when it returns). A hook's graph is read-only (its mutating
// methods fail). Returning an *Error keeps its Status; any other error fails the pipeline with
// StatusBackend; a panic is recovered and fails it with StatusBackend and the panic's text.
type Stage func(ctx *BuildContext, graph *Graph) error

type stageEntry struct {
	name string
	fn   Stage
	hook bool
}

type progressEntry struct {
	fn func(stage string, index, total int)
}

//export goAphStage
func goAphStage(h C.uintptr_t, ctx *C.aph_build_context, graph *C.aph_graph) (status C.aph_status) {
	e := cgo.Handle(h).Value().(*stageEntry)
	bc := &BuildContext{}
	bc.h.init(ctx, nil, true, "borrowed BuildContext")
	g := &Graph{readOnly: e.hook}
	g.h.init(graph, nil, true, "borrowed Graph")
	defer bc.h.detach()
	defer g.h.detach()
	what := "stage '" + e.name + "'"
	if e.hook {
		what = "pipeline hook"
	}
	defer func() {
		if r := recover(); r != nil {
			status = callbackStatus(recovered(what, r))
		}
	}()
	return callbackStatus(e.fn(bc, g))
}

//export goAphProgress
func goAphProgress(h C.uintptr_t, stage *C.char, index, total C.size_t) {
	defer func() {
		if r := recover(); r != nil {
			reportPanic("pipeline progress callback", r)
		}
	}()
	cgo.Handle(h).Value().(*progressEntry).fn(C.GoString(stage), int(index), int(total))
}

// Pipeline runs stages over a graph in a build context (aph_pipeline). One goroutine at a time
// in C; serialised here.
type Pipeline struct {
	h        handle[C.aph_pipeline]
	progress cgo.Handle // the progress callback's handle (deleted on replacement and Close)
}

func newPipeline(p *C.aph_pipeline) *Pipeline {
	pl := &Pipeline{}
	pl.h.init(p, func(p *C.aph_pipeline) { C.aph_pipeline_release(p) }, true, "Pipeline")
	setFinalizer(pl)
	return pl
}

// NewPipeline makes an empty pipeline.
func NewPipeline() (*Pipeline, error) {
	var out *C.aph_pipeline
	var cerr *C.char
	if err := check(C.go_aph_pipeline_create(&out, &cerr), cerr); err != nil {
		return nil, err
	}
	return newPipeline(out), nil
}

// PipelinePreset makes a preset pipeline ("standard", "for_training", "for_inference", "run").
func PipelinePreset(preset string) (*Pipeline, error) {
	cp := cstr(preset)
	var out *C.aph_pipeline
	var cerr *C.char
	if err := check(C.go_aph_pipeline_preset(cp, &out, &cerr), cerr); err != nil {
		return nil, err
	}
	return newPipeline(out), nil
}

// Close releases the pipeline and the Go callbacks it holds (idempotent).
func (pl *Pipeline) Close() error {
	pl.h.close()
	pl.h.mu.Lock()
	if pl.progress != 0 {
		pl.progress.Delete()
		pl.progress = 0
	}
	pl.h.mu.Unlock()
	return nil
}

// AddBuiltin appends a built-in stage ("validation", "hashing", "check", "plan", "execute").
func (pl *Pipeline) AddBuiltin(stage string) error {
	cs := cstr(stage)
	return pl.h.do(func(p *C.aph_pipeline, cerr **C.char) C.aph_status { return C.go_aph_pipeline_add_builtin(p, cs, cerr) })
}

// AddStage appends a custom stage.
func (pl *Pipeline) AddStage(name string, fn Stage) error {
	if fn == nil {
		return argError("fn is nil")
	}
	cs := cstr(name)
	h := cgo.NewHandle(&stageEntry{name: name, fn: fn})
	err := pl.h.do(func(p *C.aph_pipeline, cerr **C.char) C.aph_status {
		return C.go_pipeline_add_stage(p, cs, C.uintptr_t(h), cerr)
	})
	if err != nil {
		h.Delete() // not registered: destroy is not called
	}
	return err
}

func (pl *Pipeline) addHook(post bool, fn Stage) error {
	if fn == nil {
		return argError("fn is nil")
	}
	h := cgo.NewHandle(&stageEntry{fn: fn, hook: true})
	err := pl.h.do(func(p *C.aph_pipeline, cerr **C.char) C.aph_status {
		return C.go_pipeline_add_hook(p, cbool(post), C.uintptr_t(h), cerr)
	})
	if err != nil {
		h.Delete()
	}
	return err
}

// AddPreHook appends a hook run before the stages (its graph is read-only).
func (pl *Pipeline) AddPreHook(fn Stage) error { return pl.addHook(false, fn) }

// AddPostHook appends a hook run after the stages.
func (pl *Pipeline) AddPostHook(fn Stage) error { return pl.addHook(true, fn) }

// Skip adds a stage name to the skip list.
func (pl *Pipeline) Skip(stage string) error {
	cs := cstr(stage)
	return pl.h.do(func(p *C.aph_pipeline, cerr **C.char) C.aph_status { return C.go_aph_pipeline_skip(p, cs, cerr) })
}

// OnProgress sets the progress callback (nil: none): fn(stage, i, n) before each stage, i from 1.
func (pl *Pipeline) OnProgress(fn func(stage string, index, total int)) error {
	p, err := pl.h.use()
	if err != nil {
		return err
	}
	defer pl.h.unlock()
	var h cgo.Handle
	if fn != nil {
		h = cgo.NewHandle(&progressEntry{fn})
	}
	var cerr *C.char
	if err := check(C.go_pipeline_set_progress(p, C.uintptr_t(h), &cerr), cerr); err != nil {
		if h != 0 {
			h.Delete()
		}
		return err
	}
	if pl.progress != 0 {
		pl.progress.Delete()
	}
	pl.progress = h
	return nil
}

// StageNames are the stages in order.
func (pl *Pipeline) StageNames() []string {
	p := pl.h.lock()
	defer pl.h.unlock()
	n := int(C.aph_pipeline_stage_count(p))
	out := make([]string, n)
	for i := range out {
		out[i] = C.GoString(C.aph_pipeline_stage_name(p, C.size_t(i)))
	}
	return out
}

// Run runs the pipeline over graph in bctx (refused when ctx is already done).
func (pl *Pipeline) Run(ctx context.Context, bctx *BuildContext, graph *Graph) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if bctx == nil || graph == nil {
		return argError("build context and graph are required")
	}
	bp, err := bctx.h.use()
	if err != nil {
		return err
	}
	defer bctx.h.unlock()
	gp, err := graph.h.use()
	if err != nil {
		return err
	}
	defer graph.h.unlock()
	return pl.h.do(func(p *C.aph_pipeline, cerr **C.char) C.aph_status { return C.go_aph_pipeline_run(p, bp, gp, cerr) })
}
