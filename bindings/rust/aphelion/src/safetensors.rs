//! safetensors files (header section 21).

use std::ffi::c_char;
use std::fmt;
use std::ptr;

use aphelion_sys as sys;

use crate::device::{handle, make, Device};
use crate::error::{borrowed_str, check, cstr, take_string, Result};
use crate::tensor::{Access, Tensor};
use crate::types::DType;

handle!(
    /// An open, memory-mapped safetensors file (`aph_safetensors`). Any number of threads may
    /// read it (`Send + Sync`). Tensors made from it keep the mapping alive.
    SafetensorsFile, aph_safetensors, aph_safetensors_release
);
unsafe impl Send for SafetensorsFile {}
unsafe impl Sync for SafetensorsFile {}

impl fmt::Debug for SafetensorsFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl SafetensorsFile {
    /// Opens and checks the file (Io when unreadable, Serialization when malformed).
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<SafetensorsFile> {
        crate::ensure_version()?;
        let p = cstr(&path.as_ref().to_string_lossy())?;
        Ok(SafetensorsFile { raw: make(|o| unsafe { sys::aph_safetensors_open(p.as_ptr(), o) })? })
    }
    pub fn count(&self) -> usize {
        unsafe { sys::aph_safetensors_count(self.as_raw()) }
    }
    /// The index-th tensor's name (borrowed from the file).
    pub fn name(&self, index: usize) -> Option<&str> {
        unsafe { borrowed_str(sys::aph_safetensors_name(self.as_raw(), index)) }
    }
    /// Every tensor's name, in the order of their data offsets.
    pub fn names(&self) -> Vec<&str> {
        (0..self.count()).filter_map(|i| self.name(i)).collect()
    }
    /// The __metadata__ object as compact JSON.
    pub fn metadata(&self) -> Result<String> {
        let mut v: *mut c_char = ptr::null_mut();
        check(unsafe { sys::aph_safetensors_metadata(self.as_raw(), &mut v) })?;
        Ok(unsafe { take_string(v) })
    }
    /// The dtype and shape of tensor `name` (NotFound when absent).
    pub fn info(&self, name: &str) -> Result<(DType, Vec<i64>)> {
        let n = cstr(name)?;
        let (mut dtype, mut ndim) = (sys::APH_DTYPE_INVALID, 0usize);
        check(unsafe { sys::aph_safetensors_info(self.as_raw(), n.as_ptr(), &mut dtype, ptr::null_mut(), 0, &mut ndim) })?;
        let mut shape = vec![0i64; ndim];
        check(unsafe { sys::aph_safetensors_info(self.as_raw(), n.as_ptr(), ptr::null_mut(), shape.as_mut_ptr(), ndim, ptr::null_mut()) })?;
        Ok((DType::from_raw(dtype), shape))
    }
    /// Tensor `name` on `device`: a read-only view of the mapped file on the CPU (no copy),
    /// a writable copy elsewhere.
    pub fn tensor(&self, name: &str, device: &Device) -> Result<Tensor> {
        let n = cstr(name)?;
        Ok(Tensor::own(make(|o| unsafe { sys::aph_safetensors_tensor(self.as_raw(), n.as_ptr(), device.as_raw(), o) })?))
    }
}

/// Writes `tensors` (name, tensor) to `path` in the reference writer's layout, with optional
/// `__metadata__` (a JSON object of strings).
pub fn save_safetensors(path: impl AsRef<std::path::Path>, tensors: &[(&str, &Tensor)], metadata_json: Option<&str>) -> Result<()> {
    let p = cstr(&path.as_ref().to_string_lossy())?;
    let names = tensors.iter().map(|(n, _)| cstr(n)).collect::<Result<Vec<_>>>()?;
    let name_ptrs: Vec<*const c_char> = names.iter().map(|n| n.as_ptr()).collect();
    let raws: Vec<*const sys::aph_tensor> = tensors.iter().map(|(_, t)| t.as_raw() as *const _).collect();
    let meta = metadata_json.map(cstr).transpose()?;
    let reads: Vec<Option<&Tensor>> = tensors.iter().map(|(_, t)| Some(*t)).collect();
    let _a = Access::new(&reads, &[])?;
    check(unsafe {
        sys::aph_safetensors_save(p.as_ptr(), name_ptrs.as_ptr(), raws.as_ptr(), raws.len(),
                                  meta.as_ref().map_or(ptr::null(), |m| m.as_ptr()))
    })
}
