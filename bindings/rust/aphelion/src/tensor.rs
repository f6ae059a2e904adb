//! Tensors (header section 12): owning handles, views, and CPU data as Rust slices.
//!
//! A tensor and its views share memory, which C allows to be read and written through any of
//! them. So that safe Rust cannot get a `&mut [T]` aliasing a `&[T]` (or a slice aliasing a
//! write by the library), each storage made through this crate carries a borrow flag shared by
//! every handle over it (views and clones included), checked at run time like a `RefCell`:
//! [`Tensor::as_slice`] holds a shared borrow, [`Tensor::as_mut_slice`] an exclusive one, and
//! every library call that writes into a tensor (operations' outputs, copies, executor runs
//! into bound tensors) takes the exclusive borrow for its duration, failing with
//! `ErrorKind::InvalidState` instead of racing.

use std::ffi::c_void;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;

use aphelion_sys as sys;

use crate::device::{make, stream_ptr, Device, Stream};
use crate::error::{check, Error, Result};
use crate::types::{DType, DeviceKind, Element};

/// The borrow flag of one storage: > 0 shared borrows, -1 an exclusive one, 0 none.
#[derive(Default)]
pub(crate) struct Mem {
    state: AtomicIsize,
}

impl Mem {
    pub(crate) fn new() -> Arc<Mem> {
        Arc::new(Mem::default())
    }
    fn try_read(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s < 0 {
                return false;
            }
            match self.state.compare_exchange_weak(s, s + 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
    }
    fn end_read(&self) {
        self.state.fetch_sub(1, Ordering::Release);
    }
    fn try_write(&self) -> bool {
        self.state.compare_exchange(0, -1, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }
    fn end_write(&self) {
        self.state.store(0, Ordering::Release);
    }
}

fn busy(what: &str) -> Error {
    Error::invalid_state(format!(
        "{what}: the tensor's memory is borrowed as a slice (as_slice / as_mut_slice) through \
         this handle or a view of it; drop the slice first"
    ))
}

/// Borrows held for the duration of one library call (released on drop).
pub(crate) struct Access<'a> {
    reads: Vec<&'a Mem>,
    writes: Vec<&'a Mem>,
}

impl<'a> Access<'a> {
    /// Shared borrows of `reads` and exclusive ones of `writes` (a storage both read and
    /// written, as an in-place operation's, is borrowed exclusively once).
    pub(crate) fn new(reads: &[Option<&'a Tensor>], writes: &[Option<&'a Tensor>]) -> Result<Access<'a>> {
        Access::of_mems(
            reads.iter().flatten().map(|t| &*t.mem),
            writes.iter().flatten().map(|t| &*t.mem),
        )
    }

    pub(crate) fn of_mems(
        reads: impl Iterator<Item = &'a Mem>,
        writes: impl Iterator<Item = &'a Mem>,
    ) -> Result<Access<'a>> {
        let mut a = Access { reads: Vec::new(), writes: Vec::new() };
        for m in writes {
            if a.writes.iter().any(|w| ptr::eq(*w, m)) {
                continue;
            }
            if !m.try_write() {
                return Err(busy("cannot write into it"));
            }
            a.writes.push(m);
        }
        for m in reads {
            if a.writes.iter().chain(a.reads.iter()).any(|w| ptr::eq(*w, m)) {
                continue;
            }
            if !m.try_read() {
                return Err(busy("cannot read it"));
            }
            a.reads.push(m);
        }
        Ok(a)
    }
}

impl Drop for Access<'_> {
    fn drop(&mut self) {
        self.reads.iter().for_each(|m| m.end_read());
        self.writes.iter().for_each(|m| m.end_write());
    }
}

/// A tensor handle (`aph_tensor`): dtype, shape, strides over a reference-counted storage on
/// a device. `Clone` adds a reference to the same handle; views share the storage. A tensor's
/// metadata never changes, so it is `Send + Sync`; its memory is guarded as the module
/// documentation says.
pub struct Tensor {
    pub(crate) raw: NonNull<sys::aph_tensor>,
    pub(crate) mem: Arc<Mem>,
}

unsafe impl Send for Tensor {}
unsafe impl Sync for Tensor {}

impl Drop for Tensor {
    fn drop(&mut self) {
        unsafe { sys::aph_tensor_release(self.raw.as_ptr()) }
    }
}

impl Clone for Tensor {
    fn clone(&self) -> Tensor {
        unsafe { sys::aph_tensor_retain(self.raw.as_ptr()) };
        Tensor { raw: self.raw, mem: self.mem.clone() }
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor({} {:?} on {})", self.dtype(), self.shape(), self.device().label())
    }
}

/// A shared borrow of a CPU tensor's elements (derefs to `&[T]`).
pub struct TensorSlice<'a, T> {
    slice: &'a [T],
    mem: &'a Mem,
}
impl<T> Deref for TensorSlice<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.slice
    }
}
impl<T> Drop for TensorSlice<'_, T> {
    fn drop(&mut self) {
        self.mem.end_read()
    }
}
impl<T: fmt::Debug> fmt::Debug for TensorSlice<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.slice.fmt(f)
    }
}

/// An exclusive borrow of a writable CPU tensor's elements (derefs to `&mut [T]`).
pub struct TensorSliceMut<'a, T> {
    slice: &'a mut [T],
    mem: &'a Mem,
}
impl<T> Deref for TensorSliceMut<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.slice
    }
}
impl<T> DerefMut for TensorSliceMut<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.slice
    }
}
impl<T> Drop for TensorSliceMut<'_, T> {
    fn drop(&mut self) {
        self.mem.end_write()
    }
}

unsafe extern "C" fn free_vec<T>(user_data: *mut c_void, _data: *mut c_void) {
    crate::callback::void_of("dropping a Vec's buffer", || drop(Box::from_raw(user_data as *mut Vec<T>)));
}

fn numel_of(shape: &[i64]) -> Result<usize> {
    shape.iter().try_fold(1usize, |n, &d| {
        usize::try_from(d).ok().and_then(|d| n.checked_mul(d)).ok_or_else(|| {
            Error::invalid_argument(format!("shape {shape:?} has a negative or too large dimension"))
        })
    })
}

impl Tensor {
    /// Takes ownership of one reference to a raw handle. The new handle has a borrow flag of
    /// its own (see the module documentation).
    ///
    /// # Safety
    /// `raw` is a valid tensor handle whose reference the caller gives up, and no other
    /// `Tensor` of this crate writes its memory while this one's slices are alive.
    pub unsafe fn from_raw(raw: *mut sys::aph_tensor) -> Option<Tensor> {
        NonNull::new(raw).map(|raw| Tensor { raw, mem: Mem::new() })
    }
    pub(crate) fn own(raw: NonNull<sys::aph_tensor>) -> Tensor {
        Tensor { raw, mem: Mem::new() }
    }
    /// A view: a new handle sharing this storage's borrow flag.
    fn view(&self, raw: NonNull<sys::aph_tensor>) -> Tensor {
        Tensor { raw, mem: self.mem.clone() }
    }
    /// The raw handle (still owned by `self`).
    pub fn as_raw(&self) -> *mut sys::aph_tensor {
        self.raw.as_ptr()
    }

    // ---- construction ---------------------------------------------------------------------

    /// A contiguous tensor with unspecified contents.
    pub fn empty(device: &Device, dtype: DType, shape: &[i64]) -> Result<Tensor> {
        Ok(Tensor::own(make(|o| unsafe {
            sys::aph_tensor_create(device.as_raw(), dtype.raw(), shape.as_ptr(), shape.len(), o)
        })?))
    }
    /// As [`Tensor::empty`], allocated for use on `stream`.
    pub fn empty_on_stream(device: &Device, dtype: DType, shape: &[i64], stream: Option<&Stream>) -> Result<Tensor> {
        Ok(Tensor::own(make(|o| unsafe {
            sys::aph_tensor_create_on_stream(device.as_raw(), dtype.raw(), shape.as_ptr(), shape.len(), stream_ptr(stream), o)
        })?))
    }
    /// A contiguous tensor of zeros.
    pub fn zeros(device: &Device, dtype: DType, shape: &[i64]) -> Result<Tensor> {
        Ok(Tensor::own(make(|o| unsafe {
            sys::aph_tensor_zeros(device.as_raw(), dtype.raw(), shape.as_ptr(), shape.len(), o)
        })?))
    }
    /// A copy of `data` (row-major, `T`'s dtype) on `device`.
    pub fn from_slice<T: Element>(device: &Device, shape: &[i64], data: &[T]) -> Result<Tensor> {
        Tensor::from_bytes_raw(device, T::DTYPE, shape, data.as_ptr() as *const c_void, std::mem::size_of_val(data))
    }
    /// A copy of row-major bytes of `dtype` on `device`.
    pub fn from_bytes(device: &Device, dtype: DType, shape: &[i64], bytes: &[u8]) -> Result<Tensor> {
        Tensor::from_bytes_raw(device, dtype, shape, bytes.as_ptr() as *const c_void, bytes.len())
    }
    fn from_bytes_raw(device: &Device, dtype: DType, shape: &[i64], p: *const c_void, n: usize) -> Result<Tensor> {
        Ok(Tensor::own(make(|o| unsafe {
            sys::aph_tensor_from_host(device.as_raw(), dtype.raw(), shape.as_ptr(), shape.len(), p, n, o)
        })?))
    }
    /// A CPU tensor over `data` without copying (`aph_tensor_from_blob`): the tensor owns the
    /// `Vec`, which is dropped when the last reference to the memory goes (on whichever thread
    /// releases it). `data.len()` must be the shape's element count.
    pub fn from_vec<T: Element>(shape: &[i64], data: Vec<T>) -> Result<Tensor> {
        let n = numel_of(shape)?;
        if n != data.len() {
            return Err(Error::new(
                crate::ErrorKind::ShapeMismatch,
                format!("shape {shape:?} has {n} elements, the Vec {}", data.len()),
            ));
        }
        let cpu = Device::cpu()?;
        let mut boxed = Box::new(data);
        let p = boxed.as_mut_ptr() as *mut c_void;
        let ud = Box::into_raw(boxed);
        let mut out = ptr::null_mut();
        let st = unsafe {
            sys::aph_tensor_from_blob(cpu.as_raw(), T::DTYPE.raw(), shape.as_ptr(), ptr::null(), shape.len(), p,
                                      Some(free_vec::<T>), ud as *mut c_void, &mut out)
        };
        if st != sys::APH_OK {
            let e = Error::last(st);
            drop(unsafe { Box::from_raw(ud) }); // on failure the caller keeps ownership
            return Err(e);
        }
        Ok(Tensor::own(NonNull::new(out).expect("from_blob returned NULL")))
    }

    // ---- metadata -------------------------------------------------------------------------

    pub fn dtype(&self) -> DType {
        DType::from_raw(unsafe { sys::aph_tensor_dtype(self.as_raw()) })
    }
    pub fn ndim(&self) -> usize {
        unsafe { sys::aph_tensor_ndim(self.as_raw()) }
    }
    /// The sizes (borrowed from the handle).
    pub fn shape(&self) -> &[i64] {
        let n = self.ndim();
        let p = unsafe { sys::aph_tensor_shape(self.as_raw()) };
        if n == 0 || p.is_null() { &[] } else { unsafe { std::slice::from_raw_parts(p, n) } }
    }
    /// The strides, in elements.
    pub fn strides(&self) -> &[i64] {
        let n = self.ndim();
        let p = unsafe { sys::aph_tensor_strides(self.as_raw()) };
        if n == 0 || p.is_null() { &[] } else { unsafe { std::slice::from_raw_parts(p, n) } }
    }
    pub fn numel(&self) -> i64 {
        unsafe { sys::aph_tensor_numel(self.as_raw()) }
    }
    pub fn nbytes(&self) -> u64 {
        unsafe { sys::aph_tensor_nbytes(self.as_raw()) }
    }
    pub fn byte_offset(&self) -> u64 {
        unsafe { sys::aph_tensor_byte_offset(self.as_raw()) }
    }
    /// The tensor's device (a new reference).
    pub fn device(&self) -> Device {
        let p = unsafe { sys::aph_tensor_device(self.as_raw()) };
        unsafe { sys::aph_device_retain(p) };
        unsafe { Device::from_raw(p) }.expect("a tensor has a device")
    }
    pub fn is_contiguous(&self) -> bool {
        unsafe { sys::aph_tensor_is_contiguous(self.as_raw()) != 0 }
    }
    /// Read-only tensors (memory-mapped weights and their views) never give mutable access.
    pub fn is_read_only(&self) -> bool {
        unsafe { sys::aph_tensor_is_read_only(self.as_raw()) != 0 }
    }
    pub fn shares_storage(&self, other: &Tensor) -> bool {
        unsafe { sys::aph_tensor_shares_storage(self.as_raw(), other.as_raw()) != 0 }
    }
    /// The address of the first element (`aph_tensor_data`; a device pointer for CUDA).
    pub fn data_ptr(&self) -> *const c_void {
        unsafe { sys::aph_tensor_data(self.as_raw()) }
    }
    /// A writable address of the first element (`aph_tensor_data_mut`; refused for read-only
    /// tensors). Writing through it is unsafe code's business.
    pub fn data_mut_ptr(&mut self) -> Result<*mut c_void> {
        let mut p = ptr::null_mut();
        check(unsafe { sys::aph_tensor_data_mut(self.as_raw(), &mut p) })?;
        Ok(p)
    }

    // ---- slices ---------------------------------------------------------------------------

    fn slice_check<T: Element>(&self) -> Result<usize> {
        if self.dtype() != T::DTYPE {
            return Err(Error::invalid_argument(format!(
                "tensor is {}, not {} (the slice's element type)", self.dtype(), T::DTYPE
            )));
        }
        if self.device().kind() != DeviceKind::CPU {
            return Err(Error::invalid_argument(format!(
                "tensor is on {}: only CPU tensors give slices (use to_vec)", self.device().label()
            )));
        }
        if !self.is_contiguous() || self.strides().iter().zip(self.shape()).any(|(&s, &d)| s == 0 && d > 1) {
            return Err(Error::invalid_argument(
                "tensor is not contiguous: make it contiguous (contiguous()) to get a slice",
            ));
        }
        Ok(self.numel() as usize)
    }

    fn check_bools(p: *const u8, n: usize) -> Result<()> {
        if n > 0 && unsafe { std::slice::from_raw_parts(p, n) }.iter().any(|&b| b > 1) {
            return Err(Error::invalid_argument("bool tensor holds a byte other than 0 or 1"));
        }
        Ok(())
    }

    /// The elements of a contiguous CPU tensor of `T`'s dtype, without a copy. Fails with
    /// InvalidState while an exclusive borrow of this storage is alive.
    pub fn as_slice<T: Element>(&self) -> Result<TensorSlice<'_, T>> {
        let n = self.slice_check::<T>()?;
        if !self.mem.try_read() {
            return Err(busy("as_slice"));
        }
        let p = self.data_ptr() as *const T;
        if T::DTYPE == DType::BOOL {
            if let Err(e) = Tensor::check_bools(p as *const u8, n) {
                self.mem.end_read();
                return Err(e);
            }
        }
        let slice = if n == 0 || p.is_null() { &[][..] } else { unsafe { std::slice::from_raw_parts(p, n) } };
        Ok(TensorSlice { slice, mem: &self.mem })
    }

    /// The elements of a writable contiguous CPU tensor, mutably, without a copy. Read-only
    /// tensors are refused (InvalidArgument), and so is a storage borrowed elsewhere
    /// (InvalidState).
    pub fn as_mut_slice<T: Element>(&mut self) -> Result<TensorSliceMut<'_, T>> {
        let n = self.slice_check::<T>()?;
        let p = self.data_mut_ptr()? as *mut T;
        if !self.mem.try_write() {
            return Err(busy("as_mut_slice"));
        }
        if T::DTYPE == DType::BOOL {
            if let Err(e) = Tensor::check_bools(p as *const u8, n) {
                self.mem.end_write();
                return Err(e);
            }
        }
        let slice = if n == 0 || p.is_null() { &mut [][..] } else { unsafe { std::slice::from_raw_parts_mut(p, n) } };
        Ok(TensorSliceMut { slice, mem: &self.mem })
    }

    /// A copy of the elements in row-major order (any device, any layout).
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        if self.dtype() != T::DTYPE {
            return Err(Error::invalid_argument(format!("tensor is {}, not {}", self.dtype(), T::DTYPE)));
        }
        let bytes = self.to_bytes()?;
        if T::DTYPE == DType::BOOL {
            Tensor::check_bools(bytes.as_ptr(), bytes.len())?;
        }
        let n = bytes.len() / std::mem::size_of::<T>();
        let mut v = Vec::<T>::with_capacity(n);
        unsafe {
            ptr::copy_nonoverlapping(bytes.as_ptr(), v.as_mut_ptr() as *mut u8, bytes.len());
            v.set_len(n);
        }
        Ok(v)
    }

    /// A copy of the elements' bytes in row-major order.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let n = self.nbytes() as usize;
        let mut v = vec![0u8; n];
        let _a = Access::new(&[Some(self)], &[])?;
        check(unsafe { sys::aph_tensor_to_host(self.as_raw(), v.as_mut_ptr() as *mut c_void, n) })?;
        Ok(v)
    }

    /// Copies into `dst` (its length in bytes must be the tensor's), queued on `stream`.
    ///
    /// # Safety
    /// For a CUDA tensor the copy may still be running when this returns: `dst` must stay
    /// valid and untouched until the stream has passed it (synchronise the stream).
    pub unsafe fn to_host_async<T: Element>(&self, dst: &mut [T], stream: Option<&Stream>) -> Result<()> {
        let _a = Access::new(&[Some(self)], &[])?;
        check(sys::aph_tensor_to_host_async(self.as_raw(), dst.as_mut_ptr() as *mut c_void,
                                            std::mem::size_of_val(dst), stream_ptr(stream)))
    }

    /// Overwrites the elements with row-major `src` (same element count and dtype).
    pub fn copy_from_slice<T: Element>(&mut self, src: &[T]) -> Result<()> {
        if self.dtype() != T::DTYPE {
            return Err(Error::invalid_argument(format!("tensor is {}, not {}", self.dtype(), T::DTYPE)));
        }
        let _a = Access::new(&[], &[Some(self)])?;
        check(unsafe {
            sys::aph_tensor_copy_from_host(self.as_raw(), src.as_ptr() as *const c_void, std::mem::size_of_val(src))
        })
    }

    /// As [`Tensor::copy_from_slice`], queued on `stream` (`src` may be reused at once: CUDA
    /// copies stage it).
    pub fn copy_from_slice_async<T: Element>(&mut self, src: &[T], stream: Option<&Stream>) -> Result<()> {
        if self.dtype() != T::DTYPE {
            return Err(Error::invalid_argument(format!("tensor is {}, not {}", self.dtype(), T::DTYPE)));
        }
        let _a = Access::new(&[], &[Some(self)])?;
        check(unsafe {
            sys::aph_tensor_copy_from_host_async(self.as_raw(), src.as_ptr() as *const c_void,
                                                 std::mem::size_of_val(src), stream_ptr(stream))
        })
    }

    /// A new contiguous copy on `device`.
    pub fn to_device(&self, device: &Device) -> Result<Tensor> {
        let _a = Access::new(&[Some(self)], &[])?;
        Ok(Tensor::own(make(|o| unsafe { sys::aph_tensor_to_device(self.as_raw(), device.as_raw(), o) })?))
    }

    /// Copies `src`'s elements into this tensor (same dtype and shape).
    pub fn copy_from(&mut self, src: &Tensor) -> Result<()> {
        let _a = Access::new(&[Some(src)], &[Some(self)])?;
        check(unsafe { sys::aph_tensor_copy(self.as_raw(), src.as_raw()) })
    }

    /// As [`Tensor::copy_from`], queued on `stream`.
    pub fn copy_from_async(&mut self, src: &Tensor, stream: Option<&Stream>) -> Result<()> {
        let _a = Access::new(&[Some(src)], &[Some(self)])?;
        check(unsafe { sys::aph_tensor_copy_async(self.as_raw(), src.as_raw(), stream_ptr(stream)) })
    }

    /// This tensor (another reference) when contiguous, else a contiguous copy.
    pub fn contiguous(&self) -> Result<Tensor> {
        let _a = Access::new(&[Some(self)], &[])?;
        let raw = make(|o| unsafe { sys::aph_tensor_contiguous(self.as_raw(), o) })?;
        let shares = unsafe { sys::aph_tensor_shares_storage(self.as_raw(), raw.as_ptr()) != 0 };
        Ok(if shares { self.view(raw) } else { Tensor::own(raw) })
    }

    /// Declares that the memory is used on `stream` by work the library does not see.
    pub fn record_stream(&self, stream: &Stream) -> Result<()> {
        check(unsafe { sys::aph_tensor_record_stream(self.as_raw(), stream.as_raw()) })
    }

    // ---- DLPack ---------------------------------------------------------------------------

    /// Exports the tensor as a DLPack 1.x `DLManagedTensorVersioned` (flags READ_ONLY for
    /// read-only tensors) holding a reference to it. The consumer owns the result and must call
    /// its deleter once; writes through it bypass this crate's borrow flags.
    pub fn to_dlpack(&self) -> Result<*mut sys::DLManagedTensorVersioned> {
        let mut out = ptr::null_mut();
        check(unsafe { sys::aph_tensor_to_dlpack(self.as_raw(), &mut out) })?;
        Ok(out)
    }
    /// Exports as the older unversioned `DLManagedTensor` (read-only tensors are refused).
    pub fn to_dlpack_unversioned(&self) -> Result<*mut sys::DLManagedTensor> {
        let mut out = ptr::null_mut();
        check(unsafe { sys::aph_tensor_to_dlpack_unversioned(self.as_raw(), &mut out) })?;
        Ok(out)
    }
    /// Imports a DLPack tensor without copying; on success the library owns `src` (its
    /// deleter runs once, when the memory is no longer used; maybe on another thread).
    ///
    /// # Safety
    /// `src` is a valid `DLManagedTensorVersioned` that nothing else writes while the tensor
    /// is in use.
    pub unsafe fn from_dlpack(src: *mut sys::DLManagedTensorVersioned) -> Result<Tensor> {
        Ok(Tensor::own(make(|o| sys::aph_tensor_from_dlpack(src, o))?))
    }
    /// As [`Tensor::from_dlpack`] for an unversioned `DLManagedTensor`.
    ///
    /// # Safety
    /// As [`Tensor::from_dlpack`].
    pub unsafe fn from_dlpack_unversioned(src: *mut sys::DLManagedTensor) -> Result<Tensor> {
        Ok(Tensor::own(make(|o| sys::aph_tensor_from_dlpack_unversioned(src, o))?))
    }

    // ---- views ----------------------------------------------------------------------------

    /// Same elements, another shape (one dimension may be -1).
    pub fn reshape(&self, shape: &[i64]) -> Result<Tensor> {
        Ok(self.view(make(|o| unsafe { sys::aph_tensor_reshape(self.as_raw(), shape.as_ptr(), shape.len(), o) })?))
    }
    pub fn permute(&self, dims: &[i64]) -> Result<Tensor> {
        Ok(self.view(make(|o| unsafe { sys::aph_tensor_permute(self.as_raw(), dims.as_ptr(), dims.len(), o) })?))
    }
    pub fn transpose(&self, dim0: i64, dim1: i64) -> Result<Tensor> {
        Ok(self.view(make(|o| unsafe { sys::aph_tensor_transpose(self.as_raw(), dim0, dim1, o) })?))
    }
    /// Elements start, start+step, ... before stop along dim (Python's clamping).
    pub fn slice(&self, dim: i64, start: i64, stop: i64, step: i64) -> Result<Tensor> {
        Ok(self.view(make(|o| unsafe { sys::aph_tensor_slice(self.as_raw(), dim, start, stop, step, o) })?))
    }
    pub fn narrow(&self, dim: i64, start: i64, length: i64) -> Result<Tensor> {
        Ok(self.view(make(|o| unsafe { sys::aph_tensor_narrow(self.as_raw(), dim, start, length, o) })?))
    }
    pub fn select(&self, dim: i64, index: i64) -> Result<Tensor> {
        Ok(self.view(make(|o| unsafe { sys::aph_tensor_select(self.as_raw(), dim, index, o) })?))
    }
    /// Broadcasts to `shape` (stride 0 where a size-1 dimension grows).
    pub fn expand(&self, shape: &[i64]) -> Result<Tensor> {
        Ok(self.view(make(|o| unsafe { sys::aph_tensor_expand(self.as_raw(), shape.as_ptr(), shape.len(), o) })?))
    }
}

/// A tensor the library lends for the duration of a callback (custom operations' inputs and
/// output): no reference of its own, tied to the callback's lifetime `'a`.
pub struct TensorRef<'a> {
    tensor: std::mem::ManuallyDrop<Tensor>,
    _life: PhantomData<&'a ()>,
}

impl TensorRef<'_> {
    /// # Safety
    /// `raw` is valid for `'a`.
    pub(crate) unsafe fn borrow<'a>(raw: *const sys::aph_tensor) -> TensorRef<'a> {
        TensorRef {
            tensor: std::mem::ManuallyDrop::new(Tensor::own(NonNull::new(raw as *mut _).expect("NULL tensor"))),
            _life: PhantomData,
        }
    }
}

impl Deref for TensorRef<'_> {
    type Target = Tensor;
    fn deref(&self) -> &Tensor {
        &self.tensor
    }
}

/// The output tensor a custom operation writes (lent for the callback, as [`TensorRef`]).
pub struct TensorMut<'a>(pub(crate) TensorRef<'a>);

impl Deref for TensorMut<'_> {
    type Target = Tensor;
    fn deref(&self) -> &Tensor {
        &self.0.tensor
    }
}
impl DerefMut for TensorMut<'_> {
    fn deref_mut(&mut self) -> &mut Tensor {
        &mut self.0.tensor
    }
}

impl<T: fmt::Debug> fmt::Debug for TensorSliceMut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.slice.fmt(f)
    }
}
impl fmt::Debug for TensorRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (*self.tensor).fmt(f)
    }
}
impl fmt::Debug for TensorMut<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (*self.0.tensor).fmt(f)
    }
}
