package aphelion

/*
#include <stdlib.h>
#include "calls_generated.h"
#include "callbacks.h"
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// Tensor is a view of a storage on a device (aph_tensor): dtype, shape, strides and memory.
// Its metadata never changes, so a *Tensor may be used from many goroutines at once; writing
// the same memory from several goroutines at once is the caller's race, as in C.
type Tensor struct{ h handle[C.aph_tensor] }

func newTensor(p *C.aph_tensor) *Tensor {
	t := &Tensor{}
	t.h.init(p, func(p *C.aph_tensor) { C.aph_tensor_release(p) }, false, "Tensor")
	setFinalizer(t)
	return t
}

// borrowedTensor wraps a pointer the library lends for the duration of a callback; it is
// detached (unusable) when the callback returns.
func borrowedTensor(p *C.aph_tensor) *Tensor {
	t := &Tensor{}
	t.h.init(p, nil, false, "borrowed Tensor")
	return t
}

// Close gives back the tensor's reference (idempotent). Slices returned by Data and the typed
// accessors must not be used after Close (the memory may be freed).
func (t *Tensor) Close() error { t.h.close(); return nil }

// pins holds the locks of the handles one C call uses, so none is closed during the call.
type pins struct{ unlocks []func() }

func (p *pins) release() {
	for i := len(p.unlocks) - 1; i >= 0; i-- {
		p.unlocks[i]()
	}
	p.unlocks = p.unlocks[:0]
}

// tensor locks t (nil allowed when optional) and returns its pointer.
func (p *pins) tensor(t *Tensor, name string, optional bool) (*C.aph_tensor, error) {
	if t == nil {
		if optional {
			return nil, nil
		}
		return nil, argError(name + " is nil")
	}
	ptr, err := t.h.use()
	if err != nil {
		return nil, err
	}
	p.unlocks = append(p.unlocks, t.h.unlock)
	return ptr, nil
}

func (p *pins) stream(s *Stream) (*C.aph_stream, error) {
	if s == nil {
		return nil, nil
	}
	ptr, err := s.h.use()
	if err != nil {
		return nil, err
	}
	p.unlocks = append(p.unlocks, s.h.unlock)
	return ptr, nil
}

func (p *pins) device(d *Device) (*C.aph_device, error) {
	if d == nil {
		return nil, argError("device is nil")
	}
	ptr, err := d.h.use()
	if err != nil {
		return nil, err
	}
	p.unlocks = append(p.unlocks, d.h.unlock)
	return ptr, nil
}

// NewTensor makes a contiguous tensor with uninitialised memory on device's default stream.
func NewTensor(device *Device, dtype DType, shape ...int64) (*Tensor, error) {
	var ps pins
	defer ps.release()
	dp, err := ps.device(device)
	if err != nil {
		return nil, err
	}
	var out *C.aph_tensor
	var cerr *C.char
	if err := check(C.go_aph_tensor_create(dp, C.aph_dtype(dtype), shapePtr(shape), C.size_t(len(shape)), &out, &cerr), cerr); err != nil {
		return nil, err
	}
	return newTensor(out), nil
}

// NewTensorOnStream is NewTensor with the memory allocated for use on stream (nil: default).
func NewTensorOnStream(device *Device, dtype DType, shape []int64, stream *Stream) (*Tensor, error) {
	var ps pins
	defer ps.release()
	dp, err := ps.device(device)
	if err != nil {
		return nil, err
	}
	sp, err := ps.stream(stream)
	if err != nil {
		return nil, err
	}
	var out *C.aph_tensor
	var cerr *C.char
	if err := check(C.go_aph_tensor_create_on_stream(dp, C.aph_dtype(dtype), shapePtr(shape), C.size_t(len(shape)), sp, &out, &cerr), cerr); err != nil {
		return nil, err
	}
	return newTensor(out), nil
}

// Zeros makes a contiguous tensor filled with zeros.
func Zeros(device *Device, dtype DType, shape ...int64) (*Tensor, error) {
	var ps pins
	defer ps.release()
	dp, err := ps.device(device)
	if err != nil {
		return nil, err
	}
	var out *C.aph_tensor
	var cerr *C.char
	if err := check(C.go_aph_tensor_zeros(dp, C.aph_dtype(dtype), shapePtr(shape), C.size_t(len(shape)), &out, &cerr), cerr); err != nil {
		return nil, err
	}
	return newTensor(out), nil
}

// TensorFromBytes makes a contiguous tensor holding a copy of data (row-major, exactly
// numel × dtype size bytes, else ErrShapeMismatch).
func TensorFromBytes(device *Device, dtype DType, shape []int64, data []byte) (*Tensor, error) {
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	return tensorFromHost(device, dtype, shape, p, len(data))
}

func tensorFromHost(device *Device, dtype DType, shape []int64, data unsafe.Pointer, nbytes int) (*Tensor, error) {
	var ps pins
	defer ps.release()
	dp, err := ps.device(device)
	if err != nil {
		return nil, err
	}
	var out *C.aph_tensor
	var cerr *C.char
	if err := check(C.go_aph_tensor_from_host(dp, C.aph_dtype(dtype), shapePtr(shape), C.size_t(len(shape)), data, C.size_t(nbytes), &out, &cerr), cerr); err != nil {
		return nil, err
	}
	return newTensor(out), nil
}

// Element is a Go type with a matching dtype: float32 (f32), float64 (f64), int8 (i8), int16
// (i16), int32 (i32), int64 (i64), uint8 (u8), uint32 (u32), bool (bool). f16, bf16 and the fp8
// dtypes have no Go type: use Bytes / TensorFromBytes.
type Element interface {
	float32 | float64 | int8 | int16 | int32 | int64 | uint8 | uint32 | bool
}

// DTypeOf is the dtype of a Go element type.
func DTypeOf[E Element]() DType {
	var z E
	switch any(z).(type) {
	case float32:
		return DTypeF32
	case float64:
		return DTypeF64
	case int8:
		return DTypeI8
	case int16:
		return DTypeI16
	case int32:
		return DTypeI32
	case int64:
		return DTypeI64
	case uint8:
		return DTypeU8
	case uint32:
		return DTypeU32
	default:
		return DTypeBool
	}
}

// FromSlice makes a contiguous tensor of E's dtype on device holding a copy of data (len(data)
// must be the product of shape).
func FromSlice[E Element](device *Device, data []E, shape ...int64) (*Tensor, error) {
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	var z E
	return tensorFromHost(device, DTypeOf[E](), shape, p, len(data)*int(unsafe.Sizeof(z)))
}

// TensorFromBlob wraps memory the caller owns without copying (host memory for a CPU device,
// device memory for a CUDA one; strides nil means contiguous). data must NOT be Go memory
// (cgo forbids C keeping Go pointers): use C.malloc'd, mmap'd (syscall.Mmap) or device memory.
// deleter (may be nil) is called exactly once, after the last reference to the memory is gone,
// possibly on another OS thread; a panic in it is recovered and logged. On failure the caller
// keeps the memory and deleter is not called.
func TensorFromBlob(device *Device, dtype DType, shape, strides []int64, data unsafe.Pointer, deleter func()) (*Tensor, error) {
	if strides != nil && len(strides) != len(shape) {
		return nil, argError("strides must have one value per dimension")
	}
	var ps pins
	defer ps.release()
	dp, err := ps.device(device)
	if err != nil {
		return nil, err
	}
	var h cgo.Handle
	if deleter != nil {
		h = cgo.NewHandle(deleter)
	}
	var out *C.aph_tensor
	var cerr *C.char
	if err := check(C.go_tensor_from_blob(dp, C.aph_dtype(dtype), shapePtr(shape), shapePtr(strides), C.size_t(len(shape)), data, C.uintptr_t(h), &out, &cerr), cerr); err != nil {
		if h != 0 {
			h.Delete()
		}
		return nil, err
	}
	return newTensor(out), nil
}

// DType is the element type (DTypeInvalid after Close).
func (t *Tensor) DType() DType {
	defer t.h.unlock()
	return DType(C.aph_tensor_dtype(t.h.lock()))
}

// NDim is the number of dimensions.
func (t *Tensor) NDim() int {
	defer t.h.unlock()
	return int(C.aph_tensor_ndim(t.h.lock()))
}

// Shape is a copy of the shape.
func (t *Tensor) Shape() []int64 {
	p := t.h.lock()
	defer t.h.unlock()
	return copyShape(C.aph_tensor_shape(p), C.aph_tensor_ndim(p))
}

// Strides is a copy of the strides (in elements).
func (t *Tensor) Strides() []int64 {
	p := t.h.lock()
	defer t.h.unlock()
	return copyShape(C.aph_tensor_strides(p), C.aph_tensor_ndim(p))
}

// Numel is the number of elements.
func (t *Tensor) Numel() int64 {
	defer t.h.unlock()
	return int64(C.aph_tensor_numel(t.h.lock()))
}

// NBytes is numel × dtype size.
func (t *Tensor) NBytes() uint64 {
	defer t.h.unlock()
	return uint64(C.aph_tensor_nbytes(t.h.lock()))
}

// ByteOffset is the offset of the first element in its storage.
func (t *Tensor) ByteOffset() uint64 {
	defer t.h.unlock()
	return uint64(C.aph_tensor_byte_offset(t.h.lock()))
}

// IsContiguous reports row-major layout without gaps.
func (t *Tensor) IsContiguous() bool {
	defer t.h.unlock()
	return C.aph_tensor_is_contiguous(t.h.lock()) != 0
}

// IsReadOnly reports a read-only tensor (memory-mapped weights and their views): Data refuses
// it; read it with ToSlice or CopyToHost, or copy it (ToDevice) for writable memory.
func (t *Tensor) IsReadOnly() bool {
	defer t.h.unlock()
	return C.aph_tensor_is_read_only(t.h.lock()) != 0
}

// Device is a new reference to the tensor's device (nil after Close).
func (t *Tensor) Device() *Device {
	defer t.h.unlock()
	return retainedDevice(C.aph_tensor_device(t.h.lock()))
}

// SharesStorage reports whether t and u are views of one storage.
func (t *Tensor) SharesStorage(u *Tensor) bool {
	var ps pins
	defer ps.release()
	a, err := ps.tensor(t, "t", false)
	if err != nil {
		return false
	}
	b, err := ps.tensor(u, "u", false)
	if err != nil {
		return false
	}
	return C.aph_tensor_shares_storage(a, b) != 0
}

// DataPointer is the address of the first element (aph_tensor_data; a device pointer for CUDA
// tensors, nil for zero-size ones), for passing to C code. Valid while the tensor is open;
// never write through it for a read-only tensor.
func (t *Tensor) DataPointer() unsafe.Pointer {
	defer t.h.unlock()
	return unsafe.Pointer(C.aph_tensor_data(t.h.lock()))
}

// Bytes is the tensor's memory as a writable []byte, without a copy. The tensor must be a CPU
// tensor, contiguous and not read-only (else ErrInvalidArgument). The slice aliases C memory:
// it is valid while the tensor is open (use it only before Close, and keep the *Tensor
// reachable while you use it, e.g. with runtime.KeepAlive, or its finalizer may free the
// memory); writes are visible to the library and vice versa.
func (t *Tensor) Bytes() ([]byte, error) {
	p, n, err := t.mutableMemory(DTypeInvalid)
	if err != nil || n == 0 {
		return []byte{}, err
	}
	return unsafe.Slice((*byte)(p), n), nil
}

func (t *Tensor) mutableMemory(want DType) (unsafe.Pointer, int, error) {
	p, err := t.h.use()
	if err != nil {
		return nil, 0, err
	}
	defer t.h.unlock()
	if want != DTypeInvalid {
		if got := DType(C.aph_tensor_dtype(p)); got != want {
			return nil, 0, argError("tensor is " + got.String() + ", not " + want.String())
		}
	}
	dev := C.aph_tensor_device(p)
	if DeviceKind(C.aph_device_get_kind(dev)) != DeviceKindCPU {
		return nil, 0, argError("tensor is on " + C.GoString(C.aph_device_label(dev)) + ": only CPU tensors can be seen as Go slices (use ToSlice)")
	}
	if C.aph_tensor_is_contiguous(p) == 0 {
		return nil, 0, argError("tensor is not contiguous (use Contiguous or ToSlice)")
	}
	var data unsafe.Pointer
	var cerr *C.char
	if err := check(C.go_aph_tensor_data_mut(p, &data, &cerr), cerr); err != nil {
		return nil, 0, err
	}
	return data, int(C.aph_tensor_nbytes(p)), nil
}

// Data is the tensor's elements as a writable []E over the tensor's memory, without a copy
// (E must match the dtype). Same rules as Bytes: a contiguous, writable CPU tensor, and the
// slice is valid only while the tensor is open and reachable. Read-only tensors are refused
// (ErrInvalidArgument): use ToSlice, which copies.
func Data[E Element](t *Tensor) ([]E, error) {
	p, n, err := t.mutableMemory(DTypeOf[E]())
	if err != nil || n == 0 {
		return []E{}, err
	}
	var z E
	return unsafe.Slice((*E)(p), n/int(unsafe.Sizeof(z))), nil
}

// ToSlice copies the tensor's logical elements (row-major, any layout, any device, read-only
// tensors included) into a new Go slice.
func ToSlice[E Element](t *Tensor) ([]E, error) {
	if got, want := t.DType(), DTypeOf[E](); got != want {
		return nil, argError("tensor is " + got.String() + ", not " + want.String())
	}
	out := make([]E, t.Numel())
	var z E
	var p unsafe.Pointer
	if len(out) > 0 {
		p = unsafe.Pointer(&out[0])
	}
	return out, t.toHost(p, len(out)*int(unsafe.Sizeof(z)))
}

// Float32s is Data[float32](t): a zero-copy view of an f32 CPU tensor.
func (t *Tensor) Float32s() ([]float32, error) { return Data[float32](t) }

// Int64s is Data[int64](t): a zero-copy view of an i64 CPU tensor.
func (t *Tensor) Int64s() ([]int64, error) { return Data[int64](t) }

// CopyToHost copies the logical elements (row-major) into dst, which must be exactly NBytes long.
func (t *Tensor) CopyToHost(dst []byte) error {
	var p unsafe.Pointer
	if len(dst) > 0 {
		p = unsafe.Pointer(&dst[0])
	}
	return t.toHost(p, len(dst))
}

func (t *Tensor) toHost(dst unsafe.Pointer, n int) error {
	p, err := t.h.use()
	if err != nil {
		return err
	}
	defer t.h.unlock()
	var cerr *C.char
	return check(C.go_aph_tensor_to_host(p, dst, C.size_t(n), &cerr), cerr)
}

// CopyFromHost overwrites the elements with row-major src (exactly NBytes long).
func (t *Tensor) CopyFromHost(src []byte) error {
	var sp unsafe.Pointer
	if len(src) > 0 {
		sp = unsafe.Pointer(&src[0])
	}
	p, err := t.h.use()
	if err != nil {
		return err
	}
	defer t.h.unlock()
	var cerr *C.char
	return check(C.go_aph_tensor_copy_from_host(p, sp, C.size_t(len(src)), &cerr), cerr)
}

// CopyFromHostAsync is CopyFromHost queued on stream (nil: default); src may be reused as soon
// as it returns.
func (t *Tensor) CopyFromHostAsync(src []byte, stream *Stream) error {
	var sp unsafe.Pointer
	if len(src) > 0 {
		sp = unsafe.Pointer(&src[0])
	}
	var ps pins
	defer ps.release()
	p, err := ps.tensor(t, "tensor", false)
	if err != nil {
		return err
	}
	st, err := ps.stream(stream)
	if err != nil {
		return err
	}
	var cerr *C.char
	return check(C.go_aph_tensor_copy_from_host_async(p, sp, C.size_t(len(src)), st, &cerr), cerr)
}

// CopyFromSlice overwrites the elements with src (E must match the dtype).
func CopyFromSlice[E Element](t *Tensor, src []E) error {
	if got, want := t.DType(), DTypeOf[E](); got != want {
		return argError("tensor is " + got.String() + ", not " + want.String())
	}
	if len(src) == 0 {
		return t.CopyFromHost(nil)
	}
	var z E
	return t.CopyFromHost(unsafe.Slice((*byte)(unsafe.Pointer(&src[0])), len(src)*int(unsafe.Sizeof(z))))
}

// ToDevice is a new contiguous copy on device.
func (t *Tensor) ToDevice(device *Device) (*Tensor, error) {
	var ps pins
	defer ps.release()
	p, err := ps.tensor(t, "tensor", false)
	if err != nil {
		return nil, err
	}
	dp, err := ps.device(device)
	if err != nil {
		return nil, err
	}
	var out *C.aph_tensor
	var cerr *C.char
	if err := check(C.go_aph_tensor_to_device(p, dp, &out, &cerr), cerr); err != nil {
		return nil, err
	}
	return newTensor(out), nil
}

// Copy copies src's elements into t (same dtype and shape; any layouts and devices).
func (t *Tensor) Copy(src *Tensor) error {
	var ps pins
	defer ps.release()
	d, err := ps.tensor(t, "dst", false)
	if err != nil {
		return err
	}
	s, err := ps.tensor(src, "src", false)
	if err != nil {
		return err
	}
	var cerr *C.char
	return check(C.go_aph_tensor_copy(d, s, &cerr), cerr)
}

// CopyAsync is Copy queued on stream (nil: default).
func (t *Tensor) CopyAsync(src *Tensor, stream *Stream) error {
	var ps pins
	defer ps.release()
	d, err := ps.tensor(t, "dst", false)
	if err != nil {
		return err
	}
	s, err := ps.tensor(src, "src", false)
	if err != nil {
		return err
	}
	st, err := ps.stream(stream)
	if err != nil {
		return err
	}
	var cerr *C.char
	return check(C.go_aph_tensor_copy_async(d, s, st, &cerr), cerr)
}

// RecordStream records that stream uses the tensor's memory (for work the library does not see).
func (t *Tensor) RecordStream(stream *Stream) error {
	var ps pins
	defer ps.release()
	p, err := ps.tensor(t, "tensor", false)
	if err != nil {
		return err
	}
	st, err := ps.stream(stream)
	if err != nil {
		return err
	}
	var cerr *C.char
	return check(C.go_aph_tensor_record_stream(p, st, &cerr), cerr)
}

// view runs one view-making call on t's pointer.
func (t *Tensor) view(f func(p *C.aph_tensor, out **C.aph_tensor, cerr **C.char) C.aph_status) (*Tensor, error) {
	p, err := t.h.use()
	if err != nil {
		return nil, err
	}
	defer t.h.unlock()
	var out *C.aph_tensor
	var cerr *C.char
	if err := check(f(p, &out, &cerr), cerr); err != nil {
		return nil, err
	}
	return newTensor(out), nil
}

// Contiguous is t itself (a new reference) when contiguous, else a contiguous copy.
func (t *Tensor) Contiguous() (*Tensor, error) {
	return t.view(func(p *C.aph_tensor, out **C.aph_tensor, cerr **C.char) C.aph_status {
		return C.go_aph_tensor_contiguous(p, out, cerr)
	})
}

// Reshape is a view with another shape (one -1 may be inferred).
func (t *Tensor) Reshape(shape ...int64) (*Tensor, error) {
	return t.view(func(p *C.aph_tensor, out **C.aph_tensor, cerr **C.char) C.aph_status {
		return C.go_aph_tensor_reshape(p, shapePtr(shape), C.size_t(len(shape)), out, cerr)
	})
}

// Permute is a view with the dimensions reordered.
func (t *Tensor) Permute(dims ...int64) (*Tensor, error) {
	return t.view(func(p *C.aph_tensor, out **C.aph_tensor, cerr **C.char) C.aph_status {
		return C.go_aph_tensor_permute(p, shapePtr(dims), C.size_t(len(dims)), out, cerr)
	})
}

// Transpose is a view with two dimensions swapped.
func (t *Tensor) Transpose(dim0, dim1 int64) (*Tensor, error) {
	return t.view(func(p *C.aph_tensor, out **C.aph_tensor, cerr **C.char) C.aph_status {
		return C.go_aph_tensor_transpose(p, C.int64_t(dim0), C.int64_t(dim1), out, cerr)
	})
}

// Slice is a view of [start, stop) with step along dim.
func (t *Tensor) Slice(dim, start, stop, step int64) (*Tensor, error) {
	return t.view(func(p *C.aph_tensor, out **C.aph_tensor, cerr **C.char) C.aph_status {
		return C.go_aph_tensor_slice(p, C.int64_t(dim), C.int64_t(start), C.int64_t(stop), C.int64_t(step), out, cerr)
	})
}

// Narrow is a view of length elements from start along dim.
func (t *Tensor) Narrow(dim, start, length int64) (*Tensor, error) {
	return t.view(func(p *C.aph_tensor, out **C.aph_tensor, cerr **C.char) C.aph_status {
		return C.go_aph_tensor_narrow(p, C.int64_t(dim), C.int64_t(start), C.int64_t(length), out, cerr)
	})
}

// Select is a view of index along dim, without that dimension.
func (t *Tensor) Select(dim, index int64) (*Tensor, error) {
	return t.view(func(p *C.aph_tensor, out **C.aph_tensor, cerr **C.char) C.aph_status {
		return C.go_aph_tensor_select(p, C.int64_t(dim), C.int64_t(index), out, cerr)
	})
}

// Expand is a broadcast view to shape.
func (t *Tensor) Expand(shape ...int64) (*Tensor, error) {
	return t.view(func(p *C.aph_tensor, out **C.aph_tensor, cerr **C.char) C.aph_status {
		return C.go_aph_tensor_expand(p, shapePtr(shape), C.size_t(len(shape)), out, cerr)
	})
}

// Retain returns a second, independent *Tensor for the same C tensor (aph_tensor_retain); each
// is closed separately.
func (t *Tensor) Retain() (*Tensor, error) {
	p, err := t.h.use()
	if err != nil {
		return nil, err
	}
	defer t.h.unlock()
	C.aph_tensor_retain(p)
	return newTensor(p), nil
}
