package aphelion

/*
#include <stdlib.h>
#include "calls_generated.h"
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// ---------------------------------------------------------------------------------------------
// Tracker (header section 6): thread-safe, reference counted.

// Tracker counts bytes against an optional limit (aph_tracker). Safe for concurrent use.
type Tracker struct{ h handle[C.aph_tracker] }

func newTracker(p *C.aph_tracker) *Tracker {
	t := &Tracker{}
	t.h.init(p, func(p *C.aph_tracker) { C.aph_tracker_release(p) }, false, "Tracker")
	setFinalizer(t)
	return t
}

// NewTracker makes a tracker; limitBytes 0 means unlimited.
func NewTracker(limitBytes uint64) (*Tracker, error) {
	var out *C.aph_tracker
	var cerr *C.char
	if err := check(C.go_aph_tracker_create(C.uint64_t(limitBytes), &out, &cerr), cerr); err != nil {
		return nil, err
	}
	return newTracker(out), nil
}

// Close gives back the tracker's reference (idempotent).
func (t *Tracker) Close() error { t.h.close(); return nil }

// Allocate adds bytes; ErrOutOfMemory when the limit would be exceeded.
func (t *Tracker) Allocate(bytes uint64) error {
	p, err := t.h.use()
	if err != nil {
		return err
	}
	defer t.h.unlock()
	var cerr *C.char
	return check(C.go_aph_tracker_allocate(p, C.uint64_t(bytes), &cerr), cerr)
}

// Deallocate subtracts bytes; more than allocated is ErrInvalidArgument.
func (t *Tracker) Deallocate(bytes uint64) error {
	p, err := t.h.use()
	if err != nil {
		return err
	}
	defer t.h.unlock()
	var cerr *C.char
	return check(C.go_aph_tracker_deallocate(p, C.uint64_t(bytes), &cerr), cerr)
}

// SetOverheadFactor sets the factor EstimateWithOverhead multiplies by (finite, > 0).
func (t *Tracker) SetOverheadFactor(factor float64) error {
	p, err := t.h.use()
	if err != nil {
		return err
	}
	defer t.h.unlock()
	var cerr *C.char
	return check(C.go_aph_tracker_set_overhead_factor(p, C.double(factor), &cerr), cerr)
}

// OverheadFactor is the current factor (0 after Close).
func (t *Tracker) OverheadFactor() float64 {
	defer t.h.unlock()
	return float64(C.aph_tracker_overhead_factor(t.h.lock()))
}

// WouldFit reports whether Allocate(bytes) would succeed right now.
func (t *Tracker) WouldFit(bytes uint64) bool {
	defer t.h.unlock()
	return C.aph_tracker_would_fit(t.h.lock(), C.uint64_t(bytes)) != 0
}

// AllocatedBytes is the current total (0 after Close).
func (t *Tracker) AllocatedBytes() uint64 {
	p := t.h.lock()
	n := C.aph_tracker_allocated_bytes(p)
	t.h.unlock()
	return uint64(n)
}

// PeakBytes is the highest total since creation or the last Reset.
func (t *Tracker) PeakBytes() uint64 {
	defer t.h.unlock()
	return uint64(C.aph_tracker_peak_bytes(t.h.lock()))
}

// LimitBytes is the limit (0: none).
func (t *Tracker) LimitBytes() uint64 {
	defer t.h.unlock()
	return uint64(C.aph_tracker_limit_bytes(t.h.lock()))
}

// Reset zeroes the total and the peak (meant for a tracker no other goroutine uses right now).
func (t *Tracker) Reset() {
	defer t.h.unlock()
	C.aph_tracker_reset(t.h.lock())
}

// EstimateWithOverhead is EstimateTensorBytes(shape, dtype) times the overhead factor.
func (t *Tracker) EstimateWithOverhead(shape []int64, dtype DType) (uint64, error) {
	p, err := t.h.use()
	if err != nil {
		return 0, err
	}
	defer t.h.unlock()
	var out C.uint64_t
	var cerr *C.char
	err = check(C.go_aph_tracker_estimate_with_overhead(p, shapePtr(shape), C.size_t(len(shape)), C.aph_dtype(dtype), &out, &cerr), cerr)
	return uint64(out), err
}

// ---------------------------------------------------------------------------------------------
// Device configuration (section 7): one goroutine at a time (the binding serialises it).

// DeviceConfig says what SelectDevice picks (aph_device_config).
type DeviceConfig struct{ h handle[C.aph_device_config] }

func newDeviceConfig(p *C.aph_device_config) *DeviceConfig {
	c := &DeviceConfig{}
	c.h.init(p, func(p *C.aph_device_config) { C.aph_device_config_release(p) }, true, "DeviceConfig")
	setFinalizer(c)
	return c
}

// NewDeviceConfig gives the defaults: CUDA device 0, not forced to the CPU, component "aphelion".
func NewDeviceConfig() (*DeviceConfig, error) {
	var out *C.aph_device_config
	var cerr *C.char
	if err := check(C.go_aph_device_config_create(&out, &cerr), cerr); err != nil {
		return nil, err
	}
	return newDeviceConfig(out), nil
}

// DeviceConfigFromEnv gives the defaults overridden by APHELION_FORCE_CPU, APHELION_CUDA_DEVICE, ...
func DeviceConfigFromEnv() (*DeviceConfig, error) {
	var out *C.aph_device_config
	var cerr *C.char
	if err := check(C.go_aph_device_config_from_env(&out, &cerr), cerr); err != nil {
		return nil, err
	}
	return newDeviceConfig(out), nil
}

// Close releases the configuration (idempotent).
func (c *DeviceConfig) Close() error { c.h.close(); return nil }

// SetCUDADevice sets the CUDA ordinal to prefer (>= 0).
func (c *DeviceConfig) SetCUDADevice(ordinal int32) error {
	p, err := c.h.use()
	if err != nil {
		return err
	}
	defer c.h.unlock()
	var cerr *C.char
	return check(C.go_aph_device_config_set_cuda_device(p, C.int32_t(ordinal), &cerr), cerr)
}

// SetForceCPU forces (or stops forcing) the CPU.
func (c *DeviceConfig) SetForceCPU(force bool) error {
	p, err := c.h.use()
	if err != nil {
		return err
	}
	defer c.h.unlock()
	var cerr *C.char
	return check(C.go_aph_device_config_set_force_cpu(p, cbool(force), &cerr), cerr)
}

// SetComponent sets the component named in the CPU-fallback warning (non-empty).
func (c *DeviceConfig) SetComponent(name string) error {
	p, err := c.h.use()
	if err != nil {
		return err
	}
	defer c.h.unlock()
	cs := cstr(name)
	var cerr *C.char
	return check(C.go_aph_device_config_set_component(p, cs, &cerr), cerr)
}

// CUDADevice is the configured ordinal (-1 after Close).
func (c *DeviceConfig) CUDADevice() int32 {
	defer c.h.unlock()
	return int32(C.aph_device_config_cuda_device(c.h.lock()))
}

// ForceCPU reports whether the CPU is forced.
func (c *DeviceConfig) ForceCPU() bool {
	defer c.h.unlock()
	return C.aph_device_config_force_cpu(c.h.lock()) != 0
}

// Component is the configured component name.
func (c *DeviceConfig) Component() string {
	defer c.h.unlock()
	return C.GoString(C.aph_device_config_component(c.h.lock()))
}

// ---------------------------------------------------------------------------------------------
// Devices (section 8): thread-safe, reference counted.

// Device is one CPU or CUDA GPU (aph_device). Safe for concurrent use.
type Device struct{ h handle[C.aph_device] }

func newDevice(p *C.aph_device) *Device {
	d := &Device{}
	d.h.init(p, func(p *C.aph_device) { C.aph_device_release(p) }, false, "Device")
	setFinalizer(d)
	return d
}

// retainedDevice wraps a borrowed device pointer as a new reference.
func retainedDevice(p *C.aph_device) *Device {
	if p == nil {
		return nil
	}
	C.aph_device_retain(p)
	return newDevice(p)
}

// OpenDevice opens a specific device (the CPU is ordinal 0); ErrDeviceNotAvailable when absent.
func OpenDevice(kind DeviceKind, ordinal int32) (*Device, error) {
	var out *C.aph_device
	var cerr *C.char
	if err := check(C.go_aph_device_open(C.aph_device_kind(kind), C.int32_t(ordinal), &out, &cerr), cerr); err != nil {
		return nil, err
	}
	return newDevice(out), nil
}

// CPU opens the CPU device.
func CPU() (*Device, error) { return OpenDevice(DeviceKindCPU, 0) }

// SelectDevice picks a device as config says (nil: from the environment); never fails for lack
// of a GPU (it falls back to the CPU with a warning).
func SelectDevice(config *DeviceConfig) (*Device, error) {
	var cp *C.aph_device_config
	if config != nil {
		var err error
		if cp, err = config.h.use(); err != nil {
			return nil, err
		}
		defer config.h.unlock()
	}
	var out *C.aph_device
	var cerr *C.char
	if err := check(C.go_aph_device_select(cp, &out, &cerr), cerr); err != nil {
		return nil, err
	}
	return newDevice(out), nil
}

// DeviceCount is the number of devices of a kind (1 for the CPU; 0 CUDA devices without a GPU).
func DeviceCount(kind DeviceKind) (int, error) {
	var out C.int32_t
	var cerr *C.char
	err := check(C.go_aph_device_count(C.aph_device_kind(kind), &out, &cerr), cerr)
	return int(out), err
}

// Close gives back the device reference (idempotent).
func (d *Device) Close() error { d.h.close(); return nil }

// Kind is CPU or CUDA.
func (d *Device) Kind() DeviceKind {
	defer d.h.unlock()
	return DeviceKind(C.aph_device_get_kind(d.h.lock()))
}

// Ordinal is the device's ordinal (0 for the CPU; -1 after Close).
func (d *Device) Ordinal() int32 {
	defer d.h.unlock()
	return int32(C.aph_device_ordinal(d.h.lock()))
}

// Label is "cpu" or "cuda:N" ("" after Close).
func (d *Device) Label() string {
	defer d.h.unlock()
	return C.GoString(C.aph_device_label(d.h.lock()))
}

// String is the Label.
func (d *Device) String() string { return d.Label() }

// Name is the hardware name (GPU name or CPU model).
func (d *Device) Name() string {
	defer d.h.unlock()
	return C.GoString(C.aph_device_name(d.h.lock()))
}

// MemoryInfo gives free and total memory in bytes, measured now.
func (d *Device) MemoryInfo() (free, total uint64, err error) {
	p, err := d.h.use()
	if err != nil {
		return 0, 0, err
	}
	defer d.h.unlock()
	var f, t C.uint64_t
	var cerr *C.char
	err = check(C.go_aph_device_memory_info(p, &f, &t, &cerr), cerr)
	return uint64(f), uint64(t), err
}

// TotalMemory is the total memory measured when the device was opened.
func (d *Device) TotalMemory() uint64 {
	defer d.h.unlock()
	return uint64(C.aph_device_total_memory(d.h.lock()))
}

// ComputeCapability is the CUDA compute capability; ErrInvalidArgument for a CPU.
func (d *Device) ComputeCapability() (major, minor int32, err error) {
	p, err := d.h.use()
	if err != nil {
		return 0, 0, err
	}
	defer d.h.unlock()
	var ma, mi C.int32_t
	var cerr *C.char
	err = check(C.go_aph_device_compute_capability(p, &ma, &mi, &cerr), cerr)
	return int32(ma), int32(mi), err
}

// MultiprocessorCount is the number of SMs of a CUDA device (0 for the CPU).
func (d *Device) MultiprocessorCount() int32 {
	defer d.h.unlock()
	return int32(C.aph_device_multiprocessor_count(d.h.lock()))
}

// LogicalCores is the CPU cores this process may run on (0 for CUDA).
func (d *Device) LogicalCores() int32 {
	defer d.h.unlock()
	return int32(C.aph_device_logical_cores(d.h.lock()))
}

// WarnIfCPU logs the once-per-process CPU warning when d is the CPU ("" component: "aphelion").
func (d *Device) WarnIfCPU(component string) {
	var cs *C.char
	if component != "" {
		cs = cstr(component)
	}
	defer d.h.unlock()
	C.aph_warn_if_cpu(d.h.lock(), cs)
}

// DefaultStream is a new reference to the device's default stream.
func (d *Device) DefaultStream() (*Stream, error) {
	p, err := d.h.use()
	if err != nil {
		return nil, err
	}
	defer d.h.unlock()
	return retainedStream(C.aph_device_default_stream(p)), nil
}

// Synchronize waits for all work queued on the device.
func (d *Device) Synchronize() error {
	p, err := d.h.use()
	if err != nil {
		return err
	}
	defer d.h.unlock()
	var cerr *C.char
	return check(C.go_aph_device_synchronize(p, &cerr), cerr)
}

// MemoryStats are the allocator's counters (aph_memory_stats).
type MemoryStats struct {
	AllocatedBytes, AllocatedBytesPeak, ReservedBytes, ReservedBytesPeak  uint64
	ActiveBytes, ActiveBytesPeak, RequestedBytes, RequestedBytesPeak      uint64
	Allocations, Frees, SegmentAllocations, SegmentFrees, CacheMisses     uint64
	AllocRetries, OutOfMemoryEvents, LeakedAllocations, ActiveAllocations uint64
	Segments                                                              uint64
}

// MemoryStats reads the device allocator's counters.
func (d *Device) MemoryStats() (MemoryStats, error) {
	p, err := d.h.use()
	if err != nil {
		return MemoryStats{}, err
	}
	defer d.h.unlock()
	var s C.aph_memory_stats
	s.struct_size = C.sizeof_aph_memory_stats
	var cerr *C.char
	if err := check(C.go_aph_device_memory_stats(p, &s, &cerr), cerr); err != nil {
		return MemoryStats{}, err
	}
	return MemoryStats{
		uint64(s.allocated_bytes), uint64(s.allocated_bytes_peak), uint64(s.reserved_bytes), uint64(s.reserved_bytes_peak),
		uint64(s.active_bytes), uint64(s.active_bytes_peak), uint64(s.requested_bytes), uint64(s.requested_bytes_peak),
		uint64(s.allocations), uint64(s.frees), uint64(s.segment_allocations), uint64(s.segment_frees), uint64(s.cache_misses),
		uint64(s.alloc_retries), uint64(s.out_of_memory_events), uint64(s.leaked_allocations), uint64(s.active_allocations),
		uint64(s.segments),
	}, nil
}

// ResetPeakStats resets the peak counters.
func (d *Device) ResetPeakStats() error {
	p, err := d.h.use()
	if err != nil {
		return err
	}
	defer d.h.unlock()
	var cerr *C.char
	return check(C.go_aph_device_reset_peak_stats(p, &cerr), cerr)
}

// EmptyCache gives cached free blocks back to the system.
func (d *Device) EmptyCache() error {
	p, err := d.h.use()
	if err != nil {
		return err
	}
	defer d.h.unlock()
	var cerr *C.char
	return check(C.go_aph_device_empty_cache(p, &cerr), cerr)
}

// SetTracker charges every later allocation to tracker (nil detaches).
func (d *Device) SetTracker(tracker *Tracker) error {
	p, err := d.h.use()
	if err != nil {
		return err
	}
	defer d.h.unlock()
	var tp *C.aph_tracker
	if tracker != nil {
		if tp, err = tracker.h.use(); err != nil {
			return err
		}
		defer tracker.h.unlock()
	}
	var cerr *C.char
	return check(C.go_aph_device_set_tracker(p, tp, &cerr), cerr)
}

// Tracker is a new reference to the attached tracker, nil when none is attached.
func (d *Device) Tracker() (*Tracker, error) {
	p, err := d.h.use()
	if err != nil {
		return nil, err
	}
	defer d.h.unlock()
	var out *C.aph_tracker
	var cerr *C.char
	if err := check(C.go_aph_device_tracker(p, &out, &cerr), cerr); err != nil || out == nil {
		return nil, err
	}
	return newTracker(out), nil
}

// WithCPUThreadLimit runs fn with the calling goroutine locked to its OS thread and that
// thread's CPU worker count for eager operations set to threads (aph_cpu_set_thread_limit is
// per OS thread; 0 means the process default), then restores the previous setting.
func WithCPUThreadLimit(threads int, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev := C.aph_cpu_get_thread_limit()
	var cerr *C.char
	if err := check(C.go_aph_cpu_set_thread_limit(C.size_t(threads), &cerr), cerr); err != nil {
		return err
	}
	defer func() {
		var cerr *C.char
		_ = check(C.go_aph_cpu_set_thread_limit(prev, &cerr), cerr)
	}()
	return fn()
}

// CPUThreadLimit is the calling OS thread's setting (0: none); meaningful inside
// WithCPUThreadLimit, where the goroutine stays on one thread.
func CPUThreadLimit() int { return int(C.aph_cpu_get_thread_limit()) }

// CPUThreadCount is the number of CPU worker threads eager operations called now use.
func CPUThreadCount() int { return int(C.aph_cpu_thread_count()) }

// CUDAInfo says whether CUDA support was built, loaded and found devices (aph_cuda_info).
type CUDAInfo struct {
	ModuleBuilt, ModuleLoaded, DriverPresent   bool
	ModulePath, Reason                         string
	DriverVersion, RuntimeVersion, DeviceCount int32
}

// GetCUDAInfo loads the CUDA module on first use and reports what it found.
func GetCUDAInfo() (CUDAInfo, error) {
	var i C.aph_cuda_info
	i.struct_size = C.sizeof_aph_cuda_info
	var cerr *C.char
	if err := check(C.go_aph_cuda_get_info(&i, &cerr), cerr); err != nil {
		return CUDAInfo{}, err
	}
	return CUDAInfo{
		ModuleBuilt: i.module_built != 0, ModuleLoaded: i.module_loaded != 0, DriverPresent: i.driver_present != 0,
		ModulePath: C.GoString(i.module_path), Reason: C.GoString(i.reason),
		DriverVersion: int32(i.driver_version), RuntimeVersion: int32(i.runtime_version), DeviceCount: int32(i.device_count),
	}, nil
}

// ---------------------------------------------------------------------------------------------
// Streams and events (section 10): thread-safe, reference counted.

// Stream is an in-order queue of work on one device (aph_stream). A nil *Stream passed to a
// function means the device's default stream.
type Stream struct{ h handle[C.aph_stream] }

func newStream(p *C.aph_stream) *Stream {
	s := &Stream{}
	s.h.init(p, func(p *C.aph_stream) { C.aph_stream_release(p) }, false, "Stream")
	setFinalizer(s)
	return s
}

func retainedStream(p *C.aph_stream) *Stream {
	if p == nil {
		return nil
	}
	C.aph_stream_retain(p)
	return newStream(p)
}

// NewStream makes a stream on device.
func NewStream(device *Device) (*Stream, error) {
	dp, err := device.h.use()
	if err != nil {
		return nil, err
	}
	defer device.h.unlock()
	var out *C.aph_stream
	var cerr *C.char
	if err := check(C.go_aph_stream_create(dp, &out, &cerr), cerr); err != nil {
		return nil, err
	}
	return newStream(out), nil
}

// WrapCUDAStream wraps an existing cudaStream_t (not owned: the caller keeps it alive).
func WrapCUDAStream(device *Device, cudaStream unsafe.Pointer) (*Stream, error) {
	dp, err := device.h.use()
	if err != nil {
		return nil, err
	}
	defer device.h.unlock()
	var out *C.aph_stream
	var cerr *C.char
	if err := check(C.go_aph_stream_wrap_cuda(dp, cudaStream, &out, &cerr), cerr); err != nil {
		return nil, err
	}
	return newStream(out), nil
}

// Close gives back the stream reference (idempotent).
func (s *Stream) Close() error { s.h.close(); return nil }

// lockStream locks an optional stream argument; the returned func unlocks it.
func lockStream(s *Stream) (*C.aph_stream, func(), error) {
	if s == nil {
		return nil, func() {}, nil
	}
	p, err := s.h.use()
	if err != nil {
		return nil, nil, err
	}
	return p, s.h.unlock, nil
}

// Device is a new reference to the stream's device.
func (s *Stream) Device() *Device {
	defer s.h.unlock()
	return retainedDevice(C.aph_stream_device(s.h.lock()))
}

// CUDAHandle is the cudaStream_t (nil on the CPU).
func (s *Stream) CUDAHandle() unsafe.Pointer {
	defer s.h.unlock()
	return C.aph_stream_cuda_handle(s.h.lock())
}

// Synchronize waits for the stream's work.
func (s *Stream) Synchronize() error {
	p, err := s.h.use()
	if err != nil {
		return err
	}
	defer s.h.unlock()
	var cerr *C.char
	return check(C.go_aph_stream_synchronize(p, &cerr), cerr)
}

// Idle reports whether all queued work is done (always true on the CPU).
func (s *Stream) Idle() (bool, error) {
	p, err := s.h.use()
	if err != nil {
		return false, err
	}
	defer s.h.unlock()
	var idle C.int
	var cerr *C.char
	err = check(C.go_aph_stream_query(p, &idle, &cerr), cerr)
	return idle != 0, err
}

// WaitEvent makes later work on s wait for e.
func (s *Stream) WaitEvent(e *Event) error {
	p, err := s.h.use()
	if err != nil {
		return err
	}
	defer s.h.unlock()
	ep, err := e.h.use()
	if err != nil {
		return err
	}
	defer e.h.unlock()
	var cerr *C.char
	return check(C.go_aph_stream_wait_event(p, ep, &cerr), cerr)
}

// Event marks a point in a stream (aph_event).
type Event struct{ h handle[C.aph_event] }

// NewEvent makes an event on device.
func NewEvent(device *Device) (*Event, error) {
	dp, err := device.h.use()
	if err != nil {
		return nil, err
	}
	defer device.h.unlock()
	var out *C.aph_event
	var cerr *C.char
	if err := check(C.go_aph_event_create(dp, &out, &cerr), cerr); err != nil {
		return nil, err
	}
	e := &Event{}
	e.h.init(out, func(p *C.aph_event) { C.aph_event_release(p) }, false, "Event")
	setFinalizer(e)
	return e, nil
}

// Close gives back the event reference (idempotent).
func (e *Event) Close() error { e.h.close(); return nil }

// Record records the event on stream (nil: the device's default stream).
func (e *Event) Record(stream *Stream) error {
	p, err := e.h.use()
	if err != nil {
		return err
	}
	defer e.h.unlock()
	sp, unlock, err := lockStream(stream)
	if err != nil {
		return err
	}
	defer unlock()
	var cerr *C.char
	return check(C.go_aph_event_record(p, sp, &cerr), cerr)
}

// Synchronize waits for the event.
func (e *Event) Synchronize() error {
	p, err := e.h.use()
	if err != nil {
		return err
	}
	defer e.h.unlock()
	var cerr *C.char
	return check(C.go_aph_event_synchronize(p, &cerr), cerr)
}

// Done reports whether the work before the event is complete.
func (e *Event) Done() (bool, error) {
	p, err := e.h.use()
	if err != nil {
		return false, err
	}
	defer e.h.unlock()
	var done C.int
	var cerr *C.char
	err = check(C.go_aph_event_query(p, &done, &cerr), cerr)
	return done != 0, err
}

// Allocate takes bytes of raw device memory from the device's caching allocator for use on
// stream (nil: the default stream). The pointer is C memory (a device pointer on CUDA): give it
// back with Free; tensors are the usual way to hold memory.
func (d *Device) Allocate(bytes int, stream *Stream) (unsafe.Pointer, error) {
	var ps pins
	defer ps.release()
	dp, err := ps.device(d)
	if err != nil {
		return nil, err
	}
	sp, err := ps.stream(stream)
	if err != nil {
		return nil, err
	}
	var out unsafe.Pointer
	var cerr *C.char
	if err := check(C.go_aph_device_allocate(dp, C.size_t(bytes), sp, &out, &cerr), cerr); err != nil {
		return nil, err
	}
	return out, nil
}

// Free gives back memory from Allocate.
func (d *Device) Free(ptr unsafe.Pointer) error {
	return d.h.do(func(p *C.aph_device, cerr **C.char) C.aph_status { return C.go_aph_device_free(p, ptr, cerr) })
}

// RecordStream records that stream uses memory from Allocate (for work the library does not see).
func (d *Device) RecordStream(ptr unsafe.Pointer, stream *Stream) error {
	var ps pins
	defer ps.release()
	sp, err := ps.stream(stream)
	if err != nil {
		return err
	}
	return d.h.do(func(p *C.aph_device, cerr **C.char) C.aph_status {
		return C.go_aph_device_record_stream(p, ptr, sp, cerr)
	})
}

// Retain returns a second, independent *Event for the same C event (each closed separately).
func (e *Event) Retain() (*Event, error) {
	p, err := e.h.use()
	if err != nil {
		return nil, err
	}
	defer e.h.unlock()
	C.aph_event_retain(p)
	r := &Event{}
	r.h.init(p, func(p *C.aph_event) { C.aph_event_release(p) }, false, "Event")
	setFinalizer(r)
	return r, nil
}
