//! Tokenizers (header section 22).

use std::ffi::c_char;
use std::fmt;
use std::ptr;

use aphelion_sys as sys;

use crate::device::{handle, make, Device};
use crate::error::{borrowed_str, check, cstr, Error, Result};
use crate::tensor::Tensor;
use crate::types::{Padding, Truncation};

handle!(
    /// A Hugging Face tokenizer.json (WordPiece / BERT family) (`aph_tokenizer`). Never
    /// changes once loaded: any number of threads may use it (`Send + Sync`).
    Tokenizer, aph_tokenizer, aph_tokenizer_release
);
unsafe impl Send for Tokenizer {}
unsafe impl Sync for Tokenizer {}

impl fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tokenizer(vocab_size: {})", self.vocab_size())
    }
}

/// Options of [`Tokenizer::encode`]; `Default` is the file's settings with special tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeOptions {
    pub truncation: Truncation,
    /// For `Truncation::MAX_LENGTH`.
    pub max_length: usize,
    pub padding: Padding,
    /// For `Padding::FIXED`.
    pub pad_length: usize,
    /// > 0: round the padded length up to a multiple of it (0: the file's).
    pub pad_to_multiple_of: usize,
    /// Add the post-processor's special tokens ([CLS] ... [SEP]).
    pub add_special_tokens: bool,
}

impl Default for EncodeOptions {
    fn default() -> EncodeOptions {
        EncodeOptions {
            truncation: Truncation::FROM_FILE,
            max_length: 0,
            padding: Padding::FROM_FILE,
            pad_length: 0,
            pad_to_multiple_of: 0,
            add_special_tokens: true,
        }
    }
}

impl EncodeOptions {
    fn to_raw(self) -> sys::aph_tokenizer_encode_options {
        sys::aph_tokenizer_encode_options {
            struct_size: std::mem::size_of::<sys::aph_tokenizer_encode_options>(),
            truncation: self.truncation.raw(),
            max_length: self.max_length,
            padding: self.padding.raw(),
            pad_length: self.pad_length,
            pad_to_multiple_of: self.pad_to_multiple_of,
            no_special_tokens: (!self.add_special_tokens) as i32,
        }
    }
}

/// The model inputs of a batch: i64 tensors [count, padded length].
#[derive(Debug)]
pub struct Encoding {
    pub input_ids: Tensor,
    pub attention_mask: Tensor,
    pub token_type_ids: Tensor,
    /// Each text's number of tokens (special tokens included, padding not).
    pub lengths: Vec<usize>,
}

impl Tokenizer {
    /// Loads a tokenizer.json file.
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Tokenizer> {
        crate::ensure_version()?;
        let p = cstr(&path.as_ref().to_string_lossy())?;
        Ok(Tokenizer { raw: make(|o| unsafe { sys::aph_tokenizer_load(p.as_ptr(), o) })? })
    }
    /// Loads a tokenizer.json held in memory.
    pub fn from_json(json: &str) -> Result<Tokenizer> {
        crate::ensure_version()?;
        Ok(Tokenizer { raw: make(|o| unsafe { sys::aph_tokenizer_load_json(json.as_ptr() as *const c_char, json.len(), o) })? })
    }
    pub fn vocab_size(&self) -> usize {
        unsafe { sys::aph_tokenizer_vocab_size(self.as_raw()) }
    }
    /// The id of a token (exact text), if any.
    pub fn token_to_id(&self, token: &str) -> Option<i64> {
        let t = cstr(token).ok()?;
        let id = unsafe { sys::aph_tokenizer_token_to_id(self.as_raw(), t.as_ptr()) };
        (id >= 0).then_some(id)
    }
    /// The token with this id (borrowed from the tokenizer), if any.
    pub fn id_to_token(&self, id: i64) -> Option<&str> {
        unsafe { borrowed_str(sys::aph_tokenizer_id_to_token(self.as_raw(), id)) }
    }
    /// The file's truncation max_length (0: none).
    pub fn max_length(&self) -> usize {
        unsafe { sys::aph_tokenizer_max_length(self.as_raw()) }
    }
    pub fn special_token_count(&self) -> usize {
        unsafe { sys::aph_tokenizer_special_token_count(self.as_raw()) }
    }
    /// Tokenizes a batch into i64 tensors on `device`.
    pub fn encode<S: AsRef<str>>(&self, texts: &[S], options: &EncodeOptions, device: &Device) -> Result<Encoding> {
        let ptrs: Vec<*const c_char> = texts.iter().map(|t| t.as_ref().as_ptr() as *const c_char).collect();
        let lens: Vec<usize> = texts.iter().map(|t| t.as_ref().len()).collect();
        let opts = options.to_raw();
        let (mut ids, mut mask, mut types) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
        let mut lengths = vec![0usize; texts.len()];
        check(unsafe {
            sys::aph_tokenizer_encode(self.as_raw(), ptrs.as_ptr(), lens.as_ptr(), texts.len(), &opts, device.as_raw(),
                                      &mut ids, &mut mask, &mut types, lengths.as_mut_ptr(), lengths.len())
        })?;
        let t = |p| unsafe { Tensor::from_raw(p) }.ok_or_else(|| Error::new(crate::ErrorKind::Internal, "NULL tensor"));
        Ok(Encoding { input_ids: t(ids)?, attention_mask: t(mask)?, token_type_ids: t(types)?, lengths })
    }
    /// One text's token ids (the input_ids row of a batch of one).
    pub fn encode_ids(&self, text: &str, options: &EncodeOptions) -> Result<Vec<i64>> {
        let opts = options.to_raw();
        let mut n = 0usize;
        let p = text.as_ptr() as *const c_char;
        check(unsafe { sys::aph_tokenizer_encode_ids(self.as_raw(), p, text.len(), &opts, ptr::null_mut(), 0, &mut n) })?;
        let mut ids = vec![0i64; n];
        if n > 0 {
            check(unsafe { sys::aph_tokenizer_encode_ids(self.as_raw(), p, text.len(), &opts, ids.as_mut_ptr(), n, &mut n) })?;
        }
        ids.truncate(n);
        Ok(ids)
    }
}
