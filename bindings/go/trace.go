package aphelion

/*
#include <stdlib.h>
#include "callbacks.h"
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// TraceEvent is one trace event (aph_trace_event). SpanID and TraceID are "" when absent.
// Timestamp is seconds since the Unix epoch (0 when recording: now); Level 0 when recording
// means TraceLevelInfo.
type TraceEvent struct {
	ID, Message     string
	Timestamp       float64
	Level           TraceLevel
	SpanID, TraceID string
}

// TraceSpan is one timed interval (aph_trace_span): a stage, an executed node, ...
type TraceSpan struct {
	Name, Category      string
	StartNs, DurationNs uint64
	Device              string
	Bytes               uint64
	ArgsJSON            string
}

// TraceSink receives trace events and spans (aph_trace_sink). Safe for concurrent use.
type TraceSink struct{ h handle[C.aph_trace_sink] }

func newTraceSink(p *C.aph_trace_sink) *TraceSink {
	s := &TraceSink{}
	s.h.init(p, func(p *C.aph_trace_sink) { C.aph_trace_sink_release(p) }, false, "TraceSink")
	setFinalizer(s)
	return s
}

func retainedTraceSink(p *C.aph_trace_sink) *TraceSink {
	if p == nil {
		return nil
	}
	C.aph_trace_sink_retain(p)
	return newTraceSink(p)
}

func traceSinkResult(s C.aph_status, out *C.aph_trace_sink, cerr *C.char) (*TraceSink, error) {
	if err := check(s, cerr); err != nil {
		return nil, err
	}
	return newTraceSink(out), nil
}

// NewMemoryTraceSink keeps every event and span in memory, in arrival order.
func NewMemoryTraceSink() (*TraceSink, error) {
	var out *C.aph_trace_sink
	var cerr *C.char
	return traceSinkResult(C.go_aph_trace_sink_memory(&out, &cerr), out, cerr)
}

// NewFilterTraceSink passes to inner only events at minLevel or above.
func NewFilterTraceSink(inner *TraceSink, minLevel TraceLevel) (*TraceSink, error) {
	ip, err := inner.h.use()
	if err != nil {
		return nil, err
	}
	defer inner.h.unlock()
	var out *C.aph_trace_sink
	var cerr *C.char
	return traceSinkResult(C.go_aph_trace_sink_filter(ip, C.aph_trace_level(minLevel), &out, &cerr), out, cerr)
}

// NewFanoutTraceSink passes everything to each of sinks in order.
func NewFanoutTraceSink(sinks ...*TraceSink) (*TraceSink, error) {
	ptrs := make([]*C.aph_trace_sink, len(sinks))
	for i, s := range sinks {
		if s == nil {
			return nil, argError("sinks contains nil")
		}
		p, err := s.h.use()
		if err != nil {
			return nil, err
		}
		defer s.h.unlock()
		ptrs[i] = p
	}
	var pp **C.aph_trace_sink
	if len(ptrs) > 0 {
		pp = &ptrs[0]
	}
	var out *C.aph_trace_sink
	var cerr *C.char
	return traceSinkResult(C.go_aph_trace_sink_fanout(pp, C.size_t(len(ptrs)), &out, &cerr), out, cerr)
}

type traceCallbacks struct {
	onEvent func(TraceEvent)
	onSpan  func(TraceSpan)
}

// NewCallbackTraceSink calls onEvent (required) for each event and onSpan (nil: spans dropped)
// for each span, on the recording thread, possibly concurrently: both must be safe for
// concurrent use. A panic in them is recovered and logged. The funcs stay referenced until the
// sink's last reference (filters and fan-outs hold some) is gone.
func NewCallbackTraceSink(onEvent func(TraceEvent), onSpan func(TraceSpan)) (*TraceSink, error) {
	if onEvent == nil {
		return nil, argError("onEvent is nil")
	}
	h := cgo.NewHandle(&traceCallbacks{onEvent, onSpan})
	var out *C.aph_trace_sink
	var cerr *C.char
	if err := check(C.go_trace_sink_callback(C.uintptr_t(h), &out, &cerr), cerr); err != nil {
		h.Delete()
		return nil, err
	}
	return newTraceSink(out), nil
}

func goTraceEvent(e *C.aph_trace_event) TraceEvent {
	return TraceEvent{
		ID: C.GoString(e.id), Message: C.GoString(e.message), Timestamp: float64(e.timestamp),
		Level: TraceLevel(e.level), SpanID: C.GoString(e.span_id), TraceID: C.GoString(e.trace_id),
	}
}

func goTraceSpan(s *C.aph_trace_span) TraceSpan {
	return TraceSpan{
		Name: C.GoString(s.name), Category: C.GoString(s.category), StartNs: uint64(s.start_ns),
		DurationNs: uint64(s.duration_ns), Device: C.GoString(s.device), Bytes: uint64(s.bytes),
		ArgsJSON: C.GoString(s.args_json),
	}
}

//export goAphTraceEvent
func goAphTraceEvent(h C.uintptr_t, e *C.aph_trace_event) {
	defer func() {
		if r := recover(); r != nil {
			reportPanic("trace event callback", r)
		}
	}()
	cgo.Handle(h).Value().(*traceCallbacks).onEvent(goTraceEvent(e))
}

//export goAphTraceSpan
func goAphTraceSpan(h C.uintptr_t, s *C.aph_trace_span) {
	defer func() {
		if r := recover(); r != nil {
			reportPanic("trace span callback", r)
		}
	}()
	if f := cgo.Handle(h).Value().(*traceCallbacks).onSpan; f != nil {
		f(goTraceSpan(s))
	}
}

// Close gives back the sink reference (idempotent).
func (s *TraceSink) Close() error { s.h.close(); return nil }

// optional C string: "" is NULL.
func optCString(s string) *C.char {
	if s == "" {
		return nil
	}
	return cAlloc(s)
}

// Record records an event (ID and Message required).
func (s *TraceSink) Record(e TraceEvent) error {
	id, msg, sp, tr := cAlloc(e.ID), cAlloc(e.Message), optCString(e.SpanID), optCString(e.TraceID)
	defer freeC(id)
	defer freeC(msg)
	defer freeC(sp)
	defer freeC(tr)
	level := e.Level
	if level == 0 {
		level = TraceLevelInfo
	}
	ev := C.aph_trace_event{struct_size: C.sizeof_aph_trace_event, id: id, message: msg,
		timestamp: C.double(e.Timestamp), level: C.aph_trace_level(level), span_id: sp, trace_id: tr}
	return s.h.do(func(p *C.aph_trace_sink, cerr **C.char) C.aph_status {
		return C.go_aph_trace_sink_record(p, &ev, cerr)
	})
}

// RecordSpan records a span (ArgsJSON "" or a JSON object).
func (s *TraceSink) RecordSpan(sp TraceSpan) error {
	name, cat, dev, args := cAlloc(sp.Name), cAlloc(sp.Category), optCString(sp.Device), optCString(sp.ArgsJSON)
	defer freeC(name)
	defer freeC(cat)
	defer freeC(dev)
	defer freeC(args)
	cs := C.aph_trace_span{struct_size: C.sizeof_aph_trace_span, name: name, category: cat,
		start_ns: C.uint64_t(sp.StartNs), duration_ns: C.uint64_t(sp.DurationNs), device: dev,
		bytes: C.uint64_t(sp.Bytes), args_json: args}
	return s.h.do(func(p *C.aph_trace_sink, cerr **C.char) C.aph_status {
		return C.go_aph_trace_sink_record_span(p, &cs, cerr)
	})
}

// Events copies the events of an in-memory sink (ErrInvalidArgument for other sinks).
func (s *TraceSink) Events() ([]TraceEvent, error) {
	var out []TraceEvent
	err := s.h.do(func(p *C.aph_trace_sink, cerr **C.char) C.aph_status {
		n := int(C.aph_trace_sink_event_count(p))
		for i := 0; i < n; i++ {
			var e C.aph_trace_event
			e.struct_size = C.sizeof_aph_trace_event
			if st := C.go_aph_trace_sink_event(p, C.size_t(i), &e, cerr); st != C.APH_OK {
				return st
			}
			out = append(out, goTraceEvent(&e))
		}
		return C.APH_OK
	})
	return out, err
}

// Spans copies the spans of an in-memory sink.
func (s *TraceSink) Spans() ([]TraceSpan, error) {
	var out []TraceSpan
	err := s.h.do(func(p *C.aph_trace_sink, cerr **C.char) C.aph_status {
		n := int(C.aph_trace_sink_span_count(p))
		for i := 0; i < n; i++ {
			var sp C.aph_trace_span
			sp.struct_size = C.sizeof_aph_trace_span
			if st := C.go_aph_trace_sink_span(p, C.size_t(i), &sp, cerr); st != C.APH_OK {
				return st
			}
			out = append(out, goTraceSpan(&sp))
		}
		return C.APH_OK
	})
	return out, err
}

// Clear empties an in-memory sink.
func (s *TraceSink) Clear() error {
	return s.h.do(func(p *C.aph_trace_sink, cerr **C.char) C.aph_status { return C.go_aph_trace_sink_clear(p, cerr) })
}

// ExportJSON is an in-memory sink's events as JSON.
func (s *TraceSink) ExportJSON() (string, error) {
	var out *C.char
	err := s.h.do(func(p *C.aph_trace_sink, cerr **C.char) C.aph_status {
		return C.go_aph_trace_export_json(p, &out, cerr)
	})
	return goStringFree(out), err
}

// ExportChrome is an in-memory sink's spans as Chrome trace-event JSON (chrome://tracing, Perfetto).
func (s *TraceSink) ExportChrome() (string, error) {
	var out *C.char
	err := s.h.do(func(p *C.aph_trace_sink, cerr **C.char) C.aph_status {
		return C.go_aph_trace_export_chrome(p, &out, cerr)
	})
	return goStringFree(out), err
}

var _ = unsafe.Pointer(nil)
