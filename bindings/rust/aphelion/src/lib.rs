//! Safe Rust API of libaphelion, over the raw declarations of [`aphelion_sys`].
//!
//! Written for the C API 0.2 (`include/aphelion.h`); the first constructor called checks that
//! the loaded library is 0.2.x and fails with a message naming both versions otherwise.
//!
//! - Every handle is an owning type that releases its C handle exactly once (`Drop`);
//!   reference-counted ones are `Clone` (`*_retain`). Borrowed things carry lifetimes: an
//!   executor's [`Output`] cannot outlive the executor or a later run, a graph's borrowed
//!   names cannot outlive a change to the graph.
//! - `Send`/`Sync` follow the header: devices, trackers, streams, events, tensors, trace
//!   sinks, safetensors files and tokenizers are thread-safe (`Send + Sync`); configurations,
//!   graphs, pipelines, build contexts, executors and models are used by one thread at a time
//!   (`Send` only).
//! - Every fallible call returns [`Result`]`<T, `[`Error`]`>`; [`Error::kind`] distinguishes
//!   every status code.
//! - Callbacks are closures; a panic inside one never unwinds into C: it becomes a failing
//!   status ([`PANIC_KIND`]) whose message says what panicked.
//!
//! ```
//! use aphelion::{Device, Tensor, ops};
//! let cpu = Device::cpu()?;
//! let x = Tensor::from_slice(&cpu, &[2, 2], &[1.0f32, -2.0, 3.0, -4.0])?;
//! let mut y = Tensor::empty(&cpu, x.dtype(), x.shape())?;
//! ops::relu(&x, &mut y, None)?;
//! assert_eq!(&*y.as_slice::<f32>()?, &[1.0, 0.0, 3.0, 0.0]);
//! # Ok::<(), aphelion::Error>(())
//! ```
//!
//! # What the compiler rejects
//!
//! Borrowed names die with the graph's next change:
//! ```compile_fail,E0502
//! # use aphelion::*;
//! # fn f(g: &mut Graph, cfg: &ModelConfig) -> Result<()> {
//! let name = g.node(1)?.name;
//! g.add_node("b", cfg)?; // error: `g` is borrowed by `name`
//! println!("{name}");
//! # Ok(()) }
//! ```
//! and with the graph itself:
//! ```compile_fail,E0597
//! # use aphelion::*;
//! # fn f(cfg: &ModelConfig) -> Result<()> {
//! let name = {
//!     let mut g = Graph::new()?;
//!     g.add_node("a", cfg)?;
//!     g.node(1)?.name
//! }; // error: `g` does not live long enough
//! println!("{name}");
//! # Ok(()) }
//! ```
//! A configuration's borrowed strings die with its next change:
//! ```compile_fail,E0502
//! # use aphelion::*;
//! # fn f(cfg: &mut ModelConfig) -> Result<()> {
//! let name = cfg.name();
//! cfg.set_int("n", 1)?; // error: `cfg` is borrowed by `name`
//! println!("{name}");
//! # Ok(()) }
//! ```
//! A slice cannot outlive its tensor, nor coexist with a mutable one of the same handle:
//! ```compile_fail,E0597
//! # use aphelion::*;
//! # fn f(cpu: &Device) -> Result<()> {
//! let s = {
//!     let t = Tensor::zeros(cpu, DType::F32, &[4])?;
//!     t.as_slice::<f32>()?
//! }; // error: `t` does not live long enough
//! println!("{}", s[0]);
//! # Ok(()) }
//! ```
//! ```compile_fail,E0502
//! # use aphelion::*;
//! # fn f(mut t: Tensor) -> Result<()> {
//! let a = t.as_slice::<f32>()?;
//! let b = t.as_mut_slice::<f32>()?; // error: `t` is already borrowed
//! println!("{} {}", a[0], b[0]);
//! # Ok(()) }
//! ```
//! Objects the header says are used by one thread at a time are `Send` but not `Sync`:
//! ```compile_fail,E0277
//! fn shared<T: Sync>() {}
//! shared::<aphelion::Executor>();
//! ```
//! ```compile_fail,E0277
//! fn shared<T: Sync>() {}
//! shared::<aphelion::Graph>();
//! ```
//! ```compile_fail,E0277
//! fn shared<T: Sync>() {}
//! shared::<aphelion::Pipeline>();
//! ```
//! ```compile_fail,E0277
//! fn shared<T: Sync>() {}
//! shared::<aphelion::ModelConfig>();
//! ```
//! ```compile_fail,E0277
//! fn shared<T: Sync>() {}
//! shared::<aphelion::Model>();
//! ```
//! and the thread-safe ones are both:
//! ```
//! fn shared<T: Send + Sync>() {}
//! shared::<aphelion::Tensor>();
//! shared::<aphelion::Device>();
//! shared::<aphelion::Tokenizer>();
//! ```
#![warn(missing_debug_implementations)]
#![allow(clippy::missing_safety_doc)]

pub use aphelion_sys as sys;

mod callback;
pub mod device;
mod error;
mod executor;
mod graph;
pub mod model;
pub mod log;
pub mod ops;
mod pipeline;
mod safetensors;
pub mod tensor;
mod tokenizer;
mod trace;
mod types;

pub use callback::PANIC_KIND;
pub use device::{cpu, cuda_info, estimate_attention_bytes, estimate_tensor_bytes, CudaInfo, Device, DeviceBuffer,
                 DeviceConfig,
                 Event, MemoryStats, Stream, Tracker};
pub use error::{status_name, Error, ErrorKind, Result};
pub use executor::{custom_op_unregister, register_custom_op, CustomOp, Executor, ExecutorOptions, InferInput,
                   InferOutput, MatmulPrecision, NodeStats, OpParam, OpSchema, Output, PlanInfo, ValueInfo};
pub use model::{Model, ModelExecutor, ModelOptions, ModelPart, Pooling};
pub use graph::{validate_name, validate_version, ConfigRef, Graph, ModelConfig, Node};
pub use pipeline::{BuildContext, BuildContextRef, GraphMut, GraphRef, Pipeline};
pub use safetensors::{save_safetensors, SafetensorsFile};
pub use tensor::{Tensor, TensorMut, TensorRef, TensorSlice, TensorSliceMut};
pub use tokenizer::{Encoding, EncodeOptions, Tokenizer};
pub use trace::{TraceEvent, TraceSink, TraceSpan};
pub use types::{Activation, BinaryOp, DType, DeviceKind, Element, LogLevel, LogPreset, NodeKind, Padding,
                ParamType, PrecisionMode, QuantScheme, ReduceOp, RopeLayout, TraceLevel, Truncation, UnaryOp,
                BF16, F16};

use std::ffi::CStr;
use std::sync::OnceLock;

/// The header version this binding was written for (major, minor, patch).
pub const HEADER_VERSION: (u32, u32, u32) = sys::HEADER_VERSION;

/// The loaded library's version numbers (`aph_version`).
pub fn version() -> (i32, i32, i32) {
    let (mut a, mut b, mut c) = (0, 0, 0);
    unsafe { sys::aph_version(&mut a, &mut b, &mut c) };
    (a, b, c)
}

/// The loaded library's "MAJOR.MINOR.PATCH".
pub fn version_string() -> &'static str {
    unsafe { CStr::from_ptr(sys::aph_version_string()) }.to_str().unwrap_or("?")
}

/// Checks that the loaded library's major.minor is the one this binding was written for
/// (under major version 0 the minor counts too). Called by every constructor, once.
pub fn check_version() -> Result<()> {
    let (major, minor, _) = version();
    let (hmaj, hmin, hpatch) = HEADER_VERSION;
    if major as u32 == hmaj && minor as u32 == hmin {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::NotImplemented,
            format!(
                "libaphelion {} is loaded, but this Rust binding was written for {hmaj}.{hmin}.{hpatch} \
                 (major.minor must match); rebuild against the matching library",
                version_string()
            ),
        ))
    }
}

pub(crate) fn ensure_version() -> Result<()> {
    static CHECKED: OnceLock<Result<()>> = OnceLock::new();
    CHECKED.get_or_init(check_version).clone()
}
