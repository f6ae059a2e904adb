//! Text encoders from Hugging Face directories (header section 23, the real-models issue).
//!
//! Written against /work/notes/model-api.md before the model API was in this branch's header:
//! compiled only with the `model` feature until aphelion-sys declares aph_model_* (then the
//! feature gate goes and the golden MiniLM test and `examples/search.rs` join the suite).

use std::ffi::{c_char, c_void};
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::path::Path;
use std::ptr::{self, NonNull};

use aphelion_sys as sys;

use crate::callback::void_of;
use crate::device::{make, Device};
use crate::error::{cstr, Result};
use crate::executor::Executor;
use crate::graph::Graph;
use crate::tensor::{Access, Tensor};
use crate::tokenizer::Tokenizer;

/// Pooling after the encoder (`aph_pooling`, open).
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Pooling(i32);

impl Pooling {
    pub const MEAN: Pooling = Pooling(sys::APH_POOLING_MEAN);
    pub const CLS: Pooling = Pooling(sys::APH_POOLING_CLS);
    pub const fn from_raw(raw: i32) -> Pooling {
        Pooling(raw)
    }
    pub const fn raw(self) -> i32 {
        self.0
    }
}

type ProgressFn = Box<dyn FnMut(usize, usize) + Send>;

/// Options of [`Model::load`].
#[derive(Default)]
pub struct ModelOptions {
    /// `None`: the CPU.
    pub device: Option<Device>,
    /// Tokens per text (0: the directory's).
    pub max_length: usize,
    /// Texts per executor run (0: 32).
    pub batch_size: usize,
    /// `None`: as the directory says; `Some(b)`: always / never L2-normalise.
    pub normalize: Option<bool>,
    /// Called after each batch of [`Model::embed`] with (done, total).
    pub progress: Option<ProgressFn>,
}

impl fmt::Debug for ModelOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelOptions")
            .field("device", &self.device)
            .field("max_length", &self.max_length)
            .field("batch_size", &self.batch_size)
            .field("normalize", &self.normalize)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

unsafe extern "C" fn progress_trampoline(user_data: *mut c_void, done: usize, total: usize) {
    let f = &mut *(user_data as *mut ProgressFn);
    void_of("the model progress callback", || f(done, total));
}

/// A sentence encoder loaded from a directory (`aph_model`). Not thread-safe on one model
/// (one executor): `Send`, not `Sync`; use one model per thread.
pub struct Model {
    raw: NonNull<sys::aph_model>,
    /// The progress closure the C options point at (lives as long as the model).
    _progress: Option<Box<ProgressFn>>,
}

unsafe impl Send for Model {}

impl Drop for Model {
    fn drop(&mut self) {
        unsafe { sys::aph_model_release(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Model(dim: {}, max_length: {})", self.embedding_dim(), self.max_length())
    }
}

/// A part of a model, borrowed from it.
#[derive(Debug)]
pub struct ModelPart<'m, T> {
    part: ManuallyDrop<T>,
    _model: PhantomData<&'m Model>,
}

impl<T> Deref for ModelPart<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.part
    }
}

impl Model {
    /// Loads `dir` (config.json, model.safetensors, tokenizer.json, ...).
    pub fn load(dir: impl AsRef<Path>, options: ModelOptions) -> Result<Model> {
        crate::ensure_version()?;
        let d = cstr(&dir.as_ref().to_string_lossy())?;
        let mut progress = options.progress.map(Box::new);
        let ud = progress.as_mut().map_or(ptr::null_mut(), |b| &mut **b as *mut ProgressFn as *mut c_void);
        let opts = sys::aph_model_options {
            struct_size: std::mem::size_of::<sys::aph_model_options>(),
            device: options.device.as_ref().map_or(ptr::null_mut(), |d| d.as_raw()),
            max_length: options.max_length,
            batch_size: options.batch_size,
            normalize: options.normalize.map_or(-1, |b| b as i32),
            progress: if ud.is_null() { None } else { Some(progress_trampoline) },
            progress_user_data: ud,
        };
        let raw = make(|o| unsafe { sys::aph_model_load(d.as_ptr(), &opts, o) })?;
        Ok(Model { raw, _progress: progress })
    }
    pub fn embedding_dim(&self) -> usize {
        unsafe { sys::aph_model_embedding_dim(self.raw.as_ptr()) }
    }
    pub fn max_length(&self) -> usize {
        unsafe { sys::aph_model_max_length(self.raw.as_ptr()) }
    }
    pub fn pooling(&self) -> Pooling {
        Pooling(unsafe { sys::aph_model_pooling(self.raw.as_ptr()) })
    }
    pub fn normalizes(&self) -> bool {
        unsafe { sys::aph_model_normalizes(self.raw.as_ptr()) != 0 }
    }
    /// The model's tokenizer, borrowed.
    pub fn tokenizer(&self) -> ModelPart<'_, Tokenizer> {
        let p = unsafe { sys::aph_model_tokenizer(self.raw.as_ptr()) };
        ModelPart { part: ManuallyDrop::new(unsafe { Tokenizer::from_raw(p as *mut _) }.expect("NULL tokenizer")), _model: PhantomData }
    }
    /// The encoder graph, borrowed.
    pub fn graph(&self) -> ModelPart<'_, Graph> {
        let p = unsafe { sys::aph_model_graph(self.raw.as_ptr()) };
        ModelPart { part: ManuallyDrop::new(unsafe { Graph::from_raw(p as *mut _) }.expect("NULL graph")), _model: PhantomData }
    }
    /// The executor (a new reference: it stays valid after the model is dropped).
    pub fn executor(&mut self) -> Executor {
        let p = unsafe { sys::aph_model_executor(self.raw.as_ptr()) };
        unsafe { sys::aph_executor_retain(p) };
        Executor::own(NonNull::new(p).expect("NULL executor"))
    }
    /// Embeds `texts`: an f32 CPU tensor [texts.len(), embedding_dim].
    pub fn embed<S: AsRef<str>>(&mut self, texts: &[S]) -> Result<Tensor> {
        let ptrs: Vec<*const c_char> = texts.iter().map(|t| t.as_ref().as_ptr() as *const c_char).collect();
        let lens: Vec<usize> = texts.iter().map(|t| t.as_ref().len()).collect();
        Ok(Tensor::own(make(|o| unsafe {
            sys::aph_model_embed(self.raw.as_ptr(), ptrs.as_ptr(), lens.as_ptr(), texts.len(), o)
        })?))
    }
    /// The encoder on caller tokens (i64 [batch, seq] ids and mask).
    pub fn embed_tokens(&mut self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let _a = Access::new(&[Some(input_ids), Some(attention_mask)], &[])?;
        Ok(Tensor::own(make(|o| unsafe {
            sys::aph_model_embed_tokens(self.raw.as_ptr(), input_ids.as_raw(), attention_mask.as_raw(), o)
        })?))
    }
}

