//! What every callback from C goes through: no panic ever unwinds into C.

use std::any::Any;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

use aphelion_sys as sys;

use crate::error::{Error, ErrorKind, Result};

/// The text of a panic's payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_string()
    }
}

/// The status kind a panic inside a callback becomes (with the message "{what} panicked:
/// {panic message}").
pub const PANIC_KIND: ErrorKind = ErrorKind::Backend;

/// Runs a callback that returns a status: `Ok` is APH_OK, an `Err` is reported with
/// `aph_set_last_error` and its code returned, and a panic is caught and reported as
/// [`PANIC_KIND`] with its message.
pub(crate) fn status_of(what: &str, f: impl FnOnce() -> Result<()>) -> sys::aph_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => sys::APH_OK,
        Ok(Err(e)) => e.report(),
        Err(p) => Error::new(PANIC_KIND, format!("{what} panicked: {}", panic_message(&*p))).report(),
    }
}

/// Runs a callback that returns nothing: a panic is caught and written to stderr (there is no
/// status to carry it), since unwinding into C is undefined behaviour.
pub(crate) fn void_of(what: &str, f: impl FnOnce()) {
    if let Err(p) = catch_unwind(AssertUnwindSafe(f)) {
        eprintln!("aphelion: {what} panicked: {} (ignored: it cannot fail)", panic_message(&*p));
    }
}

/// A `destroy(user_data)` for a `Box<T>` passed as user_data.
pub(crate) unsafe extern "C" fn drop_box<T>(user_data: *mut c_void) {
    if !user_data.is_null() {
        void_of("dropping a callback", || drop(Box::from_raw(user_data as *mut T)));
    }
}
