//! Trace sinks, events and spans (header section 18).

use std::ffi::{c_char, c_void, CString};
use std::fmt;
use std::ptr;

use aphelion_sys as sys;

use crate::callback::{drop_box, void_of};
use crate::device::{handle, make};
use crate::error::{borrowed_str, check, cstr, take_string, Result};
use crate::types::TraceLevel;

handle!(
    /// Receives trace events and spans (`aph_trace_sink`). Thread-safe (`Send + Sync`; any
    /// number of threads may record at once) and reference counted (`Clone`).
    TraceSink, aph_trace_sink, aph_trace_sink_release, retain = aph_trace_sink_retain
);
unsafe impl Send for TraceSink {}
unsafe impl Sync for TraceSink {}

impl fmt::Debug for TraceSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceSink({:p})", self.raw)
    }
}

/// One trace event (owned copy).
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEvent {
    pub id: String,
    pub message: String,
    /// Seconds since the Unix epoch; 0 when recording means "now".
    pub timestamp: f64,
    pub level: TraceLevel,
    pub span_id: Option<String>,
    pub trace_id: Option<String>,
}

impl TraceEvent {
    /// An event at info level, timestamped when recorded.
    pub fn new(id: &str, message: &str) -> TraceEvent {
        TraceEvent { id: id.into(), message: message.into(), timestamp: 0.0, level: TraceLevel::INFO, span_id: None, trace_id: None }
    }
    unsafe fn from_raw(e: &sys::aph_trace_event) -> TraceEvent {
        TraceEvent {
            id: borrowed_str(e.id).unwrap_or("").to_string(),
            message: borrowed_str(e.message).unwrap_or("").to_string(),
            timestamp: e.timestamp,
            level: TraceLevel::from_raw(e.level),
            span_id: borrowed_str(e.span_id).map(str::to_string),
            trace_id: borrowed_str(e.trace_id).map(str::to_string),
        }
    }
}

/// One timed interval (owned copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceSpan {
    pub name: String,
    pub category: String,
    pub start_ns: u64,
    pub duration_ns: u64,
    pub device: Option<String>,
    pub bytes: u64,
    /// A JSON object of extra fields.
    pub args_json: Option<String>,
}

impl TraceSpan {
    unsafe fn from_raw(s: &sys::aph_trace_span) -> TraceSpan {
        TraceSpan {
            name: borrowed_str(s.name).unwrap_or("").to_string(),
            category: borrowed_str(s.category).unwrap_or("").to_string(),
            start_ns: s.start_ns,
            duration_ns: s.duration_ns,
            device: borrowed_str(s.device).map(str::to_string),
            bytes: s.bytes,
            args_json: borrowed_str(s.args_json).map(str::to_string),
        }
    }
}

fn opt_c(s: &Option<String>) -> Result<Option<CString>> {
    s.as_deref().map(cstr).transpose()
}
fn opt_p(c: &Option<CString>) -> *const c_char {
    c.as_ref().map_or(ptr::null(), |c| c.as_ptr())
}

type SpanFn = Box<dyn Fn(&TraceSpan) + Send + Sync>;

struct Callbacks {
    on_event: Box<dyn Fn(&TraceEvent) + Send + Sync>,
    on_span: Option<SpanFn>,
}

unsafe extern "C" fn event_trampoline(user_data: *mut c_void, event: *const sys::aph_trace_event) {
    let cb = &*(user_data as *const Callbacks);
    void_of("a trace sink's event callback", || (cb.on_event)(&TraceEvent::from_raw(&*event)));
}

unsafe extern "C" fn span_trampoline(user_data: *mut c_void, span: *const sys::aph_trace_span) {
    let cb = &*(user_data as *const Callbacks);
    if let Some(f) = &cb.on_span {
        void_of("a trace sink's span callback", || f(&TraceSpan::from_raw(&*span)));
    }
}

impl TraceSink {
    /// Keeps every event and span in memory.
    pub fn memory() -> Result<TraceSink> {
        crate::ensure_version()?;
        Ok(TraceSink { raw: make(|o| unsafe { sys::aph_trace_sink_memory(o) })? })
    }
    /// Passes to `inner` only events at `min_level` or above.
    pub fn filter(inner: &TraceSink, min_level: TraceLevel) -> Result<TraceSink> {
        Ok(TraceSink { raw: make(|o| unsafe { sys::aph_trace_sink_filter(inner.as_raw(), min_level.raw(), o) })? })
    }
    /// Passes everything to each of `sinks`, in order.
    pub fn fanout(sinks: &[&TraceSink]) -> Result<TraceSink> {
        crate::ensure_version()?;
        let raws: Vec<*mut sys::aph_trace_sink> = sinks.iter().map(|s| s.as_raw()).collect();
        Ok(TraceSink { raw: make(|o| unsafe { sys::aph_trace_sink_fanout(raws.as_ptr(), raws.len(), o) })? })
    }
    /// Calls `on_event` for each event and `on_span` (if given) for each span, on the recording
    /// thread, possibly concurrently. A panic inside is caught (printed to stderr). The
    /// closures are dropped when the last reference to the sink goes.
    pub fn callback<E, S>(on_event: E, on_span: Option<S>) -> Result<TraceSink>
    where
        E: Fn(&TraceEvent) + Send + Sync + 'static,
        S: Fn(&TraceSpan) + Send + Sync + 'static,
    {
        crate::ensure_version()?;
        let cb = Box::into_raw(Box::new(Callbacks {
            on_event: Box::new(on_event),
            on_span: on_span.map(|s| Box::new(s) as SpanFn),
        }));
        let mut out = ptr::null_mut();
        let st = unsafe {
            sys::aph_trace_sink_callback(Some(event_trampoline), Some(span_trampoline), cb as *mut c_void,
                                         Some(drop_box::<Callbacks>), &mut out)
        };
        if let Err(e) = check(st) {
            drop(unsafe { Box::from_raw(cb) }); // not run on failure: still ours
            return Err(e);
        }
        Ok(unsafe { TraceSink::from_raw(out) }.expect("NULL sink"))
    }
    /// Records an event.
    pub fn record(&self, event: &TraceEvent) -> Result<()> {
        let (id, msg) = (cstr(&event.id)?, cstr(&event.message)?);
        let (span, trace) = (opt_c(&event.span_id)?, opt_c(&event.trace_id)?);
        let e = sys::aph_trace_event {
            struct_size: std::mem::size_of::<sys::aph_trace_event>(),
            id: id.as_ptr(),
            message: msg.as_ptr(),
            timestamp: event.timestamp,
            level: event.level.raw(),
            span_id: opt_p(&span),
            trace_id: opt_p(&trace),
        };
        check(unsafe { sys::aph_trace_sink_record(self.as_raw(), &e) })
    }
    /// Records a span.
    pub fn record_span(&self, span: &TraceSpan) -> Result<()> {
        let (name, cat) = (cstr(&span.name)?, cstr(&span.category)?);
        let (dev, args) = (opt_c(&span.device)?, opt_c(&span.args_json)?);
        let s = sys::aph_trace_span {
            struct_size: std::mem::size_of::<sys::aph_trace_span>(),
            name: name.as_ptr(),
            category: cat.as_ptr(),
            start_ns: span.start_ns,
            duration_ns: span.duration_ns,
            device: opt_p(&dev),
            bytes: span.bytes,
            args_json: opt_p(&args),
        };
        check(unsafe { sys::aph_trace_sink_record_span(self.as_raw(), &s) })
    }
    /// In-memory sinks: the number of events (0 for other sinks).
    pub fn event_count(&self) -> usize {
        unsafe { sys::aph_trace_sink_event_count(self.as_raw()) }
    }
    /// In-memory sinks: the index-th event.
    pub fn event(&self, index: usize) -> Result<TraceEvent> {
        let mut e: sys::aph_trace_event = unsafe { std::mem::zeroed() };
        e.struct_size = std::mem::size_of::<sys::aph_trace_event>();
        check(unsafe { sys::aph_trace_sink_event(self.as_raw(), index, &mut e) })?;
        Ok(unsafe { TraceEvent::from_raw(&e) })
    }
    /// In-memory sinks: every event.
    pub fn events(&self) -> Result<Vec<TraceEvent>> {
        (0..self.event_count()).map(|i| self.event(i)).collect()
    }
    pub fn span_count(&self) -> usize {
        unsafe { sys::aph_trace_sink_span_count(self.as_raw()) }
    }
    pub fn span(&self, index: usize) -> Result<TraceSpan> {
        let mut s: sys::aph_trace_span = unsafe { std::mem::zeroed() };
        s.struct_size = std::mem::size_of::<sys::aph_trace_span>();
        check(unsafe { sys::aph_trace_sink_span(self.as_raw(), index, &mut s) })?;
        Ok(unsafe { TraceSpan::from_raw(&s) })
    }
    pub fn spans(&self) -> Result<Vec<TraceSpan>> {
        (0..self.span_count()).map(|i| self.span(i)).collect()
    }
    pub fn clear(&self) -> Result<()> {
        check(unsafe { sys::aph_trace_sink_clear(self.as_raw()) })
    }
    /// aphelion-core's JSON export of the events.
    pub fn export_json(&self) -> Result<String> {
        let mut v: *mut c_char = ptr::null_mut();
        check(unsafe { sys::aph_trace_export_json(self.as_raw(), &mut v) })?;
        Ok(unsafe { take_string(v) })
    }
    /// Chrome trace-event JSON of the spans and events.
    pub fn export_chrome(&self) -> Result<String> {
        let mut v: *mut c_char = ptr::null_mut();
        check(unsafe { sys::aph_trace_export_chrome(self.as_raw(), &mut v) })?;
        Ok(unsafe { take_string(v) })
    }
}
