//! libaphelion's process-wide logger (header section 3), routed into a closure.

use std::cell::Cell;
use std::ffi::{c_char, c_void, CStr};
use std::ptr;
use std::sync::Mutex;

use aphelion_sys as sys;

use crate::error::{check, cstr, Error, Result};
use crate::types::{LogLevel, LogPreset};

type LogFn = Box<dyn Fn(LogLevel, &str, &str) + Send + Sync + 'static>;

/// The installed closure (a `Box<LogFn>` as an address), replaced under the lock.
static CURRENT: Mutex<usize> = Mutex::new(0);

thread_local! {
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

unsafe extern "C" fn trampoline(user_data: *mut c_void, level: i32, target: *const c_char, message: *const c_char) {
    let f = &*(user_data as *const LogFn);
    let target = if target.is_null() { "" } else { CStr::from_ptr(target).to_str().unwrap_or("?") };
    let message = if message.is_null() { "" } else { CStr::from_ptr(message).to_str().unwrap_or("?") };
    let was = IN_CALLBACK.with(|c| c.replace(true));
    crate::callback::void_of("the log callback", || f(LogLevel::from_raw(level), target, message));
    IN_CALLBACK.with(|c| c.set(was));
}

/// Sends every message at or above the level to `callback(level, target, message)`, called on
/// whichever thread logs, possibly several at once (hence `Send + Sync`). A panic inside it is
/// caught (and printed to stderr). `None` restores the default stderr sink. When this returns,
/// the previous closure is no longer running and has been dropped. Calling it from inside the
/// callback is InvalidArgument.
pub fn set_callback<F>(callback: Option<F>) -> Result<()>
where
    F: Fn(LogLevel, &str, &str) + Send + Sync + 'static,
{
    if IN_CALLBACK.with(|c| c.get()) {
        return Err(Error::invalid_argument("log::set_callback called from inside the log callback"));
    }
    let mut current = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
    let new: *mut LogFn = match callback {
        Some(f) => Box::into_raw(Box::new(Box::new(f) as LogFn)),
        None => ptr::null_mut(),
    };
    let st = unsafe {
        if new.is_null() {
            sys::aph_log_set_callback(None, ptr::null_mut())
        } else {
            sys::aph_log_set_callback(Some(trampoline), new as *mut c_void)
        }
    };
    if let Err(e) = check(st) {
        if !new.is_null() {
            drop(unsafe { Box::from_raw(new) });
        }
        return Err(e);
    }
    let old = std::mem::replace(&mut *current, new as usize);
    if old != 0 {
        // No call to it is in progress or will start (the header's guarantee).
        drop(unsafe { Box::from_raw(old as *mut LogFn) });
    }
    Ok(())
}

/// Drops messages below `level`.
pub fn set_level(level: LogLevel) -> Result<()> {
    check(unsafe { sys::aph_log_set_level(level.raw()) })
}

/// The current level.
pub fn level() -> LogLevel {
    LogLevel::from_raw(unsafe { sys::aph_log_get_level() })
}

/// Logs one message through the library's logger (`target` `None`: "aphelion").
pub fn write(level: LogLevel, target: Option<&str>, message: &str) -> Result<()> {
    let t = target.map(cstr).transpose()?;
    let m = cstr(message)?;
    check(unsafe { sys::aph_log_write(level.raw(), t.as_ref().map_or(ptr::null(), |t| t.as_ptr()), m.as_ptr()) })
}

/// Applies a preset of the default sink (level and layout).
pub fn apply_preset(preset: LogPreset) -> Result<()> {
    check(unsafe { sys::aph_log_apply_preset(preset.raw()) })
}

/// rust-ai-core's training-step message (info, target "rust_ai::training").
pub fn training_step(step: u64, total_steps: u64, loss: f64, lr: f64) -> Result<()> {
    check(unsafe { sys::aph_log_training_step(step, total_steps, loss, lr) })
}

/// rust-ai-core's memory message (info, target "rust_ai::memory").
pub fn memory_usage(allocated_bytes: u64, peak_bytes: u64, context: Option<&str>) -> Result<()> {
    let c = context.map(cstr).transpose()?;
    check(unsafe { sys::aph_log_memory_usage(allocated_bytes, peak_bytes, c.as_ref().map_or(ptr::null(), |c| c.as_ptr())) })
}
