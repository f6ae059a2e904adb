/*
 * aphelion.h — the C ABI of libaphelion, an embeddable runtime library for AI workloads.
 *
 * This header is the whole public interface. It is valid C11 and C++ and is the only file the
 * language bindings read.
 *
 * Conventions (they hold for every function unless its comment says otherwise):
 *
 *  - Status codes. Every call that can fail returns an aph_status: APH_OK (0) on success, an
 *    APH_ERR_* code otherwise. aph_last_error() then gives a human-readable message for the
 *    calling thread's most recent failure. Successful calls do not clear that message.
 *  - Out parameters. Results come back through pointer parameters named out / out_*; they are
 *    written only on success, so a failed call leaves the caller's variables untouched.
 *  - Invalid input (a NULL pointer where one is required, an enum value outside its range, a
 *    negative dimension, ...) is APH_ERR_INVALID_ARGUMENT with a message naming the argument.
 *  - The library never takes the host process down: no abort(), exit() or uncaught C++ exception
 *    escapes an aph_* function.
 *  - Ownership. *_create / *_open / *_select / *_from_* hand the caller a reference it owns and
 *    must give back with the matching *_release. Reference-counted handles (devices, trackers)
 *    also have *_retain. *_release(NULL) is a no-op. Strings returned by getters are borrowed:
 *    they stay valid as long as the handle they came from (or, for functions with no handle,
 *    for the life of the process).
 *  - Threads. Each handle type states whether it is thread-safe. Trackers, devices and logging
 *    are; configuration objects must be used by one thread at a time.
 *  - Shapes are int64_t arrays with a size_t count; a shape pointer may be NULL when the count
 *    is 0 (a 0-dimensional shape, one element).
 *  - Structs the caller passes in for the library to fill begin with `size_t struct_size`; set it
 *    to sizeof(the struct) before the call. The library fills only the fields that fit in
 *    struct_size, so programs built against an older header keep working with a newer library.
 *
 * Sections: 1 export and version macros · 2 status and errors · 3 logging · 4 dtypes ·
 * 5 memory estimates · 6 memory tracker · 7 device configuration · 8 devices · 9 CUDA support.
 */
#ifndef APHELION_H
#define APHELION_H

#include <stddef.h>
#include <stdint.h>

/* ============================================================================================
 * 1. Export and version macros
 * ========================================================================================== */

#if defined(_WIN32) || defined(__CYGWIN__)
#  if defined(APH_BUILDING_LIBRARY)
#    define APH_API __declspec(dllexport)
#  else
#    define APH_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) || defined(__clang__)
#  define APH_API __attribute__((visibility("default")))
#else
#  define APH_API
#endif

/* Enums are declared through APH_ENUM. In C++11 and later they get the fixed underlying type int,
 * which is how C passes them, so that any value a C caller or a binding passes (valid or not) is
 * well-defined on the C++ side, where the library rejects it with APH_ERR_INVALID_ARGUMENT. */
#if defined(__cplusplus) && __cplusplus >= 201103L
#  define APH_ENUM(name) enum name : int
#else
#  define APH_ENUM(name) enum name
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Version of this header. The library reports its own numbers through aph_version(). An
 *  incompatible ABI change bumps the major version; the shared object is libaphelion.so.MAJOR. */
#define APH_VERSION_MAJOR 0
#define APH_VERSION_MINOR 1
#define APH_VERSION_PATCH 0

/** "MAJOR.MINOR.PATCH" of the loaded library. Never NULL; valid for the life of the process. */
APH_API const char* aph_version_string(void);

/** The loaded library's version numbers. Any pointer may be NULL (that number is skipped). */
APH_API void aph_version(int* major, int* minor, int* patch);

/* ============================================================================================
 * 2. Status codes and errors
 *
 * The codes mirror rust-ai-core's CoreError kinds plus aphelion-core's error kinds. Their
 * numeric values are part of the ABI and never change; new codes are only ever appended.
 * ========================================================================================== */

typedef APH_ENUM(aph_status) {
    APH_OK = 0,
    APH_ERR_INVALID_ARGUMENT = 1,   /* "invalid argument: {msg}" (a caller error: NULL, range, ...) */
    APH_ERR_INVALID_CONFIG = 2,     /* "invalid configuration: {msg}" */
    APH_ERR_SHAPE_MISMATCH = 3,     /* "shape mismatch: expected [2, 3], got [3, 2]" */
    APH_ERR_DIMENSION_MISMATCH = 4, /* "dimension mismatch: {msg}" */
    APH_ERR_DEVICE_NOT_AVAILABLE = 5, /* "device not available: {device}", e.g. "cuda:3" */
    APH_ERR_DEVICE_MISMATCH = 6,    /* "device mismatch: tensors must be on the same device" */
    APH_ERR_OUT_OF_MEMORY = 7,      /* "out of memory: {msg}" */
    APH_ERR_KERNEL = 8,             /* "kernel error: {msg}" */
    APH_ERR_NOT_IMPLEMENTED = 9,    /* "not implemented: {feature}" */
    APH_ERR_IO = 10,                /* "I/O error: {msg}" */
    APH_ERR_BACKEND = 11,           /* "backend error: {msg}" (an underlying library failed) */
    APH_ERR_GRAPH = 12,             /* "graph error: {msg}" */
    APH_ERR_VALIDATION = 13,        /* "validation error: {msg}" */
    APH_ERR_SERIALIZATION = 14,     /* "serialization error: {msg}" */
    APH_ERR_BUILD = 15,             /* "build error: {msg}" */
    APH_ERR_INTERNAL = 16           /* "internal error: {msg}" (a bug in libaphelion: please report) */
} aph_status;

/** The enum name of a status ("APH_OK", "APH_ERR_OUT_OF_MEMORY", ...); "APH_ERR_UNKNOWN" for a
 *  value outside the enum. Never NULL; static storage. */
APH_API const char* aph_status_name(aph_status status);

/** The message of the calling thread's most recent failed aph_* call, in the formats listed on
 *  the enum above; "" if no call on this thread has failed yet. Never NULL. The pointer stays
 *  valid until the next failing aph_* call on the same thread. */
APH_API const char* aph_last_error(void);

/* ============================================================================================
 * 3. Logging
 *
 * libaphelion logs through one process-wide logger. By default each message is one line on
 * stderr:  "2026-11-23T17:35:00.123456Z  WARN aphelion::device: message". A callback replaces
 * the default sink (the bindings route messages into their language's logging this way).
 *
 * The initial level comes from the environment variable APHELION_LOG (error, warn, info, debug
 * or trace, case-insensitive), read once at the first use of the logger; otherwise it is
 * APH_LOG_WARN. An unrecognised value is reported once at warn level and ignored.
 *
 * Thread safety: all logging functions are thread-safe. The callback is called on whichever
 * thread is calling into the library, possibly on several threads at once, so it must be
 * thread-safe itself. When aph_log_set_callback() returns, no call to the previous callback is
 * in progress or will start, so its user_data may be freed. Inside the callback, calling
 * aph_log_set_callback() or aph_log_apply_preset() fails with APH_ERR_INVALID_ARGUMENT, and
 * messages logged by library calls made from the callback go to stderr (in the default layout,
 * with timestamp and target) rather than recursing into the callback.
 * ========================================================================================== */

typedef APH_ENUM(aph_log_level) {
    APH_LOG_ERROR = 0,
    APH_LOG_WARN = 1,
    APH_LOG_INFO = 2,
    APH_LOG_DEBUG = 3,
    APH_LOG_TRACE = 4
} aph_log_level;

/** target is the subsystem ("aphelion::device", "aphelion::cuda", ...); message has no trailing
 *  newline. Both strings are valid only during the call. */
typedef void (*aph_log_callback)(aph_log_level level, const char* target, const char* message,
                                 void* user_data);

/** Sends every message at or above the current level to cb. NULL restores the default stderr
 *  sink. See the section comment for the threading guarantees. */
APH_API aph_status aph_log_set_callback(aph_log_callback cb, void* user_data);

/** Messages more verbose than level are dropped before they are formatted. */
APH_API aph_status aph_log_set_level(aph_log_level level);
APH_API aph_log_level aph_log_get_level(void);

/** "error", "warn", "info", "debug", "trace"; "invalid" for a value outside the enum. */
APH_API const char* aph_log_level_name(aph_log_level level);

/** Logs one message through libaphelion's logger (the level filter, then the callback or the
 *  default sink), so a program's own messages can share its destination. target may be NULL
 *  ("aphelion"); message must not be NULL. */
APH_API aph_status aph_log_write(aph_log_level level, const char* target, const char* message);

/** Presets for the default stderr sink, as rust-ai-core's LogConfig presets:
 *  DEVELOPMENT sets level debug and prints timestamps and targets; PRODUCTION sets level info
 *  and prints timestamps but no targets; TESTING sets level warn and prints neither. Without a
 *  preset the default sink prints timestamps and targets. (rust-ai-core's development preset also
 *  prints source file and line; C callers have none to give, so libaphelion does not.) */
typedef APH_ENUM(aph_log_preset) {
    APH_LOG_PRESET_DEVELOPMENT = 0,
    APH_LOG_PRESET_PRODUCTION = 1,
    APH_LOG_PRESET_TESTING = 2
} aph_log_preset;

APH_API aph_status aph_log_apply_preset(aph_log_preset preset);

/** rust-ai-core's training-step helper: logs at info level, target "rust_ai::training",
 *  "training step step={step} total_steps={total} progress_pct={pct:.1} loss={loss:.6}
 *  lr={lr:.2e}", e.g. "training step step=100 total_steps=1000 progress_pct=10.0
 *  loss=0.123457 lr=1.00e-4" (the exponent printed as Rust prints it). total_steps must be > 0. */
APH_API aph_status aph_log_training_step(uint64_t step, uint64_t total_steps, double loss, double lr);

/** rust-ai-core's memory helper: logs at info level, target "rust_ai::memory",
 *  "memory usage allocated_mb={:.2} peak_mb={:.2} context={context}" where MB is 1024*1024
 *  bytes. context may be NULL (then the field is omitted). */
APH_API aph_status aph_log_memory_usage(uint64_t allocated_bytes, uint64_t peak_bytes,
                                        const char* context);

/* ============================================================================================
 * 4. Dtypes
 *
 * Element types. The numeric values are part of the ABI. F8E4M3 is the "fn" variant of the OCP
 * FP8 format (no infinities, one NaN encoding), as in PyTorch's float8_e4m3fn; F8E5M2 follows
 * IEEE-754 conventions. BOOL is one byte, 0 or 1.
 * ========================================================================================== */

typedef APH_ENUM(aph_dtype) {
    APH_DTYPE_INVALID = -1, /* returned where no dtype applies; never a valid argument */
    APH_DTYPE_F32 = 0,
    APH_DTYPE_F16 = 1,
    APH_DTYPE_BF16 = 2,
    APH_DTYPE_F64 = 3,
    APH_DTYPE_U8 = 4,
    APH_DTYPE_U32 = 5,
    APH_DTYPE_I8 = 6,
    APH_DTYPE_I16 = 7,
    APH_DTYPE_I32 = 8,
    APH_DTYPE_I64 = 9,
    APH_DTYPE_BOOL = 10,
    APH_DTYPE_F8E4M3 = 11,
    APH_DTYPE_F8E5M2 = 12
} aph_dtype;

/** Bytes per element (f32 4, f16 2, bf16 2, f64 8, u8 1, u32 4, i8 1, i16 2, i32 4, i64 8,
 *  bool 1, f8e4m3 1, f8e5m2 1); 0 for a value outside the enum. */
APH_API size_t aph_dtype_size(aph_dtype dtype);

/** 1 for f16, bf16, f32, f64, f8e4m3, f8e5m2; 0 otherwise (including invalid values). */
APH_API int aph_dtype_is_floating_point(aph_dtype dtype);

/** 1 for the 16-bit floats f16 and bf16; 0 otherwise (the 8-bit floats are not "half"). */
APH_API int aph_dtype_is_half_precision(aph_dtype dtype);

/** 1 for the dtypes weights are trained in: f16, bf16, f32 (not f64, not fp8); 0 otherwise. */
APH_API int aph_dtype_is_training(aph_dtype dtype);

/** 1 for u8, u32, i8, i16, i32, i64 (bool is not an integer type here); 0 otherwise. */
APH_API int aph_dtype_is_integer(aph_dtype dtype);

/** The dtype to accumulate sums of this dtype in: f16, bf16, f32, f8e4m3, f8e5m2 → f32;
 *  f64 → f64; integers and bool → i64; APH_DTYPE_INVALID for a value outside the enum. */
APH_API aph_dtype aph_dtype_accumulator(aph_dtype dtype);

/** Canonical name: "f32", "f16", "bf16", "f64", "u8", "u32", "i8", "i16", "i32", "i64",
 *  "bool", "f8e4m3", "f8e5m2"; "invalid" for a value outside the enum. Static storage. */
APH_API const char* aph_dtype_name(aph_dtype dtype);

/** Parses a canonical name or an alias (case-sensitive, as rust-ai-core): float16, bfloat16,
 *  float32, float, float64, double, uint8, uint32, int16, int32, int, int64, long, and
 *  libaphelion's own int8, float8_e4m3fn, float8_e5m2. Unknown names are
 *  APH_ERR_INVALID_ARGUMENT with the message "Unknown dtype: {name}". */
APH_API aph_status aph_dtype_from_name(const char* name, aph_dtype* out);

/** Mixed-precision training modes, as rust-ai-core's PrecisionMode. */
typedef APH_ENUM(aph_precision_mode) {
    APH_PRECISION_FULL = 0, /* compute in f32 (the default) */
    APH_PRECISION_BF16 = 1, /* compute in bf16, f32 master weights */
    APH_PRECISION_FP16 = 2  /* compute in f16, f32 master weights, loss scaling */
} aph_precision_mode;

/** f32 / bf16 / f16 for FULL / BF16 / FP16; APH_DTYPE_INVALID for a value outside the enum. */
APH_API aph_dtype aph_precision_compute_dtype(aph_precision_mode mode);
/** Always f32 for a valid mode; APH_DTYPE_INVALID for a value outside the enum. */
APH_API aph_dtype aph_precision_master_weight_dtype(aph_precision_mode mode);
/** 1 for FP16 only; 0 otherwise. */
APH_API int aph_precision_requires_loss_scaling(aph_precision_mode mode);

/* ============================================================================================
 * 5. Memory estimates
 *
 * Unlike rust-ai-core, a negative dimension or a byte count that does not fit in 64 bits is an
 * error (APH_ERR_INVALID_ARGUMENT), never a wrapped-around number.
 * ========================================================================================== */

/** The factor aph_tracker_estimate_with_overhead() applies by default (allocator overhead,
 *  fragmentation). */
#define APH_DEFAULT_OVERHEAD_FACTOR 1.1

/** product(shape) × aph_dtype_size(dtype); a 0-dimensional shape is one element. */
APH_API aph_status aph_estimate_tensor_bytes(const int64_t* shape, size_t ndim, aph_dtype dtype,
                                             uint64_t* out_bytes);

/** Memory for a naive attention forward pass: Q, K, V and the output (4·b·h·s·d elements) plus
 *  the score matrix (b·h·s·s elements), times the dtype size: b·h·s·size·(4d + s).
 *  (1,1,4,2,f32) → 192; (1,32,4096,128,bf16) → 1207959552. */
APH_API aph_status aph_estimate_attention_bytes(uint64_t batch, uint64_t heads, uint64_t seq_len,
                                                uint64_t head_dim, aph_dtype dtype,
                                                uint64_t* out_bytes);

/* ============================================================================================
 * 6. Memory tracker
 *
 * Counts bytes against an optional limit. Thread-safe and reference counted (create gives one
 * reference). allocate() checks the limit and adds in one atomic step, so concurrent callers can
 * never push the total past the limit; a failed allocate or deallocate changes nothing.
 * ========================================================================================== */

typedef struct aph_tracker aph_tracker;

/** limit_bytes 0 means unlimited. The overhead factor starts at APH_DEFAULT_OVERHEAD_FACTOR. */
APH_API aph_status aph_tracker_create(uint64_t limit_bytes, aph_tracker** out);
APH_API void aph_tracker_retain(aph_tracker* tracker);
APH_API void aph_tracker_release(aph_tracker* tracker);

/** factor must be finite and > 0. */
APH_API aph_status aph_tracker_set_overhead_factor(aph_tracker* tracker, double factor);
/** The current factor; 0.0 for NULL. */
APH_API double aph_tracker_overhead_factor(const aph_tracker* tracker);

/** Adds bytes. Fails with APH_ERR_OUT_OF_MEMORY iff the limit is set and current + bytes would
 *  exceed it (reaching it exactly is allowed): "out of memory: allocation of {n} bytes would
 *  exceed limit of {limit} bytes (current: {current} bytes)". With no limit, a total that
 *  would overflow 64 bits is APH_ERR_OUT_OF_MEMORY too. On success raises the peak if needed. */
APH_API aph_status aph_tracker_allocate(aph_tracker* tracker, uint64_t bytes);

/** Subtracts bytes. Deallocating more than is allocated is APH_ERR_INVALID_ARGUMENT and changes
 *  nothing. The peak is not lowered. */
APH_API aph_status aph_tracker_deallocate(aph_tracker* tracker, uint64_t bytes);

/** 1 if allocate(bytes) would succeed right now (no limit, or current + bytes <= limit), else 0;
 *  0 for NULL. Another thread may allocate in between: use allocate's result, not this, to
 *  decide. */
APH_API int aph_tracker_would_fit(const aph_tracker* tracker, uint64_t bytes);

/** Current total, highest total since creation or the last reset, and the limit (0: none).
 *  0 for NULL. */
APH_API uint64_t aph_tracker_allocated_bytes(const aph_tracker* tracker);
APH_API uint64_t aph_tracker_peak_bytes(const aph_tracker* tracker);
APH_API uint64_t aph_tracker_limit_bytes(const aph_tracker* tracker);

/** Zeroes the current total and the peak; keeps the limit and the overhead factor. Meant for a
 *  tracker no other thread is using at that moment. NULL is a no-op. */
APH_API void aph_tracker_reset(aph_tracker* tracker);

/** trunc(aph_estimate_tensor_bytes(shape, dtype) × overhead factor), e.g. 4000 → 4400 with the
 *  default factor. The product is computed in double precision, as rust-ai-core does; a result
 *  that reaches 2^64 after that rounding is APH_ERR_INVALID_ARGUMENT (Rust would saturate). */
APH_API aph_status aph_tracker_estimate_with_overhead(const aph_tracker* tracker,
                                                      const int64_t* shape, size_t ndim,
                                                      aph_dtype dtype, uint64_t* out_bytes);

/* ============================================================================================
 * 7. Device configuration
 *
 * What aph_device_select() should pick. Not thread-safe: use a config from one thread at a
 * time (selecting from it concurrently is fine once it is no longer modified).
 *
 * Environment (read by aph_device_config_from_env and by aph_device_select(NULL, ...)):
 *  - Force CPU: APHELION_FORCE_CPU, then the legacy RUST_AI_FORCE_CPU, AXOLOTL_FORCE_CPU,
 *    VSA_OPTIM_FORCE_CPU. A variable counts only if its value is exactly "1" or "true" in any
 *    case; a variable with any other value is skipped (it does not mean "false"), so
 *    RUST_AI_FORCE_CPU=0 with AXOLOTL_FORCE_CPU=1 forces the CPU.
 *  - CUDA ordinal: APHELION_CUDA_DEVICE, then RUST_AI_CUDA_DEVICE, AXOLOTL_CUDA_DEVICE,
 *    VSA_OPTIM_CUDA_DEVICE; the first whose value is a non-negative decimal integer that fits
 *    in int32 (an optional leading '+' allowed, no spaces) wins; other values are skipped.
 * ========================================================================================== */

typedef struct aph_device_config aph_device_config;

/** Defaults: CUDA device 0, not forced to the CPU, component "aphelion". Reads no environment. */
APH_API aph_status aph_device_config_create(aph_device_config** out);
/** The defaults overridden by the environment variables listed above. */
APH_API aph_status aph_device_config_from_env(aph_device_config** out);
/** ordinal must be >= 0. */
APH_API aph_status aph_device_config_set_cuda_device(aph_device_config* config, int32_t ordinal);
/** force_cpu: 0 or 1 (any non-zero value counts as 1). */
APH_API aph_status aph_device_config_set_force_cpu(aph_device_config* config, int force_cpu);
/** The component name used in the CPU-fallback warning. Copied; must be a non-empty string. */
APH_API aph_status aph_device_config_set_component(aph_device_config* config, const char* name);
/** -1 for NULL. */
APH_API int32_t aph_device_config_cuda_device(const aph_device_config* config);
/** 0 or 1; 0 for NULL. */
APH_API int aph_device_config_force_cpu(const aph_device_config* config);
/** Borrowed from the config; "" for NULL. */
APH_API const char* aph_device_config_component(const aph_device_config* config);
APH_API void aph_device_config_release(aph_device_config* config);

/* ============================================================================================
 * 8. Devices
 *
 * A device handle stands for one CPU or one CUDA GPU. Handles are thread-safe and reference
 * counted; opening the same device twice gives the same handle (with one more reference) while
 * any reference to it is alive, so handles can be compared by pointer.
 *
 * CPU fallback warning: when selection falls back to the CPU, or aph_warn_if_cpu() is given a
 * CPU device, libaphelion logs once per process, at warn level (target "aphelion::device"):
 *   "{component}: CPU device in use. CUDA is the intended default; CPU mode exists only as a
 *    compatibility fallback. Set APHELION_FORCE_CPU=1 to silence this warning."
 * Forcing the CPU (config or environment) selects it without the warning (logged at info).
 * ========================================================================================== */

typedef APH_ENUM(aph_device_kind) {
    APH_DEVICE_CPU = 0,
    APH_DEVICE_CUDA = 1
} aph_device_kind;

typedef struct aph_device aph_device;

/** Picks a device as rust-ai-core's get_device() does: forced CPU → the CPU; otherwise the CUDA
 *  device config's cuda_device if it is usable; otherwise the CPU with the once-per-process
 *  warning (the reason CUDA was not usable is logged at info level). config NULL means
 *  "from the environment". Never fails for lack of a GPU. */
APH_API aph_status aph_device_select(const aph_device_config* config, aph_device** out);

/** Opens a specific device. The CPU is ordinal 0. A device that does not exist is
 *  APH_ERR_DEVICE_NOT_AVAILABLE, "device not available: cuda:3" (the reason is logged at info
 *  level); a negative ordinal or an invalid kind is APH_ERR_INVALID_ARGUMENT. */
APH_API aph_status aph_device_open(aph_device_kind kind, int32_t ordinal, aph_device** out);

/** Number of devices of a kind: 1 for the CPU; for CUDA, the GPUs the driver reports, or 0 when
 *  the CUDA module or the driver is missing (see aph_cuda_get_info for why). */
APH_API aph_status aph_device_count(aph_device_kind kind, int32_t* out);

APH_API void aph_device_retain(aph_device* device);
APH_API void aph_device_release(aph_device* device);

/** APH_DEVICE_CPU for NULL. */
APH_API aph_device_kind aph_device_get_kind(const aph_device* device);
/** -1 for NULL. */
APH_API int32_t aph_device_get_ordinal(const aph_device* device);
/** The device as the error messages write it: "cpu", "cuda:0". "" for NULL. */
APH_API const char* aph_device_label(const aph_device* device);
/** Hardware name: the GPU's name ("NVIDIA H100 80GB HBM3") or the CPU model from the operating
 *  system ("cpu" when it gives none). "" for NULL. */
APH_API const char* aph_device_name(const aph_device* device);

/** Free and total memory in bytes, measured now. CPU: the memory available to this process
 *  (the cgroup v2 limit when one is set and lower than the machine's, else MemTotal; free is
 *  MemAvailable, capped by the cgroup's remaining room). CUDA: the driver's numbers for the GPU.
 *  Either pointer may be NULL. */
APH_API aph_status aph_device_memory_info(const aph_device* device, uint64_t* free_bytes,
                                          uint64_t* total_bytes);

/** Total memory in bytes as measured when the device was opened; 0 for NULL. */
APH_API uint64_t aph_device_total_memory(const aph_device* device);

/** CUDA only: the compute capability (9.0 on an H100). APH_ERR_INVALID_ARGUMENT for a CPU
 *  device. Either pointer may be NULL. */
APH_API aph_status aph_device_compute_capability(const aph_device* device, int32_t* major,
                                                 int32_t* minor);
/** CUDA: the number of streaming multiprocessors. 0 for a CPU device or NULL. */
APH_API int32_t aph_device_multiprocessor_count(const aph_device* device);
/** CPU: the logical cores this process may run on (its affinity mask). 0 for a CUDA device or
 *  NULL. */
APH_API int32_t aph_device_logical_cores(const aph_device* device);

/** Logs the once-per-process CPU warning if device is a CPU device; component NULL means
 *  "aphelion". Shares its once-guard with aph_device_select(). Does nothing for NULL or a CUDA
 *  device. */
APH_API void aph_warn_if_cpu(const aph_device* device, const char* component);

/* ============================================================================================
 * 9. CUDA support
 *
 * libaphelion.so itself never links CUDA. CUDA support lives in a module, libaphelion-cuda.so.MAJOR,
 * that the library loads at run time from its own directory (or from the path in the environment
 * variable APHELION_CUDA_MODULE) the first time a CUDA question is asked. A missing module or
 * driver only means zero CUDA devices; the reason is logged at info level and kept here.
 * ========================================================================================== */

typedef struct aph_cuda_info {
    size_t struct_size;       /* set to sizeof(aph_cuda_info) before the call */
    int module_built;         /* 1 if this build of libaphelion produced the CUDA module */
    int module_loaded;        /* 1 if the module was found and loaded */
    const char* module_path;  /* where the module was looked for (loaded from, if loaded) */
    int driver_present;       /* 1 if an NVIDIA driver answered */
    int32_t driver_version;   /* the driver's CUDA version, e.g. 13000 for 13.0; 0 if none */
    int32_t runtime_version;  /* the CUDA runtime the module was built with, e.g. 13000 */
    int32_t device_count;     /* usable CUDA devices */
    const char* reason;       /* why device_count is 0 ("" when devices were found) */
} aph_cuda_info;

/** Fills info (strings are static, valid for the life of the process). Loads the module on
 *  first use. info->struct_size must be set and at least large enough for module_built. */
APH_API aph_status aph_cuda_get_info(aph_cuda_info* info);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* APHELION_H */
