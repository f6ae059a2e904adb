//! `aphelion::Error`: every failing `aph_status` with the thread's message.

use std::ffi::{CStr, CString};
use std::fmt;

use aphelion_sys as sys;

/// One kind per `aph_status` code (`APH_ERR_X` -> `X` in CamelCase). The C enum is open: a
/// code this binding does not know yet is [`ErrorKind::Unknown`] (its number is
/// [`Error::code`]).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    InvalidArgument,
    InvalidConfig,
    ShapeMismatch,
    DimensionMismatch,
    DeviceNotAvailable,
    DeviceMismatch,
    OutOfMemory,
    Kernel,
    NotImplemented,
    Io,
    Backend,
    Graph,
    Validation,
    Serialization,
    Build,
    Internal,
    NotFound,
    InvalidState,
    /// A status code newer than this binding.
    Unknown,
}

/// (kind, code, the prefix the library puts before the message: section 2 of the header).
const KINDS: [(ErrorKind, i32, &str); 18] = [
    (ErrorKind::InvalidArgument, sys::APH_ERR_INVALID_ARGUMENT, "invalid argument: "),
    (ErrorKind::InvalidConfig, sys::APH_ERR_INVALID_CONFIG, "invalid configuration: "),
    (ErrorKind::ShapeMismatch, sys::APH_ERR_SHAPE_MISMATCH, "shape mismatch: "),
    (ErrorKind::DimensionMismatch, sys::APH_ERR_DIMENSION_MISMATCH, "dimension mismatch: "),
    (ErrorKind::DeviceNotAvailable, sys::APH_ERR_DEVICE_NOT_AVAILABLE, "device not available: "),
    (ErrorKind::DeviceMismatch, sys::APH_ERR_DEVICE_MISMATCH, "device mismatch: "),
    (ErrorKind::OutOfMemory, sys::APH_ERR_OUT_OF_MEMORY, "out of memory: "),
    (ErrorKind::Kernel, sys::APH_ERR_KERNEL, "kernel error: "),
    (ErrorKind::NotImplemented, sys::APH_ERR_NOT_IMPLEMENTED, "not implemented: "),
    (ErrorKind::Io, sys::APH_ERR_IO, "I/O error: "),
    (ErrorKind::Backend, sys::APH_ERR_BACKEND, "backend error: "),
    (ErrorKind::Graph, sys::APH_ERR_GRAPH, "graph error: "),
    (ErrorKind::Validation, sys::APH_ERR_VALIDATION, "validation error: "),
    (ErrorKind::Serialization, sys::APH_ERR_SERIALIZATION, "serialization error: "),
    (ErrorKind::Build, sys::APH_ERR_BUILD, "build error: "),
    (ErrorKind::Internal, sys::APH_ERR_INTERNAL, "internal error: "),
    (ErrorKind::NotFound, sys::APH_ERR_NOT_FOUND, "not found: "),
    (ErrorKind::InvalidState, sys::APH_ERR_INVALID_STATE, "invalid state: "),
];

impl ErrorKind {
    /// The kind of a status code (`Unknown` for codes this binding does not know, and for 0).
    pub fn from_code(code: i32) -> ErrorKind {
        KINDS.iter().find(|k| k.1 == code).map_or(ErrorKind::Unknown, |k| k.0)
    }

    /// The `aph_status` code of this kind (`None` for `Unknown`).
    pub fn code(self) -> Option<i32> {
        KINDS.iter().find(|k| k.0 == self).map(|k| k.1)
    }

    /// The prefix the library writes before messages of this kind ("invalid argument: ").
    pub fn prefix(self) -> &'static str {
        KINDS.iter().find(|k| k.0 == self).map_or("", |k| k.2)
    }
}

/// A failing `aph_status`: its code and the message of `aph_last_error()`, read on the thread
/// that made the call, right after it. Errors made by the binding itself (a string with a NUL
/// byte, a slice of the wrong element type, ...) and by callbacks use the same codes.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    code: i32,
    message: String,
}

/// `Result<T, aphelion::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with `message`. The message is written the library's way, prefixed
    /// with the kind ("kernel error: {message}"), unless it already starts with that prefix.
    /// Callbacks return such errors to make the library call that ran them fail.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        let code = kind.code().unwrap_or(sys::APH_ERR_INTERNAL);
        Error::with_code(code, message)
    }

    /// An error with a raw status code (which may be newer than this binding).
    pub fn with_code(code: i32, message: impl Into<String>) -> Error {
        let message = message.into();
        let prefix = ErrorKind::from_code(code).prefix();
        let message = if message.starts_with(prefix) { message } else { format!("{prefix}{message}") };
        Error { code, message }
    }

    /// The error of the calling thread's failing call that returned `status`.
    pub(crate) fn last(status: i32) -> Error {
        // SAFETY: never NULL; valid until this thread's next failing call. Copied at once.
        let msg = unsafe { CStr::from_ptr(sys::aph_last_error()) }.to_string_lossy().into_owned();
        Error { code: status, message: msg }
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    pub(crate) fn invalid_state(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidState, message)
    }

    /// Which status this is.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::from_code(self.code)
    }

    /// The `aph_status` code (an `i32`, since the C enum is open).
    pub fn code(&self) -> i32 {
        self.code
    }

    /// The status's enum name, as `aph_status_name` gives it ("APH_ERR_NOT_FOUND";
    /// "APH_ERR_UNKNOWN" for a code the library does not know).
    pub fn status_name(&self) -> &'static str {
        status_name(self.code)
    }

    /// The message, as `aph_last_error()` gave it ("not found: no node named 'x'").
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The message without the kind's prefix (what `aph_set_last_error` takes).
    pub(crate) fn bare_message(&self) -> &str {
        let prefix = self.kind().prefix();
        self.message.strip_prefix(prefix).unwrap_or(&self.message)
    }

    /// Makes this error the calling thread's last error (inside a callback: the message the
    /// library builds the failing call's message from). Returns the status to give back.
    pub(crate) fn report(&self) -> i32 {
        let code = if self.code == sys::APH_OK { sys::APH_ERR_INTERNAL } else { self.code };
        let text = CString::new(self.bare_message().replace('\0', "\\0")).unwrap_or_default();
        // SAFETY: text is a valid C string for the call.
        unsafe { sys::aph_set_last_error(code, text.as_ptr()) };
        code
    }
}

/// `aph_status_name` (static storage).
pub fn status_name(code: i32) -> &'static str {
    // SAFETY: the library returns a pointer to static storage, never NULL.
    unsafe { CStr::from_ptr(sys::aph_status_name(code)) }.to_str().unwrap_or("APH_ERR_UNKNOWN")
}

/// Turns a status into a `Result`, reading `aph_last_error()` at once when it failed.
#[inline]
pub(crate) fn check(status: i32) -> Result<()> {
    if status == sys::APH_OK {
        Ok(())
    } else {
        Err(Error::last(status))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind())
            .field("code", &self.code)
            .field("status", &self.status_name())
            .field("message", &self.message)
            .finish()
    }
}

impl std::error::Error for Error {}

impl From<std::ffi::NulError> for Error {
    fn from(e: std::ffi::NulError) -> Error {
        Error::invalid_argument(format!("string contains a NUL byte at {}", e.nul_position()))
    }
}

/// Calls `f` with `s` as a NUL-terminated string, on the stack when it is short (hot paths:
/// binding inputs by name), else through a `CString`. Interior NUL: `InvalidArgument`.
#[inline]
pub(crate) fn with_cstr<R>(s: &str, f: impl FnOnce(*const std::ffi::c_char) -> R) -> Result<R> {
    let b = s.as_bytes();
    if b.len() < 128 {
        if let Some(i) = b.iter().position(|&c| c == 0) {
            return Err(Error::invalid_argument(format!("string contains a NUL byte at {i}")));
        }
        let mut buf = [0u8; 128];
        buf[..b.len()].copy_from_slice(b);
        Ok(f(buf.as_ptr() as *const std::ffi::c_char))
    } else {
        let c = cstr(s)?;
        Ok(f(c.as_ptr()))
    }
}

/// A C string for a call (interior NUL: `InvalidArgument`).
pub(crate) fn cstr(s: &str) -> Result<CString> {
    Ok(CString::new(s)?)
}

/// A borrowed C string as `&str` (lossless for the library's UTF-8; NULL gives None).
///
/// # Safety
/// `p` is NULL or a valid NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn borrowed_str<'a>(p: *const std::ffi::c_char) -> Option<&'a str> {
    if p.is_null() {
        None
    } else {
        Some(CStr::from_ptr(p).to_str().unwrap_or("<invalid UTF-8>"))
    }
}

/// Takes a `char*` the library allocated, copies it and frees it with `aph_string_free`.
///
/// # Safety
/// `p` is NULL or a string to be freed with `aph_string_free`.
pub(crate) unsafe fn take_string(p: *mut std::ffi::c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    let s = CStr::from_ptr(p).to_string_lossy().into_owned();
    sys::aph_string_free(p);
    s
}
