//! Text encoders from Hugging Face directories (header section 23): [`Model`] loads a
//! BERT-family sentence encoder (all-MiniLM-L6-v2 and the like) and embeds texts.

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
use crate::executor::{Executor, MatmulPrecision};
use crate::graph::Graph;
use crate::tensor::{Access, Tensor};
use crate::tokenizer::Tokenizer;

/// Pooling after the encoder (`aph_pooling`, open: an unknown value is kept as is).
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Pooling(i32);

impl Pooling {
    /// The mean over the tokens the attention mask keeps.
    pub const MEAN: Pooling = Pooling(sys::APH_POOLING_MEAN);
    /// The first token's ([CLS]) hidden state.
    pub const CLS: Pooling = Pooling(sys::APH_POOLING_CLS);
    pub const fn from_raw(raw: i32) -> Pooling {
        Pooling(raw)
    }
    pub const fn raw(self) -> i32 {
        self.0
    }
}

type ProgressFn = Box<dyn FnMut(usize, usize) + Send>;

/// Options of [`Model::load`]; `Default` is the directory's settings on the CPU.
#[derive(Default)]
pub struct ModelOptions {
    /// `None`: the CPU. The model keeps its own reference.
    pub device: Option<Device>,
    /// Tokens per text, special tokens included (0: the directory's).
    pub max_length: usize,
    /// Texts per executor run inside [`Model::embed`] (0: 32).
    pub batch_size: usize,
    /// `None`: as the directory says (a Normalize module); `Some(true)`: always
    /// L2-normalise; `Some(false)`: never.
    pub normalize: Option<bool>,
    /// Called after each batch of [`Model::embed`] with (done, total), on the embedding
    /// thread. A panic inside it is caught (and reported to the log), never unwound into C.
    pub progress: Option<ProgressFn>,
    /// The encoder's linear layers ([`MatmulPrecision::F32`] by default; `BF16` and `INT8`:
    /// about 1.7x / 2x faster on the CPU, cosine to f32 above 0.9999 / 0.999).
    pub matmul_precision: MatmulPrecision,
}

impl ModelOptions {
    /// Sets the progress callback.
    pub fn with_progress<F: FnMut(usize, usize) + Send + 'static>(mut self, f: F) -> ModelOptions {
        self.progress = Some(Box::new(f));
        self
    }
}

impl fmt::Debug for ModelOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelOptions")
            .field("device", &self.device)
            .field("max_length", &self.max_length)
            .field("batch_size", &self.batch_size)
            .field("normalize", &self.normalize)
            .field("progress", &self.progress.is_some())
            .field("matmul_precision", &self.matmul_precision)
            .finish()
    }
}

/// `aph_model_options.normalize`: 0 = the directory's, > 0 = always, < 0 = never.
fn normalize_raw(normalize: Option<bool>) -> i32 {
    match normalize {
        None => 0,
        Some(true) => 1,
        Some(false) => -1,
    }
}

unsafe extern "C" fn progress_trampoline(user_data: *mut c_void, done: usize, total: usize) {
    let f = &mut *(user_data as *mut ProgressFn);
    void_of("the model progress callback", || f(done, total));
}

/// A sentence encoder loaded from a Hugging Face model directory (`aph_model`).
///
/// The header says a model is used by one thread at a time (it owns one executor): `Model` is
/// `Send` (move it to another thread) but not `Sync`; load one model per thread to embed in
/// parallel. Embedding takes `&mut self`, and the borrowed views of its parts
/// ([`Model::tokenizer`], [`Model::graph`], [`Model::executor`]) cannot outlive it nor be held
/// across an embedding:
///
/// ```compile_fail,E0502
/// # use aphelion::*;
/// # fn f(model: &mut Model) -> Result<()> {
/// let ex = model.executor();
/// model.embed(&["a"])?; // error: `model` is borrowed by `ex`
/// println!("{}", ex.run_count());
/// # Ok(()) }
/// ```
/// ```compile_fail,E0505
/// # use aphelion::*;
/// # fn f(model: Model) -> Result<()> {
/// let tokenizer = model.tokenizer();
/// drop(model); // error: `model` is borrowed by `tokenizer`
/// println!("{}", tokenizer.vocab_size());
/// # Ok(()) }
/// ```
pub struct Model {
    raw: NonNull<sys::aph_model>,
    /// The progress closure the C options point at (Box::into_raw; freed after the model).
    progress: *mut ProgressFn,
}

// One thread at a time (header section 23); the progress closure is `Send`.
unsafe impl Send for Model {}

impl Drop for Model {
    fn drop(&mut self) {
        unsafe { sys::aph_model_release(self.raw.as_ptr()) };
        if !self.progress.is_null() {
            // The model (and so every call of the callback) is gone: the closure can go too.
            drop(unsafe { Box::from_raw(self.progress) });
        }
    }
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("embedding_dim", &self.embedding_dim())
            .field("max_length", &self.max_length())
            .field("pooling", &self.pooling())
            .field("normalizes", &self.normalizes())
            .finish()
    }
}

/// A part of a model (its tokenizer or graph), borrowed from it: read-only, and valid while
/// the model lives and is not embedding (no reference of its own: never released by the view).
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

impl<T: fmt::Debug> fmt::Debug for ModelPart<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.part.fmt(f)
    }
}

impl<T> ModelPart<'_, T> {
    fn new(part: T) -> Self {
        ModelPart { part: ManuallyDrop::new(part), _model: PhantomData }
    }
}

/// The model's executor, lent read-only for as long as the model is borrowed
/// ([`Model::executor`]). The view holds its own reference (`aph_executor_retain`), released
/// when it is dropped, but no `&mut Executor` is ever handed out (see [`Model::executor`]).
pub struct ModelExecutor<'m> {
    executor: Executor,
    _model: PhantomData<&'m Model>,
}

impl Deref for ModelExecutor<'_> {
    type Target = Executor;
    fn deref(&self) -> &Executor {
        &self.executor
    }
}

impl fmt::Debug for ModelExecutor<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.executor.fmt(f)
    }
}

impl Model {
    /// Loads the model directory `dir` (config.json, model.safetensors, tokenizer.json and,
    /// for sentence-transformers directories, modules.json, 1_Pooling/config.json and
    /// sentence_bert_config.json) and builds its encoder and an executor on the device.
    /// A missing file is [`crate::ErrorKind::Io`] naming it.
    pub fn load(dir: impl AsRef<Path>, options: ModelOptions) -> Result<Model> {
        crate::ensure_version()?;
        let d = cstr(&dir.as_ref().to_string_lossy())?;
        let progress = options.progress.map_or(ptr::null_mut(), |f| Box::into_raw(Box::new(f)));
        let opts = sys::aph_model_options {
            struct_size: std::mem::size_of::<sys::aph_model_options>(),
            device: options.device.as_ref().map_or(ptr::null_mut(), |d| d.as_raw()),
            max_length: options.max_length,
            batch_size: options.batch_size,
            normalize: normalize_raw(options.normalize),
            progress: if progress.is_null() { None } else { Some(progress_trampoline) },
            progress_user_data: progress as *mut c_void,
            matmul_precision: options.matmul_precision.raw(),
        };
        match make(|o| unsafe { sys::aph_model_load(d.as_ptr(), &opts, o) }) {
            Ok(raw) => Ok(Model { raw, progress }),
            Err(e) => {
                if !progress.is_null() {
                    drop(unsafe { Box::from_raw(progress) });
                }
                Err(e)
            }
        }
    }
    /// Takes ownership of one reference to a model made elsewhere (by C code, say).
    ///
    /// # Safety
    /// `raw` is a valid `aph_model*` whose reference the caller gives up, and nothing else
    /// uses the model while the returned `Model` may (one thread at a time, header section 23).
    pub unsafe fn from_raw(raw: *mut sys::aph_model) -> Option<Model> {
        NonNull::new(raw).map(|raw| Model { raw, progress: ptr::null_mut() })
    }
    /// A `Model` holding a new reference (`aph_model_retain`) to a model whose own reference
    /// the caller keeps: the model stays alive until both are released.
    ///
    /// # Safety
    /// As [`Model::from_raw`]: a valid handle, used by one thread at a time in all.
    pub unsafe fn from_raw_retained(raw: *mut sys::aph_model) -> Option<Model> {
        let raw = NonNull::new(raw)?;
        sys::aph_model_retain(raw.as_ptr());
        Some(Model { raw, progress: ptr::null_mut() })
    }
    /// The raw handle (still owned by `self`).
    pub fn as_raw(&self) -> *mut sys::aph_model {
        self.raw.as_ptr()
    }
    /// The size of one embedding (384 for all-MiniLM-L6-v2).
    pub fn embedding_dim(&self) -> usize {
        unsafe { sys::aph_model_embedding_dim(self.raw.as_ptr()) }
    }
    /// Tokens per text after truncation, special tokens included.
    pub fn max_length(&self) -> usize {
        unsafe { sys::aph_model_max_length(self.raw.as_ptr()) }
    }
    pub fn pooling(&self) -> Pooling {
        Pooling(unsafe { sys::aph_model_pooling(self.raw.as_ptr()) })
    }
    /// Whether the embeddings are L2-normalised.
    pub fn normalizes(&self) -> bool {
        unsafe { sys::aph_model_normalizes(self.raw.as_ptr()) != 0 }
    }
    /// The model's tokenizer (truncation to max_length, padding to the longest), borrowed.
    pub fn tokenizer(&self) -> ModelPart<'_, Tokenizer> {
        let p = unsafe { sys::aph_model_tokenizer(self.raw.as_ptr()) };
        ModelPart::new(unsafe { Tokenizer::from_raw(p as *mut _) }.expect("a model always has a tokenizer"))
    }
    /// The encoder graph, borrowed.
    pub fn graph(&self) -> ModelPart<'_, Graph> {
        let p = unsafe { sys::aph_model_graph(self.raw.as_ptr()) };
        ModelPart::new(unsafe { Graph::from_raw(p as *mut _) }.expect("a model always has a graph"))
    }
    /// The model's executor, borrowed read-only (plans, statistics, the outputs of the last
    /// batch). It is not handed out mutably: the model rebinds its inputs on every batch, and
    /// an executor that could be moved out of the view could run on another thread while the
    /// model embeds. Run the encoder on your own tokens with [`Model::embed_tokens`].
    pub fn executor(&self) -> ModelExecutor<'_> {
        let p = NonNull::new(unsafe { sys::aph_model_executor(self.raw.as_ptr()) }).expect("a model always has an executor");
        unsafe { sys::aph_executor_retain(p.as_ptr()) };
        ModelExecutor { executor: Executor::own(p), _model: PhantomData }
    }
    /// Embeds `texts` (any UTF-8, NUL characters included): a new contiguous f32 CPU tensor
    /// [texts.len(), embedding_dim], row i for texts[i].
    pub fn embed<S: AsRef<str>>(&mut self, texts: &[S]) -> Result<Tensor> {
        let ptrs: Vec<*const c_char> = texts.iter().map(|t| t.as_ref().as_ptr() as *const c_char).collect();
        let lens: Vec<usize> = texts.iter().map(|t| t.as_ref().len()).collect();
        Ok(Tensor::own(make(|o| unsafe {
            sys::aph_model_embed(self.raw.as_ptr(), ptrs.as_ptr(), lens.as_ptr(), texts.len(), o)
        })?))
    }
    /// The encoder on the caller's tokens: `input_ids` and `attention_mask`, i64
    /// [batch, seq] of the same shape, on any device. A new contiguous f32 CPU tensor
    /// [batch, embedding_dim], pooled and normalised as [`Model::embed`].
    pub fn embed_tokens(&mut self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let _a = Access::new(&[Some(input_ids), Some(attention_mask)], &[])?;
        Ok(Tensor::own(make(|o| unsafe {
            sys::aph_model_embed_tokens(self.raw.as_ptr(), input_ids.as_raw(), attention_mask.as_raw(), o)
        })?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_maps_to_the_headers_convention() {
        assert_eq!(normalize_raw(None), 0);
        assert_eq!(normalize_raw(Some(true)), 1);
        assert_eq!(normalize_raw(Some(false)), -1);
    }
}
