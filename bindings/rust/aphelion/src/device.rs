//! Devices, device configurations, trackers, streams and events (header sections 6-11).

use std::ffi::c_void;
use std::fmt;
use std::ptr::{self, NonNull};

use aphelion_sys as sys;

use crate::error::{borrowed_str, check, cstr, Error, Result};
use crate::types::{DType, DeviceKind};

macro_rules! handle {
    ($(#[$doc:meta])* $name:ident, $raw:ident, $release:ident $(, retain = $retain:ident)?) => {
        $(#[$doc])*
        pub struct $name {
            pub(crate) raw: std::ptr::NonNull<sys::$raw>,
        }

        impl $name {
            /// Takes ownership of one reference to a raw handle.
            ///
            /// # Safety
            /// `raw` is a valid handle whose reference the caller gives up.
            pub unsafe fn from_raw(raw: *mut sys::$raw) -> Option<$name> {
                std::ptr::NonNull::new(raw).map(|raw| $name { raw })
            }
            /// The raw handle (still owned by `self`).
            pub fn as_raw(&self) -> *mut sys::$raw {
                self.raw.as_ptr()
            }
            /// Gives up ownership: the caller releases the handle.
            pub fn into_raw(self) -> *mut sys::$raw {
                let p = self.raw.as_ptr();
                std::mem::forget(self);
                p
            }
        }

        impl Drop for $name {
            fn drop(&mut self) {
                unsafe { sys::$release(self.raw.as_ptr()) }
            }
        }

        $(
        impl Clone for $name {
            /// Another reference to the same object (`*_retain`).
            fn clone(&self) -> $name {
                unsafe { sys::$retain(self.raw.as_ptr()) };
                $name { raw: self.raw }
            }
        }
        )?
    };
}
pub(crate) use handle;

/// Makes a handle through a `T** out` constructor.
pub(crate) fn make<T>(f: impl FnOnce(*mut *mut T) -> i32) -> Result<NonNull<T>> {
    let mut out: *mut T = ptr::null_mut();
    check(f(&mut out))?;
    NonNull::new(out).ok_or_else(|| Error::new(crate::ErrorKind::Internal, "the library returned a NULL handle"))
}

handle!(
    /// A memory budget (`aph_tracker`): counts bytes against an optional limit. Thread-safe
    /// (`Send + Sync`) and reference counted (`Clone` adds a reference).
    Tracker, aph_tracker, aph_tracker_release, retain = aph_tracker_retain
);
unsafe impl Send for Tracker {}
unsafe impl Sync for Tracker {}

impl Tracker {
    /// A tracker with `limit_bytes` (0: unlimited).
    pub fn new(limit_bytes: u64) -> Result<Tracker> {
        crate::ensure_version()?;
        Ok(Tracker { raw: make(|o| unsafe { sys::aph_tracker_create(limit_bytes, o) })? })
    }
    pub fn set_overhead_factor(&self, factor: f64) -> Result<()> {
        check(unsafe { sys::aph_tracker_set_overhead_factor(self.as_raw(), factor) })
    }
    pub fn overhead_factor(&self) -> f64 {
        unsafe { sys::aph_tracker_overhead_factor(self.as_raw()) }
    }
    /// Charges bytes (OutOfMemory past the limit; nothing changes then).
    pub fn allocate(&self, bytes: u64) -> Result<()> {
        check(unsafe { sys::aph_tracker_allocate(self.as_raw(), bytes) })
    }
    pub fn deallocate(&self, bytes: u64) -> Result<()> {
        check(unsafe { sys::aph_tracker_deallocate(self.as_raw(), bytes) })
    }
    pub fn would_fit(&self, bytes: u64) -> bool {
        unsafe { sys::aph_tracker_would_fit(self.as_raw(), bytes) != 0 }
    }
    #[inline]
    pub fn allocated_bytes(&self) -> u64 {
        unsafe { sys::aph_tracker_allocated_bytes(self.as_raw()) }
    }
    pub fn peak_bytes(&self) -> u64 {
        unsafe { sys::aph_tracker_peak_bytes(self.as_raw()) }
    }
    pub fn limit_bytes(&self) -> u64 {
        unsafe { sys::aph_tracker_limit_bytes(self.as_raw()) }
    }
    /// Zeroes the total and the peak (meant for a tracker no other thread uses right now).
    pub fn reset(&self) {
        unsafe { sys::aph_tracker_reset(self.as_raw()) }
    }
    /// The tensor's bytes times the overhead factor.
    pub fn estimate_with_overhead(&self, shape: &[i64], dtype: DType) -> Result<u64> {
        let mut out = 0u64;
        check(unsafe {
            sys::aph_tracker_estimate_with_overhead(self.as_raw(), shape.as_ptr(), shape.len(), dtype.raw(), &mut out)
        })?;
        Ok(out)
    }
}

impl fmt::Debug for Tracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracker")
            .field("allocated_bytes", &self.allocated_bytes())
            .field("peak_bytes", &self.peak_bytes())
            .field("limit_bytes", &self.limit_bytes())
            .finish()
    }
}

/// `product(shape) × dtype size`.
pub fn estimate_tensor_bytes(shape: &[i64], dtype: DType) -> Result<u64> {
    let mut out = 0u64;
    check(unsafe { sys::aph_estimate_tensor_bytes(shape.as_ptr(), shape.len(), dtype.raw(), &mut out) })?;
    Ok(out)
}

/// Memory of a naive attention forward pass.
pub fn estimate_attention_bytes(batch: u64, heads: u64, seq_len: u64, head_dim: u64, dtype: DType) -> Result<u64> {
    let mut out = 0u64;
    check(unsafe { sys::aph_estimate_attention_bytes(batch, heads, seq_len, head_dim, dtype.raw(), &mut out) })?;
    Ok(out)
}

handle!(
    /// What [`Device::select`] picks (`aph_device_config`). Not thread-safe: `Send` but not
    /// `Sync`, and its setters take `&mut self`.
    DeviceConfig, aph_device_config, aph_device_config_release
);
unsafe impl Send for DeviceConfig {}

impl DeviceConfig {
    /// The defaults (CUDA device 0, not forced to the CPU, component "aphelion").
    pub fn new() -> Result<DeviceConfig> {
        crate::ensure_version()?;
        Ok(DeviceConfig { raw: make(|o| unsafe { sys::aph_device_config_create(o) })? })
    }
    /// The defaults overridden by APHELION_FORCE_CPU, APHELION_CUDA_DEVICE, ...
    pub fn from_env() -> Result<DeviceConfig> {
        crate::ensure_version()?;
        Ok(DeviceConfig { raw: make(|o| unsafe { sys::aph_device_config_from_env(o) })? })
    }
    pub fn set_cuda_device(&mut self, ordinal: i32) -> Result<()> {
        check(unsafe { sys::aph_device_config_set_cuda_device(self.as_raw(), ordinal) })
    }
    pub fn set_force_cpu(&mut self, force_cpu: bool) -> Result<()> {
        check(unsafe { sys::aph_device_config_set_force_cpu(self.as_raw(), force_cpu as i32) })
    }
    pub fn set_component(&mut self, name: &str) -> Result<()> {
        let c = cstr(name)?;
        check(unsafe { sys::aph_device_config_set_component(self.as_raw(), c.as_ptr()) })
    }
    pub fn cuda_device(&self) -> i32 {
        unsafe { sys::aph_device_config_cuda_device(self.as_raw()) }
    }
    pub fn force_cpu(&self) -> bool {
        unsafe { sys::aph_device_config_force_cpu(self.as_raw()) != 0 }
    }
    /// Borrowed from the config (valid until it changes: `&mut self` setters end the borrow).
    pub fn component(&self) -> &str {
        unsafe { borrowed_str(sys::aph_device_config_component(self.as_raw())) }.unwrap_or("")
    }
}

handle!(
    /// One CPU or CUDA GPU (`aph_device`). Thread-safe (`Send + Sync`) and reference counted;
    /// opening a device twice gives the same handle, so `==` compares devices.
    Device, aph_device, aph_device_release, retain = aph_device_retain
);
unsafe impl Send for Device {}
unsafe impl Sync for Device {}

impl PartialEq for Device {
    fn eq(&self, other: &Device) -> bool {
        self.raw == other.raw
    }
}
impl Eq for Device {}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Device({})", self.label())
    }
}
impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A CUDA-capable device's allocator statistics (`aph_memory_stats`).
pub type MemoryStats = sys::aph_memory_stats;
/// What the CUDA module reports (`aph_cuda_info`; its strings are static).
#[derive(Debug, Clone)]
pub struct CudaInfo {
    pub module_built: bool,
    pub module_loaded: bool,
    pub module_path: String,
    pub driver_present: bool,
    pub driver_version: i32,
    pub runtime_version: i32,
    pub device_count: i32,
    pub reason: String,
}

/// `aph_cuda_get_info`.
pub fn cuda_info() -> Result<CudaInfo> {
    let mut info: sys::aph_cuda_info = unsafe { std::mem::zeroed() };
    info.struct_size = std::mem::size_of::<sys::aph_cuda_info>();
    check(unsafe { sys::aph_cuda_get_info(&mut info) })?;
    Ok(CudaInfo {
        module_built: info.module_built != 0,
        module_loaded: info.module_loaded != 0,
        module_path: unsafe { borrowed_str(info.module_path) }.unwrap_or("").to_string(),
        driver_present: info.driver_present != 0,
        driver_version: info.driver_version,
        runtime_version: info.runtime_version,
        device_count: info.device_count,
        reason: unsafe { borrowed_str(info.reason) }.unwrap_or("").to_string(),
    })
}

impl Device {
    /// The CPU.
    pub fn cpu() -> Result<Device> {
        Device::open(DeviceKind::CPU, 0)
    }
    /// A specific device (DeviceNotAvailable when it does not exist).
    pub fn open(kind: DeviceKind, ordinal: i32) -> Result<Device> {
        crate::ensure_version()?;
        Ok(Device { raw: make(|o| unsafe { sys::aph_device_open(kind.raw(), ordinal, o) })? })
    }
    /// "cpu", "cuda" (ordinal 0) or "cuda:N".
    pub fn parse(label: &str) -> Result<Device> {
        match label {
            "cpu" | "cpu:0" => Device::cpu(),
            "cuda" => Device::open(DeviceKind::CUDA, 0),
            _ => match label.strip_prefix("cuda:").and_then(|n| n.parse::<i32>().ok()) {
                Some(n) => Device::open(DeviceKind::CUDA, n),
                None => Err(Error::invalid_argument(format!("device label '{label}' is not cpu, cuda or cuda:N"))),
            },
        }
    }
    /// Picks a device as rust-ai-core's get_device() does (`None`: from the environment).
    pub fn select(config: Option<&DeviceConfig>) -> Result<Device> {
        crate::ensure_version()?;
        let c = config.map_or(ptr::null(), |c| c.as_raw() as *const _);
        Ok(Device { raw: make(|o| unsafe { sys::aph_device_select(c, o) })? })
    }
    /// The number of devices of a kind (0 CUDA devices without a module or driver).
    pub fn count(kind: DeviceKind) -> Result<i32> {
        let mut n = 0;
        check(unsafe { sys::aph_device_count(kind.raw(), &mut n) })?;
        Ok(n)
    }
    pub fn kind(&self) -> DeviceKind {
        DeviceKind::from_raw(unsafe { sys::aph_device_get_kind(self.as_raw()) })
    }
    pub fn ordinal(&self) -> i32 {
        unsafe { sys::aph_device_ordinal(self.as_raw()) }
    }
    /// "cpu", "cuda:0".
    pub fn label(&self) -> &str {
        unsafe { borrowed_str(sys::aph_device_label(self.as_raw())) }.unwrap_or("")
    }
    /// The hardware's name.
    pub fn name(&self) -> &str {
        unsafe { borrowed_str(sys::aph_device_name(self.as_raw())) }.unwrap_or("")
    }
    /// (free, total) bytes, measured now.
    pub fn memory_info(&self) -> Result<(u64, u64)> {
        let (mut free, mut total) = (0u64, 0u64);
        check(unsafe { sys::aph_device_memory_info(self.as_raw(), &mut free, &mut total) })?;
        Ok((free, total))
    }
    pub fn total_memory(&self) -> u64 {
        unsafe { sys::aph_device_total_memory(self.as_raw()) }
    }
    /// CUDA only: (major, minor).
    pub fn compute_capability(&self) -> Result<(i32, i32)> {
        let (mut a, mut b) = (0, 0);
        check(unsafe { sys::aph_device_compute_capability(self.as_raw(), &mut a, &mut b) })?;
        Ok((a, b))
    }
    pub fn multiprocessor_count(&self) -> i32 {
        unsafe { sys::aph_device_multiprocessor_count(self.as_raw()) }
    }
    pub fn logical_cores(&self) -> i32 {
        unsafe { sys::aph_device_logical_cores(self.as_raw()) }
    }
    /// Logs the once-per-process CPU warning if this is the CPU.
    pub fn warn_if_cpu(&self, component: Option<&str>) -> Result<()> {
        let c = component.map(cstr).transpose()?;
        unsafe { sys::aph_warn_if_cpu(self.as_raw(), c.as_ref().map_or(ptr::null(), |c| c.as_ptr())) };
        Ok(())
    }
    /// The device's default stream (a new reference to it).
    pub fn default_stream(&self) -> Stream {
        let p = unsafe { sys::aph_device_default_stream(self.as_raw()) };
        unsafe { sys::aph_stream_retain(p) };
        Stream { raw: NonNull::new(p).expect("a device always has a default stream") }
    }
    pub fn synchronize(&self) -> Result<()> {
        check(unsafe { sys::aph_device_synchronize(self.as_raw()) })
    }
    /// The allocator's statistics.
    pub fn memory_stats(&self) -> Result<MemoryStats> {
        let mut s: MemoryStats = unsafe { std::mem::zeroed() };
        s.struct_size = std::mem::size_of::<MemoryStats>();
        check(unsafe { sys::aph_device_memory_stats(self.as_raw(), &mut s) })?;
        Ok(s)
    }
    pub fn reset_peak_stats(&self) -> Result<()> {
        check(unsafe { sys::aph_device_reset_peak_stats(self.as_raw()) })
    }
    pub fn empty_cache(&self) -> Result<()> {
        check(unsafe { sys::aph_device_empty_cache(self.as_raw()) })
    }
    /// Charges every later allocation to `tracker` (`None` detaches).
    pub fn set_tracker(&self, tracker: Option<&Tracker>) -> Result<()> {
        let t = tracker.map_or(ptr::null_mut(), |t| t.as_raw());
        check(unsafe { sys::aph_device_set_tracker(self.as_raw(), t) })
    }
    /// The attached tracker (a new reference), if any.
    pub fn tracker(&self) -> Result<Option<Tracker>> {
        let mut out = ptr::null_mut();
        check(unsafe { sys::aph_device_tracker(self.as_raw(), &mut out) })?;
        Ok(unsafe { Tracker::from_raw(out) })
    }
}

handle!(
    /// An in-order queue of work on one device (`aph_stream`). Thread-safe, reference counted.
    Stream, aph_stream, aph_stream_release, retain = aph_stream_retain
);
unsafe impl Send for Stream {}
unsafe impl Sync for Stream {}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Stream({:p})", self.raw)
    }
}

impl Stream {
    /// A new stream on `device` (non-blocking on CUDA; inline on the CPU).
    pub fn new(device: &Device) -> Result<Stream> {
        Ok(Stream { raw: make(|o| unsafe { sys::aph_stream_create(device.as_raw(), o) })? })
    }
    /// Wraps a caller's `cudaStream_t` without taking ownership.
    ///
    /// # Safety
    /// `cuda_stream` is a valid `cudaStream_t` of that device (or NULL) that outlives the
    /// returned stream.
    pub unsafe fn wrap_cuda(device: &Device, cuda_stream: *mut c_void) -> Result<Stream> {
        Ok(Stream { raw: make(|o| sys::aph_stream_wrap_cuda(device.as_raw(), cuda_stream, o))? })
    }
    /// The stream's device (a new reference).
    pub fn device(&self) -> Device {
        let p = unsafe { sys::aph_stream_device(self.as_raw()) };
        unsafe { sys::aph_device_retain(p) };
        Device { raw: NonNull::new(p).expect("a stream has a device") }
    }
    /// The `cudaStream_t` behind a CUDA stream (NULL for the legacy default stream and the CPU).
    pub fn cuda_handle(&self) -> *mut c_void {
        unsafe { sys::aph_stream_cuda_handle(self.as_raw()) }
    }
    pub fn synchronize(&self) -> Result<()> {
        check(unsafe { sys::aph_stream_synchronize(self.as_raw()) })
    }
    /// Whether all queued work is done (does not wait).
    pub fn query(&self) -> Result<bool> {
        let mut idle = 0;
        check(unsafe { sys::aph_stream_query(self.as_raw(), &mut idle) })?;
        Ok(idle != 0)
    }
    /// Makes future work on this stream wait for the event's last record.
    pub fn wait_event(&self, event: &Event) -> Result<()> {
        check(unsafe { sys::aph_stream_wait_event(self.as_raw(), event.as_raw()) })
    }
}

pub(crate) fn stream_ptr(stream: Option<&Stream>) -> *mut sys::aph_stream {
    stream.map_or(ptr::null_mut(), |s| s.as_raw())
}

handle!(
    /// A point in a stream's work (`aph_event`). Thread-safe, reference counted.
    Event, aph_event, aph_event_release, retain = aph_event_retain
);
unsafe impl Send for Event {}
unsafe impl Sync for Event {}

impl Event {
    pub fn new(device: &Device) -> Result<Event> {
        Ok(Event { raw: make(|o| unsafe { sys::aph_event_create(device.as_raw(), o) })? })
    }
    /// Records at the end of `stream` (`None`: the device's default stream).
    pub fn record(&self, stream: Option<&Stream>) -> Result<()> {
        check(unsafe { sys::aph_event_record(self.as_raw(), stream_ptr(stream)) })
    }
    pub fn synchronize(&self) -> Result<()> {
        check(unsafe { sys::aph_event_synchronize(self.as_raw()) })
    }
    pub fn query(&self) -> Result<bool> {
        let mut done = 0;
        check(unsafe { sys::aph_event_query(self.as_raw(), &mut done) })?;
        Ok(done != 0)
    }
}

/// CPU worker threads of eager operations on this thread (`aph_cpu_*`).
pub mod cpu {
    use super::*;
    /// Sets the calling thread's count (1 to 1024; 0: the process default).
    pub fn set_thread_limit(threads: usize) -> Result<()> {
        check(unsafe { sys::aph_cpu_set_thread_limit(threads) })
    }
    /// The calling thread's setting (0: none).
    pub fn thread_limit() -> usize {
        unsafe { sys::aph_cpu_get_thread_limit() }
    }
    /// The count operations called now from this thread use.
    pub fn thread_count() -> usize {
        unsafe { sys::aph_cpu_thread_count() }
    }
}

impl fmt::Debug for DeviceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceConfig")
            .field("cuda_device", &self.cuda_device())
            .field("force_cpu", &self.force_cpu())
            .field("component", &self.component())
            .finish()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Event({:p})", self.raw)
    }
}

/// Raw memory from a device's caching allocator (`aph_device_allocate`), for callers that need
/// buffers rather than tensors; freed (`aph_device_free`) on drop. It does not keep the device
/// alive by itself in C, so it holds a [`Device`] reference of its own.
pub struct DeviceBuffer {
    device: Device,
    ptr: *mut c_void,
    len: usize,
}

// A device pointer and a thread-safe device handle.
unsafe impl Send for DeviceBuffer {}
unsafe impl Sync for DeviceBuffer {}

impl fmt::Debug for DeviceBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceBuffer({} bytes at {:p} on {})", self.len, self.ptr, self.device.label())
    }
}

impl Device {
    /// At least `bytes` bytes, 64-byte aligned (512 on CUDA), for use on `stream`.
    pub fn allocate(&self, bytes: usize, stream: Option<&Stream>) -> Result<DeviceBuffer> {
        let mut p = ptr::null_mut();
        check(unsafe { sys::aph_device_allocate(self.as_raw(), bytes, stream_ptr(stream), &mut p) })?;
        Ok(DeviceBuffer { device: self.clone(), ptr: p, len: bytes })
    }
}

impl DeviceBuffer {
    /// The address (a device pointer on CUDA; NULL for 0 bytes).
    pub fn as_ptr(&self) -> *mut c_void {
        self.ptr
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn device(&self) -> &Device {
        &self.device
    }
    /// Declares that the memory is used on another stream.
    pub fn record_stream(&self, stream: &Stream) -> Result<()> {
        check(unsafe { sys::aph_device_record_stream(self.device.as_raw(), self.ptr, stream.as_raw()) })
    }
    /// Frees the memory now, reporting a failure (drop frees it too, ignoring one).
    pub fn free(mut self) -> Result<()> {
        let p = std::mem::replace(&mut self.ptr, ptr::null_mut());
        check(unsafe { sys::aph_device_free(self.device.as_raw(), p) })
    }
}

impl Drop for DeviceBuffer {
    fn drop(&mut self) {
        if !self.ptr.is_null() {
            unsafe { sys::aph_device_free(self.device.as_raw(), self.ptr) };
        }
    }
}
