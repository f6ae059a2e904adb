//! Executors, operation schemas and custom operations (header section 20).

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr};
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::ptr::{self, NonNull};
use std::sync::Arc;

use aphelion_sys as sys;

use crate::callback::{drop_box, status_of};
use crate::device::{make, Device, Stream, Tracker};
use crate::error::{borrowed_str, check, cstr, with_cstr, Error, Result};
use crate::graph::Graph;
use crate::tensor::{Access, Mem, Tensor, TensorMut, TensorRef};
use crate::trace::TraceSink;
use crate::types::{DType, NodeKind, ParamType};

/// How an executor computes its linear layers (`aph_matmul_precision`, open: an unknown value is
/// kept as is and refused by the library). `BF16` and `INT8` run on the CPU with AVX512_BF16 /
/// AVX512_VNNI, else executor creation fails with [`crate::ErrorKind::NotImplemented`].
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct MatmulPrecision(i32);

impl MatmulPrecision {
    /// Exact f32 arithmetic (the default).
    pub const F32: MatmulPrecision = MatmulPrecision(sys::APH_MATMUL_PRECISION_F32);
    /// Weights in bf16, products summed in f32.
    pub const BF16: MatmulPrecision = MatmulPrecision(sys::APH_MATMUL_PRECISION_BF16);
    /// Weights in int8 per output row, x quantized per row per run, f32 outlier columns.
    pub const INT8: MatmulPrecision = MatmulPrecision(sys::APH_MATMUL_PRECISION_INT8);
    pub const fn from_raw(raw: i32) -> MatmulPrecision {
        MatmulPrecision(raw)
    }
    pub const fn raw(self) -> i32 {
        self.0
    }
}

/// Options of [`Executor::new`] (`aph_executor_options`); `Default` is the library's defaults.
#[derive(Debug, Default, Clone)]
pub struct ExecutorOptions {
    /// Charged with the memory the executor holds for runs; its limit is every plan's budget.
    pub tracker: Option<Tracker>,
    /// Spans per executed node and per run.
    pub trace: Option<TraceSink>,
    /// The stream for the work (`None`: the device's default stream).
    pub stream: Option<Stream>,
    /// Count NaN and Inf after each node (a debugging aid).
    pub check_numerics: bool,
    /// Time every node (for [`Executor::node_stats`]).
    pub profile: bool,
    /// CPU worker threads of this executor's runs (0: the thread's or process default).
    pub cpu_threads: usize,
    /// Plans kept for graphs with symbolic dimensions (0: 8).
    pub max_plans: usize,
    /// The linear layers' arithmetic ([`MatmulPrecision::F32`] by default).
    pub matmul_precision: MatmulPrecision,
}

impl ExecutorOptions {
    pub(crate) fn to_raw(&self) -> sys::aph_executor_options {
        sys::aph_executor_options {
            struct_size: std::mem::size_of::<sys::aph_executor_options>(),
            tracker: self.tracker.as_ref().map_or(ptr::null_mut(), |t| t.as_raw()),
            trace: self.trace.as_ref().map_or(ptr::null_mut(), |t| t.as_raw()),
            stream: self.stream.as_ref().map_or(ptr::null_mut(), |s| s.as_raw()),
            check_numerics: self.check_numerics as i32,
            profile: self.profile as i32,
            cpu_threads: self.cpu_threads,
            max_plans: self.max_plans,
            matmul_precision: self.matmul_precision.raw(),
        }
    }
}

/// An executor's memory plan (`aph_plan_info`).
pub type PlanInfo = sys::aph_plan_info;

/// An input, weight or output of an executor (owned copy of `aph_value_info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueInfo {
    pub name: String,
    pub node_id: u64,
    pub dtype: DType,
    /// -1 for a symbolic dimension.
    pub shape: Vec<i64>,
    /// The symbolic dimensions' names ("batch", "batch*seq", "?"); `None` for fixed ones.
    pub dim_names: Vec<Option<String>>,
}

impl ValueInfo {
    unsafe fn from_raw(v: &sys::aph_value_info) -> ValueInfo {
        let shape = if v.ndim == 0 || v.shape.is_null() { vec![] } else { std::slice::from_raw_parts(v.shape, v.ndim).to_vec() };
        let dim_names = if v.ndim == 0 || v.dim_names.is_null() {
            vec![None; v.ndim]
        } else {
            std::slice::from_raw_parts(v.dim_names, v.ndim).iter().map(|&p| borrowed_str(p).map(str::to_string)).collect()
        };
        ValueInfo {
            name: borrowed_str(v.name).unwrap_or("").to_string(),
            node_id: v.node_id,
            dtype: DType::from_raw(v.dtype),
            shape,
            dim_names,
        }
    }
}

/// Per-node facts of the current plan (owned copy of `aph_node_stats`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStats {
    pub id: u64,
    pub name: String,
    pub op: String,
    pub dtype: DType,
    pub shape: Vec<i64>,
    pub bytes: u64,
    /// In the arena; `u64::MAX` when not in it.
    pub offset: u64,
    pub last_ns: u64,
    pub total_ns: u64,
}

/// An executor's output after a run: a tensor tied to the executor, so that neither a later
/// run (`&mut self`) nor dropping the executor can happen while it is borrowed.
///
/// ```compile_fail,E0502
/// # use aphelion::*;
/// # fn f(mut ex: Executor) -> Result<()> {
/// let out = ex.output("y")?;
/// ex.run()?; // error: `ex` is borrowed by `out`
/// println!("{:?}", out.shape());
/// # Ok(()) }
/// ```
///
/// ```compile_fail,E0597
/// # use aphelion::*;
/// # fn f(g: &Graph, cpu: &Device) -> Result<()> {
/// let out = {
///     let mut ex = Executor::new(g, cpu, None)?;
///     ex.run()?;
///     ex.output("y")?
/// }; // error: `ex` does not live long enough
/// println!("{:?}", out.shape());
/// # Ok(()) }
/// ```
pub struct Output<'e> {
    tensor: Tensor,
    _executor: PhantomData<&'e Executor>,
}

impl Deref for Output<'_> {
    type Target = Tensor;
    fn deref(&self) -> &Tensor {
        &self.tensor
    }
}

impl fmt::Debug for Output<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Output({:?})", self.tensor)
    }
}

/// Runs an executable graph on a device (`aph_executor`): used by one thread at a time, so
/// `Send` but not `Sync`; running and binding take `&mut self`. Bound tensors are kept (and
/// their memory borrowed while a run reads or writes them).
pub struct Executor {
    raw: NonNull<sys::aph_executor>,
    /// Tensors bound by name, kept for their borrow flags.
    inputs: HashMap<String, Tensor>,
    weights: HashMap<String, Tensor>,
    bound_outputs: HashMap<String, Tensor>,
    /// The borrow flags of the outputs' own memory, by name.
    outputs: RefCell<HashMap<String, Arc<Mem>>>,
}

unsafe impl Send for Executor {}

impl Drop for Executor {
    fn drop(&mut self) {
        unsafe { sys::aph_executor_release(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Executor({} inputs, {} outputs, {} runs)", self.input_count(), self.output_count(), self.run_count())
    }
}

/// Keeps (or forgets) the tensor bound under `name`, reusing the key when it is there.
fn keep(map: &mut HashMap<String, Tensor>, name: &str, tensor: Option<&Tensor>) {
    match (map.get_mut(name), tensor) {
        (Some(slot), Some(t)) => *slot = t.clone(),
        (None, Some(t)) => {
            map.insert(name.to_string(), t.clone());
        }
        (_, None) => {
            map.remove(name);
        }
    }
}

fn value_info(f: unsafe extern "C" fn(*const sys::aph_executor, usize, *mut sys::aph_value_info) -> i32,
              ex: *const sys::aph_executor, index: usize) -> Result<ValueInfo> {
    let mut v: sys::aph_value_info = unsafe { std::mem::zeroed() };
    v.struct_size = std::mem::size_of::<sys::aph_value_info>();
    check(unsafe { f(ex, index, &mut v) })?;
    Ok(unsafe { ValueInfo::from_raw(&v) })
}

fn find(f: unsafe extern "C" fn(*const sys::aph_executor, *const c_char, *mut usize) -> i32,
        ex: *const sys::aph_executor, name: &str) -> Result<usize> {
    let n = cstr(name)?;
    let mut i = 0usize;
    check(unsafe { f(ex, n.as_ptr(), &mut i) })?;
    Ok(i)
}

impl Executor {
    /// Checks `graph` (a copy is taken), infers every shape and plans memory on `device`.
    pub fn new(graph: &Graph, device: &Device, options: Option<&ExecutorOptions>) -> Result<Executor> {
        crate::ensure_version()?;
        let opts = options.map(ExecutorOptions::to_raw);
        let raw = make(|o| unsafe {
            sys::aph_executor_create(graph.borrowed_ptr(), device.as_raw(), opts.as_ref().map_or(ptr::null(), |o| o as *const _), o)
        })?;
        Ok(Executor::own(raw))
    }
    pub(crate) fn own(raw: NonNull<sys::aph_executor>) -> Executor {
        Executor {
            raw,
            inputs: HashMap::new(),
            weights: HashMap::new(),
            bound_outputs: HashMap::new(),
            outputs: RefCell::new(HashMap::new()),
        }
    }
    /// The raw handle (still owned by `self`).
    pub fn as_raw(&self) -> *mut sys::aph_executor {
        self.raw.as_ptr()
    }
    fn c(&self) -> *const sys::aph_executor {
        self.raw.as_ptr()
    }

    /// Binds input node `name` (NotFound for a name that is no input).
    pub fn set_input(&mut self, name: &str, tensor: &Tensor) -> Result<()> {
        let ex = self.as_raw();
        check(with_cstr(name, |n| unsafe { sys::aph_executor_set_input(ex, n, tensor.as_raw()) })?)?;
        keep(&mut self.inputs, name, Some(tensor));
        Ok(())
    }
    /// Binds weight node `name`.
    pub fn set_weight(&mut self, name: &str, tensor: &Tensor) -> Result<()> {
        let ex = self.as_raw();
        check(with_cstr(name, |n| unsafe { sys::aph_executor_set_weight(ex, n, tensor.as_raw()) })?)?;
        keep(&mut self.weights, name, Some(tensor));
        Ok(())
    }
    /// Binds every weight node from a safetensors file (memory-mapped on the CPU).
    pub fn load_weights(&mut self, path: impl AsRef<std::path::Path>) -> Result<()> {
        let p = cstr(&path.as_ref().to_string_lossy())?;
        check(unsafe { sys::aph_executor_load_weights(self.as_raw(), p.as_ptr()) })?;
        self.weights.clear();
        Ok(())
    }
    /// Makes every later run write output `name` into `tensor` (`None` unbinds).
    pub fn bind_output(&mut self, name: &str, tensor: Option<&Tensor>) -> Result<()> {
        let ex = self.as_raw();
        let t = tensor.map_or(ptr::null_mut(), |t| t.as_raw());
        check(with_cstr(name, |n| unsafe { sys::aph_executor_bind_output(ex, n, t) })?)?;
        keep(&mut self.bound_outputs, name, tensor);
        Ok(())
    }
    /// Runs the graph once (InvalidState when an input or weight is not bound, or when a
    /// tensor the run reads or writes is borrowed as a slice).
    pub fn run(&mut self) -> Result<()> {
        let outputs = self.outputs.borrow();
        let reads = self.inputs.values().chain(self.weights.values()).map(|t| &*t.mem);
        let writes = self.bound_outputs.values().map(|t| &*t.mem).chain(outputs.values().map(|m| &**m));
        let _a = Access::of_mems(reads, writes)?;
        check(unsafe { sys::aph_executor_run(self.as_raw()) })
    }
    /// Binds `inputs`, runs, and gives the named outputs.
    pub fn run_with(&mut self, inputs: &[(&str, &Tensor)], outputs: &[&str]) -> Result<Vec<Output<'_>>> {
        for (name, t) in inputs {
            self.set_input(name, t)?;
        }
        self.run()?;
        outputs.iter().map(|n| self.output(n)).collect()
    }
    /// Output `name` after the last successful run (InvalidState before it; NotFound for a
    /// name that is no output), borrowed from the executor.
    pub fn output(&self, name: &str) -> Result<Output<'_>> {
        let ex = self.c();
        let raw = with_cstr(name, |n| make(|o| unsafe { sys::aph_executor_output(ex, n, o) }))??;
        let mem = match self.bound_outputs.get(name) {
            Some(t) => t.mem.clone(),
            None => self.outputs.borrow_mut().entry(name.to_string()).or_default().clone(),
        };
        Ok(Output { tensor: Tensor { raw, mem }, _executor: PhantomData })
    }
    /// The memory plan of the current size set.
    pub fn plan_info(&self) -> Result<PlanInfo> {
        let mut p: PlanInfo = unsafe { std::mem::zeroed() };
        p.struct_size = std::mem::size_of::<PlanInfo>();
        check(unsafe { sys::aph_executor_plan_info(self.c(), &mut p) })?;
        Ok(p)
    }
    pub fn input_count(&self) -> usize {
        unsafe { sys::aph_executor_input_count(self.c()) }
    }
    pub fn input_info(&self, index: usize) -> Result<ValueInfo> {
        value_info(sys::aph_executor_input_info, self.c(), index)
    }
    pub fn find_input(&self, name: &str) -> Result<usize> {
        find(sys::aph_executor_find_input, self.c(), name)
    }
    /// Every input's signature.
    pub fn inputs(&self) -> Result<Vec<ValueInfo>> {
        (0..self.input_count()).map(|i| self.input_info(i)).collect()
    }
    pub fn weight_count(&self) -> usize {
        unsafe { sys::aph_executor_weight_count(self.c()) }
    }
    pub fn weight_info(&self, index: usize) -> Result<ValueInfo> {
        value_info(sys::aph_executor_weight_info, self.c(), index)
    }
    pub fn find_weight(&self, name: &str) -> Result<usize> {
        find(sys::aph_executor_find_weight, self.c(), name)
    }
    pub fn weights(&self) -> Result<Vec<ValueInfo>> {
        (0..self.weight_count()).map(|i| self.weight_info(i)).collect()
    }
    pub fn output_count(&self) -> usize {
        unsafe { sys::aph_executor_output_count(self.c()) }
    }
    /// The index-th output's name (borrowed from the executor).
    pub fn output_name(&self, index: usize) -> Option<&str> {
        unsafe { borrowed_str(sys::aph_executor_output_name(self.c(), index)) }
    }
    pub fn output_info(&self, index: usize) -> Result<ValueInfo> {
        value_info(sys::aph_executor_output_info, self.c(), index)
    }
    pub fn find_output(&self, name: &str) -> Result<usize> {
        find(sys::aph_executor_find_output, self.c(), name)
    }
    pub fn outputs(&self) -> Result<Vec<ValueInfo>> {
        (0..self.output_count()).map(|i| self.output_info(i)).collect()
    }
    pub fn node_count(&self) -> usize {
        unsafe { sys::aph_executor_node_count(self.c()) }
    }
    /// The index-th node's facts, in execution order.
    pub fn node_stats(&self, index: usize) -> Result<NodeStats> {
        let mut s: sys::aph_node_stats = unsafe { std::mem::zeroed() };
        s.struct_size = std::mem::size_of::<sys::aph_node_stats>();
        check(unsafe { sys::aph_executor_node_stats(self.c(), index, &mut s) })?;
        Ok(unsafe {
            NodeStats {
                id: s.id,
                name: borrowed_str(s.name).unwrap_or("").to_string(),
                op: borrowed_str(s.op).unwrap_or("").to_string(),
                dtype: DType::from_raw(s.dtype),
                shape: if s.ndim == 0 || s.shape.is_null() { vec![] } else { std::slice::from_raw_parts(s.shape, s.ndim).to_vec() },
                bytes: s.bytes,
                offset: s.offset,
                last_ns: s.last_ns,
                total_ns: s.total_ns,
            }
        })
    }
    pub fn run_count(&self) -> u64 {
        unsafe { sys::aph_executor_run_count(self.c()) }
    }
    pub fn symbol_count(&self) -> usize {
        unsafe { sys::aph_executor_symbol_count(self.c()) }
    }
    /// The index-th symbolic dimension: its name (borrowed) and size now (-1: not yet given).
    pub fn symbol(&self, index: usize) -> Result<(&str, i64)> {
        let mut name: *const c_char = ptr::null();
        let mut value = 0i64;
        check(unsafe { sys::aph_executor_symbol(self.c(), index, &mut name, &mut value) })?;
        Ok((unsafe { borrowed_str(name) }.unwrap_or(""), value))
    }
    pub fn symbols(&self) -> Result<Vec<(&str, i64)>> {
        (0..self.symbol_count()).map(|i| self.symbol(i)).collect()
    }
}

// ---- operation schemas ------------------------------------------------------------------------

/// One param of a built-in operation (static strings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpParam {
    pub name: &'static str,
    pub ty: ParamType,
    pub required: bool,
    /// The default as JSON text; `None` when required or when absence has a meaning of its own.
    pub default_json: Option<&'static str>,
    /// An enumeration's strings (the n-th is the C enum's value n).
    pub allowed_values: Vec<&'static str>,
}

/// A built-in operation (the header's table as data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpSchema {
    pub name: &'static str,
    pub kind: NodeKind,
    pub index: usize,
    pub min_operands: usize,
    pub max_operands: usize,
    pub operand_names: Vec<&'static str>,
    pub params: Vec<OpParam>,
}

unsafe fn static_str(p: *const c_char) -> &'static str {
    if p.is_null() { "" } else { CStr::from_ptr(p).to_str().unwrap_or("") }
}

unsafe fn static_strs(p: *const *const c_char, n: usize) -> Vec<&'static str> {
    if p.is_null() { vec![] } else { std::slice::from_raw_parts(p, n).iter().map(|&s| static_str(s)).collect() }
}

impl OpSchema {
    /// The number of built-in operations.
    pub fn count() -> usize {
        unsafe { sys::aph_op_schema_count() }
    }
    fn from_raw(s: &sys::aph_op_schema) -> Result<OpSchema> {
        let params = (0..s.param_count)
            .map(|i| {
                let mut p: sys::aph_op_param = unsafe { std::mem::zeroed() };
                p.struct_size = std::mem::size_of::<sys::aph_op_param>();
                check(unsafe { sys::aph_op_get_param(s.index, i, &mut p) })?;
                Ok(unsafe {
                    OpParam {
                        name: static_str(p.name),
                        ty: ParamType::from_raw(p.r#type),
                        required: p.required != 0,
                        default_json: if p.default_json.is_null() { None } else { Some(static_str(p.default_json)) },
                        allowed_values: static_strs(p.allowed_values, p.allowed_count),
                    }
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(OpSchema {
            name: unsafe { static_str(s.name) },
            kind: NodeKind::from_raw(s.kind),
            index: s.index,
            min_operands: s.min_operands,
            max_operands: s.max_operands,
            operand_names: unsafe { static_strs(s.operand_names, s.max_operands) },
            params,
        })
    }
    fn blank() -> sys::aph_op_schema {
        let mut s: sys::aph_op_schema = unsafe { std::mem::zeroed() };
        s.struct_size = std::mem::size_of::<sys::aph_op_schema>();
        s
    }
    /// The index-th built-in operation, in the table's order.
    pub fn get(index: usize) -> Result<OpSchema> {
        let mut s = OpSchema::blank();
        check(unsafe { sys::aph_op_get_schema(index, &mut s) })?;
        OpSchema::from_raw(&s)
    }
    /// The built-in operation named `name` (NotFound otherwise).
    pub fn find(name: &str) -> Result<OpSchema> {
        let n = cstr(name)?;
        let mut s = OpSchema::blank();
        check(unsafe { sys::aph_op_schema_find(n.as_ptr(), &mut s) })?;
        OpSchema::from_raw(&s)
    }
    /// Every built-in operation.
    pub fn all() -> Result<Vec<OpSchema>> {
        (0..OpSchema::count()).map(OpSchema::get).collect()
    }
}

// ---- custom operations ------------------------------------------------------------------------

/// An operand as a custom operation's `infer` sees it.
#[derive(Debug, Clone, Copy)]
pub struct InferInput<'a> {
    pub dtype: DType,
    pub shape: &'a [i64],
}

/// What a custom operation's `infer` computes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InferOutput {
    pub dtype: DType,
    pub shape: Vec<i64>,
}

type InferFn = dyn Fn(&str, &[InferInput<'_>]) -> Result<InferOutput> + Send + Sync;
type CpuFn = dyn Fn(&str, &[TensorRef<'_>], &mut TensorMut<'_>) -> Result<()> + Send + Sync;
type CudaFn = dyn Fn(&str, &[TensorRef<'_>], &mut TensorMut<'_>, &Stream) -> Result<()> + Send + Sync;

/// A custom operation for executable graphs: closures called from any thread, several at once
/// (hence `Send + Sync`). `params_json` is the node's params as compact JSON. An `Err` or a
/// panic makes the run fail with its message.
pub struct CustomOp {
    name: String,
    infer: Box<InferFn>,
    cpu: Box<CpuFn>,
    cuda: Option<Box<CudaFn>>,
}

impl fmt::Debug for CustomOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CustomOp({}, cuda: {})", self.name, self.cuda.is_some())
    }
}

impl CustomOp {
    /// An operation with shape inference and a CPU implementation.
    pub fn new<I, C>(name: &str, infer: I, cpu: C) -> CustomOp
    where
        I: Fn(&str, &[InferInput<'_>]) -> Result<InferOutput> + Send + Sync + 'static,
        C: Fn(&str, &[TensorRef<'_>], &mut TensorMut<'_>) -> Result<()> + Send + Sync + 'static,
    {
        CustomOp { name: name.to_string(), infer: Box::new(infer), cpu: Box::new(cpu), cuda: None }
    }
    /// Adds a CUDA implementation (work queued on the given stream).
    pub fn with_cuda<F>(mut self, cuda: F) -> CustomOp
    where
        F: Fn(&str, &[TensorRef<'_>], &mut TensorMut<'_>, &Stream) -> Result<()> + Send + Sync + 'static,
    {
        self.cuda = Some(Box::new(cuda));
        self
    }
}

unsafe fn params_str<'a>(p: *const c_char) -> &'a str {
    if p.is_null() { "{}" } else { CStr::from_ptr(p).to_str().unwrap_or("{}") }
}

unsafe extern "C" fn infer_trampoline(
    user_data: *mut c_void, params_json: *const c_char, n_inputs: usize, input_dtypes: *const i32,
    input_shapes: *const *const i64, input_ndims: *const usize, out_dtype: *mut i32, out_shape: *mut i64,
    out_shape_capacity: usize, out_ndim: *mut usize,
) -> i32 {
    let op = &*(user_data as *const CustomOp);
    status_of(&format!("custom operation '{}' (infer)", op.name), || {
        let inputs: Vec<InferInput<'_>> = (0..n_inputs)
            .map(|i| {
                let nd = *input_ndims.add(i);
                let sp = *input_shapes.add(i);
                InferInput {
                    dtype: DType::from_raw(*input_dtypes.add(i)),
                    shape: if nd == 0 || sp.is_null() { &[] } else { std::slice::from_raw_parts(sp, nd) },
                }
            })
            .collect();
        let out = (op.infer)(params_str(params_json), &inputs)?;
        if out.shape.len() > out_shape_capacity {
            return Err(Error::invalid_argument(format!(
                "custom operation '{}' inferred {} dimensions, more than {out_shape_capacity}", op.name, out.shape.len()
            )));
        }
        *out_dtype = out.dtype.raw();
        ptr::copy_nonoverlapping(out.shape.as_ptr(), out_shape, out.shape.len());
        *out_ndim = out.shape.len();
        Ok(())
    })
}

unsafe fn lend_inputs<'a>(n: usize, inputs: *const *const sys::aph_tensor) -> Vec<TensorRef<'a>> {
    (0..n).map(|i| TensorRef::borrow(*inputs.add(i))).collect()
}

unsafe extern "C" fn cpu_trampoline(
    user_data: *mut c_void, params_json: *const c_char, n_inputs: usize, inputs: *const *const sys::aph_tensor,
    out: *mut sys::aph_tensor,
) -> i32 {
    let op = &*(user_data as *const CustomOp);
    status_of(&format!("custom operation '{}' (cpu)", op.name), || {
        let ins = lend_inputs(n_inputs, inputs);
        let mut o = TensorMut(TensorRef::borrow(out));
        (op.cpu)(params_str(params_json), &ins, &mut o)
    })
}

unsafe extern "C" fn cuda_trampoline(
    user_data: *mut c_void, params_json: *const c_char, n_inputs: usize, inputs: *const *const sys::aph_tensor,
    out: *mut sys::aph_tensor, stream: *mut sys::aph_stream,
) -> i32 {
    let op = &*(user_data as *const CustomOp);
    status_of(&format!("custom operation '{}' (cuda)", op.name), || {
        let ins = lend_inputs(n_inputs, inputs);
        let mut o = TensorMut(TensorRef::borrow(out));
        let s = ManuallyDrop::new(Stream::from_raw(stream).ok_or_else(|| Error::invalid_argument("NULL stream"))?);
        match &op.cuda {
            Some(f) => f(params_str(params_json), &ins, &mut o, &s),
            None => Err(Error::new(crate::ErrorKind::NotImplemented, "no CUDA implementation")),
        }
    })
}

/// Registers `op` for every executor made afterwards (a name registered again is replaced).
/// The closures are dropped once the registration is gone and no executor uses it.
pub fn register_custom_op(op: CustomOp) -> Result<()> {
    crate::ensure_version()?;
    let name = cstr(&op.name)?;
    let has_cuda = op.cuda.is_some();
    let boxed = Box::into_raw(Box::new(op));
    let raw = sys::aph_custom_op {
        struct_size: std::mem::size_of::<sys::aph_custom_op>(),
        name: name.as_ptr(),
        infer: Some(infer_trampoline),
        cpu: Some(cpu_trampoline),
        cuda: if has_cuda { Some(cuda_trampoline) } else { None },
        user_data: boxed as *mut c_void,
        destroy: Some(drop_box::<CustomOp>),
    };
    let st = unsafe { sys::aph_custom_op_register(&raw) };
    if let Err(e) = check(st) {
        drop(unsafe { Box::from_raw(boxed) });
        return Err(e);
    }
    Ok(())
}

/// Removes a registration (NotFound for an unknown name).
pub fn custom_op_unregister(name: &str) -> Result<()> {
    let n = cstr(name)?;
    check(unsafe { sys::aph_custom_op_unregister(n.as_ptr()) })
}
