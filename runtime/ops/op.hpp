// What every operation (header section 14) shares: argument checks with docs/compat.md's
// messages, the device and stream of a call, kernel descriptors for tensors, temporaries, output
// binding and the GPU/CPU dispatch (docs/compat.md section 8).
//
// An operation's shape is always the same:
//
//     aph::ops::Call call(stream, {a, b, out});      // devices agree, stream resolved
//     const Inferred r = infer_foo(call.target(),    // every dtype and shape check (infer.hpp:
//                                  operand(a, "a"), ...);  //   the executor runs the same one)
//     ops::Output o(call, out, "out", r.dtype, r.shape);  // out exactly that, writable; a
//                                                    //   contiguous stand-in if needed
//     aph_k_foo d{}; d.a = call.kt(a); d.out = o.kt();
//     call.launch<APH_K_FOO>(d);                     // CPU kernel or the CUDA module
//     o.finish();                                    // copies the stand-in into out
//
// Nothing is written before the checks pass; temporaries are released when the Call goes
// (on CUDA their memory is recorded on the stream first, so it is not reused too early).
#pragma once

#include "../../cuda/kernel_abi.h"
#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "infer.hpp"

#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

namespace aph::ops {

// The descriptor type of each kernel, from kernel_list.h.
template <aph_k_op Op>
struct KernelDesc;
#define APH_K_DESC_TYPE(name, value, desc, cpu, cuda) \
    template <>                                       \
    struct KernelDesc<APH_K_##name> {                 \
        using type = desc;                            \
    };
APH_K_LIST(APH_K_DESC_TYPE)
#undef APH_K_DESC_TYPE

// The CPU warning of compat section 8 before the first CPU operation, unless the user forced the
// CPU (then it is intended). Custom graph operations (runtime/exec) dispatch through it too.
void cpu_dispatch_warning();

// Throws APH_ERR_INVALID_ARGUMENT "{name} must not be NULL".
inline void require(const aph_tensor* t, const char* name) { require_arg(t, name); }

// "shape mismatch: expected [..], got [..]" for tensor name (name goes to the debug log).
[[noreturn]] void throw_shape(const char* name, std::span<const int64_t> expected, std::span<const int64_t> got);
// "dimension mismatch: {detail}".
[[noreturn]] void throw_dims(const std::string& detail);

class Call {
public:
    // tensors: every tensor of the call (NULLs skipped); all must be on one device, the stream
    // (NULL: that device's default) on that device. Throws APH_ERR_DEVICE_MISMATCH.
    Call(aph_stream* stream, std::initializer_list<const aph_tensor*> tensors);
    ~Call();
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;

    aph_device* device() const { return device_; }
    aph_stream* stream() const { return stream_; }
    bool cuda() const;
    Target target() const { return Target{cuda()}; }

    // Descriptor of t as it is (any strides). t may be NULL: data NULL, ndim 0.
    aph_kt kt(const aph_tensor* t);
    // Descriptor with a given shape/strides over t's data (for reinterpretations the op proved
    // valid, such as viewing a contiguous tensor as [rows, n]).
    aph_kt kt_as(const aph_tensor* t, const std::vector<int64_t>& shape, const std::vector<int64_t>& strides);
    // t itself when contiguous, else a contiguous copy made on the call's stream (held by the
    // call).
    const aph_tensor* contiguous(const aph_tensor* t);
    // A new uninitialised contiguous tensor on the call's device and stream (held by the call).
    aph_tensor* temp(aph_dtype dtype, const std::vector<int64_t>& shape);

    // Runs kernel Op with its descriptor (the type kernel_list.h gives it; another type does
    // not compile): on the CPU here and now (after the once-per-process CPU warning), on CUDA
    // queued on the stream through the module. Throws the kernel's failure.
    template <aph_k_op Op>
    void launch(const typename KernelDesc<Op>::type& desc) {
        launch_raw(Op, &desc, sizeof desc);
    }

    // Copies src into dst on the call's stream (same dtype and shape).
    void copy(aph_tensor* dst, const aph_tensor* src);

private:
    friend class Output;
    void use(const aph_tensor* t);
    void launch_raw(aph_k_op op, const void* desc, size_t size);

    aph_device* device_ = nullptr;
    aph_stream* stream_ = nullptr;
    std::vector<aph_tensor*> temps_;
    std::vector<const aph_tensor*> used_;
};

// The checks every output gets (Output makes them too; kernels that write any strides directly
// call these instead of using Output): exactly `shape`, not read-only, no broadcast dimension
// (require_writable); plus exactly `dtype` (require_output).
void require_writable(const aph_tensor* out, const char* name, const std::vector<int64_t>& shape);
void require_output(const aph_tensor* out, const char* name, aph_dtype dtype, const std::vector<int64_t>& shape);

// An output tensor: checks it is writable (not read-only, no broadcast dimension) and has
// exactly the expected dtype and shape; when it is not contiguous, kernels write a contiguous
// temporary that finish() copies into it.
class Output {
public:
    Output(Call& call, aph_tensor* out, const char* name, aph_dtype dtype, const std::vector<int64_t>& shape);
    aph_tensor* target() const { return work_; }  // what kernels write (out or the stand-in)
    aph_kt kt() { return call_.kt(work_); }
    bool direct() const { return work_ == out_; }
    void finish();

private:
    Call& call_;
    aph_tensor* out_;
    aph_tensor* work_;
};

// The operand an inference sees of tensor t (infer.hpp); t must not be NULL.
inline Operand operand(const aph_tensor* t, const char* name) { return Operand{name, t->dtype, t->shape}; }
// The same for an optional tensor (NULL: none), and the pointer an inference takes for it.
inline std::optional<Operand> optional_operand(const aph_tensor* t, const char* name) {
    if (t == nullptr) return std::nullopt;
    return operand(t, name);
}
inline const Operand* ptr(const std::optional<Operand>& o) { return o ? &*o : nullptr; }

// dim in [-ndim, ndim) normalised; APH_ERR_INVALID_ARGUMENT otherwise.
size_t normalize_dim(int64_t dim, size_t ndim, const char* name);
// Does the memory of a and b overlap (same storage, intersecting byte ranges)?
bool overlaps(const aph_tensor* a, const aph_tensor* b);
// Same elements at the same addresses (in-place use).
bool same_view(const aph_tensor* a, const aph_tensor* b);
// Throws APH_ERR_INVALID_ARGUMENT when out overlaps input other than exactly (in place, when
// allowed).
void require_no_overlap(const aph_tensor* out, const char* out_name, const aph_tensor* in, const char* in_name,
                        bool in_place_ok);

// numpy broadcasting of two shapes; APH_ERR_DIMENSION_MISMATCH naming both on failure.
std::vector<int64_t> broadcast_shapes(std::span<const int64_t> a, std::span<const int64_t> b);
// t's strides for viewing it as `shape` (t's shape right-aligned, broadcast dims stride 0).
std::vector<int64_t> broadcast_strides(const aph_tensor* t, const std::vector<int64_t>& shape);

int64_t product(std::span<const int64_t> shape, size_t from = 0, size_t to = SIZE_MAX);

}  // namespace aph::ops
