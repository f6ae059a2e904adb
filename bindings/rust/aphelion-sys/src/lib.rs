//! Raw declarations of libaphelion's C API, exactly as `include/aphelion.h` states them.
//!
//! Everything here is generated (see `generated.rs`); the safe API is the `aphelion` crate.
//! Enums are plain `i32` type aliases with one constant per value, because the C enums are
//! open: the library may return a value this crate does not know yet.
//!
//! Linking: `build.rs` finds libaphelion through `APHELION_LIB_DIR` (a directory holding
//! `libaphelion.so`), else `pkg-config` (`aphelion`, then `aphelion-uninstalled` for a build
//! tree; set `PKG_CONFIG_PATH`).
#![no_std]
#![allow(non_camel_case_types, non_upper_case_globals, clippy::all)]

mod generated;
pub use generated::*;
