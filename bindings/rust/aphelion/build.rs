//! aphelion-sys finds libaphelion and reports its directory (DEP_APHELION_LIB_DIR); link-arg
//! instructions do not reach dependents, so this crate adds the rpath to its own tests,
//! examples and benchmarks (APHELION_NO_RPATH=1 leaves it out).
fn main() {
    println!("cargo:rerun-if-env-changed=APHELION_NO_RPATH");
    let rpath = std::env::var_os("APHELION_NO_RPATH").map_or(true, |v| v.is_empty() || v == "0");
    if let (true, Ok(dir)) = (rpath, std::env::var("DEP_APHELION_LIB_DIR")) {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
