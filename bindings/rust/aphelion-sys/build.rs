//! Finds libaphelion (standard library only; no pkg-config crate):
//!  1. APHELION_LIB_DIR: a directory holding libaphelion.so (linked by name, -laphelion);
//!  2. otherwise `pkg-config --libs aphelion` (an installed copy), then
//!     `pkg-config --libs aphelion-uninstalled` (a build tree: PKG_CONFIG_PATH=build/pkgconfig);
//!     the command is $PKG_CONFIG when set.
//!
//! Each -L directory is also passed as an rpath, so tests and examples run without
//! LD_LIBRARY_PATH (set APHELION_NO_RPATH=1 to leave it out).
use std::env;
use std::process::Command;

fn main() {
    for var in ["APHELION_LIB_DIR", "PKG_CONFIG_PATH", "PKG_CONFIG", "APHELION_NO_RPATH"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let rpath = env::var_os("APHELION_NO_RPATH").map_or(true, |v| v.is_empty() || v == "0");

    if let Some(dir) = env::var_os("APHELION_LIB_DIR").filter(|d| !d.is_empty()) {
        let dir = dir.to_string_lossy().into_owned();
        println!("cargo:rustc-link-search=native={dir}");
        println!("cargo:rustc-link-lib=dylib=aphelion");
        if rpath {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        }
        println!("cargo:lib_dir={dir}");
        return;
    }

    let pkg_config = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_string());
    let mut errors = Vec::new();
    for package in ["aphelion", "aphelion-uninstalled"] {
        match Command::new(&pkg_config).args(["--libs", package]).output() {
            Ok(out) if out.status.success() => {
                let libs = String::from_utf8_lossy(&out.stdout).into_owned();
                let mut found = false;
                for flag in libs.split_whitespace() {
                    if let Some(dir) = flag.strip_prefix("-L") {
                        println!("cargo:rustc-link-search=native={dir}");
                        if rpath {
                            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
                        }
                        println!("cargo:lib_dir={dir}");
                    } else if let Some(lib) = flag.strip_prefix("-l") {
                        println!("cargo:rustc-link-lib=dylib={lib}");
                        found |= lib == "aphelion";
                    }
                }
                if !found {
                    println!("cargo:rustc-link-lib=dylib=aphelion");
                }
                return;
            }
            Ok(out) => errors.push(format!(
                "`{pkg_config} --libs {package}`: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => errors.push(format!("`{pkg_config}`: {e}")),
        }
    }
    panic!(
        "aphelion-sys: cannot find libaphelion. Set APHELION_LIB_DIR to the directory holding \
         libaphelion.so, or PKG_CONFIG_PATH to the directory holding aphelion.pc (an install: \
         <prefix>/lib/pkgconfig) or aphelion-uninstalled.pc (a build tree: build/pkgconfig).\n{}",
        errors.join("\n")
    );
}
