//! Build contexts and pipelines (header section 19).

use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr};
use std::fmt;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::ptr::{self, NonNull};

use aphelion_sys as sys;

use crate::callback::{drop_box, status_of, void_of};
use crate::device::{make, Device, Tracker};
use crate::error::{borrowed_str, check, cstr, Result};
use crate::executor::{Executor, ExecutorOptions};
use crate::graph::Graph;
use crate::tensor::{Access, Tensor};
use crate::trace::TraceSink;
use crate::types::TraceLevel;

/// What a pipeline runs in (`aph_build_context`): a device, an optional trace sink and
/// tracker, inputs and weights for the execute stage, and the executor the plan stage makes.
/// Used by one thread at a time: `Send`, not `Sync`.
pub struct BuildContext {
    raw: NonNull<sys::aph_build_context>,
    inputs: HashMap<String, Tensor>,
}

unsafe impl Send for BuildContext {}

impl Drop for BuildContext {
    fn drop(&mut self) {
        unsafe { sys::aph_build_context_release(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for BuildContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BuildContext(device: {:?})", self.device())
    }
}

impl BuildContext {
    /// A context for `device` (`None`: the device aph_device_select picks with the default
    /// configuration), `sink` (`None`: events are dropped) and `tracker` (`None`: none).
    pub fn new(device: Option<&Device>, sink: Option<&TraceSink>, tracker: Option<&Tracker>) -> Result<BuildContext> {
        crate::ensure_version()?;
        let raw = make(|o| unsafe {
            sys::aph_build_context_create(
                device.map_or(ptr::null_mut(), |d| d.as_raw()),
                sink.map_or(ptr::null_mut(), |s| s.as_raw()),
                tracker.map_or(ptr::null_mut(), |t| t.as_raw()),
                o,
            )
        })?;
        Ok(BuildContext { raw, inputs: HashMap::new() })
    }
    pub fn as_raw(&self) -> *mut sys::aph_build_context {
        self.raw.as_ptr()
    }
    /// The context's device (a new reference).
    pub fn device(&self) -> Option<Device> {
        let p = unsafe { sys::aph_build_context_device(self.as_raw()) };
        unsafe { sys::aph_device_retain(p) };
        unsafe { Device::from_raw(p) }
    }
    /// The context's trace sink (a new reference).
    pub fn sink(&self) -> Option<TraceSink> {
        let p = unsafe { sys::aph_build_context_sink(self.as_raw()) };
        unsafe { sys::aph_trace_sink_retain(p) };
        unsafe { TraceSink::from_raw(p) }
    }
    /// The context's tracker (a new reference).
    pub fn tracker(&self) -> Option<Tracker> {
        let p = unsafe { sys::aph_build_context_tracker(self.as_raw()) };
        unsafe { sys::aph_tracker_retain(p) };
        unsafe { Tracker::from_raw(p) }
    }
    /// Records an event in the context's sink.
    pub fn trace(&self, level: TraceLevel, id: &str, message: &str) -> Result<()> {
        let (i, m) = (cstr(id)?, cstr(message)?);
        check(unsafe { sys::aph_build_context_trace(self.as_raw(), level.raw(), i.as_ptr(), m.as_ptr()) })
    }
    /// Charges bytes to the tracker (OutOfMemory over its limit).
    pub fn allocate(&self, bytes: u64) -> Result<()> {
        check(unsafe { sys::aph_build_context_allocate(self.as_raw(), bytes) })
    }
    /// An input of the execute stage, by node name.
    pub fn set_input(&mut self, name: &str, tensor: &Tensor) -> Result<()> {
        let n = cstr(name)?;
        check(unsafe { sys::aph_build_context_set_input(self.as_raw(), n.as_ptr(), tensor.as_raw()) })?;
        self.inputs.insert(name.to_string(), tensor.clone());
        Ok(())
    }
    /// The safetensors file of the execute stage's weight nodes.
    pub fn set_weights_file(&mut self, path: impl AsRef<std::path::Path>) -> Result<()> {
        let p = cstr(&path.as_ref().to_string_lossy())?;
        check(unsafe { sys::aph_build_context_set_weights_file(self.as_raw(), p.as_ptr()) })
    }
    /// Options of the executor the plan stage makes (tracker and trace are the context's).
    pub fn set_executor_options(&mut self, options: Option<&ExecutorOptions>) -> Result<()> {
        let o = options.map(ExecutorOptions::to_raw);
        check(unsafe { sys::aph_build_context_set_executor_options(self.as_raw(), o.as_ref().map_or(ptr::null(), |o| o as *const _)) })
    }
    /// The executor the last plan stage made (InvalidState before one ran).
    pub fn executor(&self) -> Result<Executor> {
        Ok(Executor::own(make(|o| unsafe { sys::aph_build_context_executor(self.as_raw(), o) })?))
    }
}

/// The build context a stage or hook is given (borrowed for the callback).
pub struct BuildContextRef<'a> {
    ctx: ManuallyDrop<BuildContext>,
    _life: std::marker::PhantomData<&'a mut ()>,
}
impl Deref for BuildContextRef<'_> {
    type Target = BuildContext;
    fn deref(&self) -> &BuildContext {
        &self.ctx
    }
}
impl DerefMut for BuildContextRef<'_> {
    fn deref_mut(&mut self) -> &mut BuildContext {
        &mut self.ctx
    }
}
impl fmt::Debug for BuildContextRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.ctx.fmt(f)
    }
}

/// The graph a stage may change (borrowed for the callback).
pub struct GraphMut<'a> {
    graph: ManuallyDrop<Graph>,
    _life: std::marker::PhantomData<&'a mut ()>,
}
impl Deref for GraphMut<'_> {
    type Target = Graph;
    fn deref(&self) -> &Graph {
        &self.graph
    }
}
impl DerefMut for GraphMut<'_> {
    fn deref_mut(&mut self) -> &mut Graph {
        &mut self.graph
    }
}
impl fmt::Debug for GraphMut<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.graph.fmt(f)
    }
}

/// The graph a hook sees, read-only (borrowed for the callback).
pub struct GraphRef<'a> {
    graph: ManuallyDrop<Graph>,
    _life: std::marker::PhantomData<&'a ()>,
}
impl Deref for GraphRef<'_> {
    type Target = Graph;
    fn deref(&self) -> &Graph {
        &self.graph
    }
}
impl fmt::Debug for GraphRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.graph.fmt(f)
    }
}

unsafe fn lend_ctx<'a>(ctx: *mut sys::aph_build_context) -> BuildContextRef<'a> {
    BuildContextRef {
        ctx: ManuallyDrop::new(BuildContext { raw: NonNull::new(ctx).expect("NULL context"), inputs: HashMap::new() }),
        _life: std::marker::PhantomData,
    }
}
unsafe fn lend_graph(g: *const sys::aph_graph) -> ManuallyDrop<Graph> {
    ManuallyDrop::new(Graph::from_raw(g as *mut _).expect("NULL graph"))
}

type StageFn = Box<dyn FnMut(&mut BuildContextRef<'_>, &mut GraphMut<'_>) -> Result<()> + Send>;
type HookFn = Box<dyn FnMut(&mut BuildContextRef<'_>, &GraphRef<'_>) -> Result<()> + Send>;
type ProgressFn = Box<dyn FnMut(&str, usize, usize) + Send>;

struct Stage {
    name: String,
    f: StageFn,
}

unsafe extern "C" fn stage_trampoline(user_data: *mut c_void, ctx: *mut sys::aph_build_context, graph: *mut sys::aph_graph) -> i32 {
    let s = &mut *(user_data as *mut Stage);
    status_of(&format!("stage '{}'", s.name), || {
        let mut c = lend_ctx(ctx);
        let mut g = GraphMut { graph: lend_graph(graph), _life: std::marker::PhantomData };
        (s.f)(&mut c, &mut g)
    })
}

unsafe extern "C" fn hook_trampoline(user_data: *mut c_void, ctx: *mut sys::aph_build_context, graph: *const sys::aph_graph) -> i32 {
    let f = &mut *(user_data as *mut HookFn);
    status_of("a pipeline hook", || {
        let mut c = lend_ctx(ctx);
        let g = GraphRef { graph: lend_graph(graph), _life: std::marker::PhantomData };
        f(&mut c, &g)
    })
}

unsafe extern "C" fn progress_trampoline(user_data: *mut c_void, stage: *const c_char, index: usize, total: usize) {
    let f = &mut *(user_data as *mut ProgressFn);
    let stage = if stage.is_null() { "" } else { CStr::from_ptr(stage).to_str().unwrap_or("?") };
    void_of("the pipeline progress callback", || f(stage, index, total));
}

/// A list of stages run over a graph in a build context (`aph_pipeline`). Used by one thread
/// at a time: `Send`, not `Sync`. Stage and hook closures are `FnMut + Send`, dropped with the
/// pipeline; an `Err` they return fails the run with its message, and a panic is caught and
/// becomes a failing status ([`crate::PANIC_KIND`]).
pub struct Pipeline {
    raw: NonNull<sys::aph_pipeline>,
    progress: Option<Box<ProgressFn>>,
}

unsafe impl Send for Pipeline {}

impl Drop for Pipeline {
    fn drop(&mut self) {
        unsafe { sys::aph_pipeline_release(self.raw.as_ptr()) }
        // self.progress is dropped after the release: the C side no longer holds it.
    }
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.stage_names()).finish()
    }
}

impl Pipeline {
    /// An empty pipeline.
    pub fn new() -> Result<Pipeline> {
        crate::ensure_version()?;
        Ok(Pipeline { raw: make(|o| unsafe { sys::aph_pipeline_create(o) })?, progress: None })
    }
    /// A preset: "standard", "for_training", "for_inference", "run" (NotFound otherwise).
    pub fn preset(preset: &str) -> Result<Pipeline> {
        crate::ensure_version()?;
        let p = cstr(preset)?;
        Ok(Pipeline { raw: make(|o| unsafe { sys::aph_pipeline_preset(p.as_ptr(), o) })?, progress: None })
    }
    pub fn as_raw(&self) -> *mut sys::aph_pipeline {
        self.raw.as_ptr()
    }
    /// Appends a built-in stage ("validation", "hashing", "check", "plan", "execute").
    pub fn add_builtin(&mut self, stage: &str) -> Result<()> {
        let s = cstr(stage)?;
        check(unsafe { sys::aph_pipeline_add_builtin(self.as_raw(), s.as_ptr()) })
    }
    /// Appends a custom stage.
    pub fn add_stage<F>(&mut self, name: &str, stage: F) -> Result<()>
    where
        F: FnMut(&mut BuildContextRef<'_>, &mut GraphMut<'_>) -> Result<()> + Send + 'static,
    {
        let n = cstr(name)?;
        let ud = Box::into_raw(Box::new(Stage { name: name.to_string(), f: Box::new(stage) }));
        let st = unsafe {
            sys::aph_pipeline_add_stage(self.as_raw(), n.as_ptr(), Some(stage_trampoline), ud as *mut c_void, Some(drop_box::<Stage>))
        };
        if let Err(e) = check(st) {
            drop(unsafe { Box::from_raw(ud) });
            return Err(e);
        }
        Ok(())
    }
    fn add_hook(&mut self, pre: bool, hook: HookFn) -> Result<()> {
        let ud = Box::into_raw(Box::new(hook));
        let f = if pre { sys::aph_pipeline_add_pre_hook } else { sys::aph_pipeline_add_post_hook };
        let st = unsafe { f(self.as_raw(), Some(hook_trampoline), ud as *mut c_void, Some(drop_box::<HookFn>)) };
        if let Err(e) = check(st) {
            drop(unsafe { Box::from_raw(ud) });
            return Err(e);
        }
        Ok(())
    }
    /// A hook run before the stages (the first error aborts the run).
    pub fn add_pre_hook<F>(&mut self, hook: F) -> Result<()>
    where
        F: FnMut(&mut BuildContextRef<'_>, &GraphRef<'_>) -> Result<()> + Send + 'static,
    {
        self.add_hook(true, Box::new(hook))
    }
    /// A hook run after the stages.
    pub fn add_post_hook<F>(&mut self, hook: F) -> Result<()>
    where
        F: FnMut(&mut BuildContextRef<'_>, &GraphRef<'_>) -> Result<()> + Send + 'static,
    {
        self.add_hook(false, Box::new(hook))
    }
    /// Skips every stage named `stage`.
    pub fn skip(&mut self, stage: &str) -> Result<()> {
        let s = cstr(stage)?;
        check(unsafe { sys::aph_pipeline_skip(self.as_raw(), s.as_ptr()) })
    }
    /// Calls `progress(stage, i, n)` before each stage (`None`: no callback).
    pub fn set_progress<F>(&mut self, progress: Option<F>) -> Result<()>
    where
        F: FnMut(&str, usize, usize) + Send + 'static,
    {
        let new = progress.map(|f| Box::new(Box::new(f) as ProgressFn));
        let ud = new.as_ref().map_or(ptr::null_mut(), |b| &**b as *const ProgressFn as *mut c_void);
        let st = unsafe {
            sys::aph_pipeline_set_progress(self.as_raw(), if ud.is_null() { None } else { Some(progress_trampoline) }, ud)
        };
        check(st)?;
        self.progress = new; // the previous one is no longer referenced by the pipeline
        Ok(())
    }
    pub fn stage_count(&self) -> usize {
        unsafe { sys::aph_pipeline_stage_count(self.as_raw()) }
    }
    /// The index-th stage's name (borrowed).
    pub fn stage_name(&self, index: usize) -> Option<&str> {
        unsafe { borrowed_str(sys::aph_pipeline_stage_name(self.as_raw(), index)) }
    }
    pub fn stage_names(&self) -> Vec<&str> {
        (0..self.stage_count()).filter_map(|i| self.stage_name(i)).collect()
    }
    /// Runs the pipeline over `graph` (which stages may change) in `ctx`.
    pub fn run(&mut self, ctx: &mut BuildContext, graph: &mut Graph) -> Result<()> {
        let _a = Access::of_mems(ctx.inputs.values().map(|t| &*t.mem), std::iter::empty())?;
        check(unsafe { sys::aph_pipeline_run(self.as_raw(), ctx.as_raw(), graph.as_raw()) })
    }
}
