/*
 * aphelion.h — the C ABI of libaphelion, an embeddable runtime library for AI workloads.
 *
 * This header is the whole public interface. It is valid C11 and C++ and is the only file the
 * language bindings read. Behaviour shared with the Rust projects libaphelion grows out of
 * (messages, formats, orders) is specified in docs/compat.md, which comments cite by section.
 *
 * Versions: 0.1 -> 0.2 was the one incompatible change made under major version 0, before any
 * binding shipped. From 0.2.0 on the header only grows (compatible additions: new functions,
 * enum values appended, struct fields appended behind struct_size); an incompatible change
 * bumps the major version and the shared object's name (libaphelion.so.MAJOR) together.
 *
 * Rules of this API. They hold for every declaration unless its comment says otherwise;
 * tests/check_header.py checks the ones a program can check.
 *
 *  1. Enums. Every enum is declared `typedef APH_ENUM(aph_x) { ... } aph_x;`: a fixed 32-bit
 *     int underlying type (C passes enums as int). Values are explicit and never reordered or
 *     reused. Every enum is open: a later version may append values, so code that receives an
 *     enum value from the library (status codes, dtypes, node kinds, ...) must treat an unknown
 *     value as data, never as undefined behaviour. Passing a value outside the enum to the
 *     library is APH_ERR_INVALID_ARGUMENT naming the argument.
 *  2. Structs. Every struct the caller passes to the library (to be read or filled) starts
 *     with `size_t struct_size`; set it to sizeof(the struct). The library accepts every
 *     struct_size that covers the struct's required fields (for structs it fills: at least the
 *     first field after struct_size); input fields past struct_size take their documented
 *     defaults and output fields past it are not written, so programs built against an older
 *     header keep working with a newer library. A struct_size too small for the required
 *     fields is APH_ERR_INVALID_ARGUMENT naming the struct. No struct and no callback signature
 *     holds a fixed-size array: shapes are `const int64_t*` plus a `size_t` count, owned by
 *     someone whose lifetime is stated, or caller memory with an explicit capacity. Every
 *     function that fills caller memory takes that memory's capacity; too small is
 *     APH_ERR_INVALID_ARGUMENT and writes nothing.
 *  3. Status codes and out parameters. Every call that can fail returns an aph_status: APH_OK
 *     (0) on success, an APH_ERR_* code otherwise (section 2). Results come back through
 *     pointer parameters named out / out_*, written only on success: a failed call leaves the
 *     caller's variables untouched. Invalid input (a NULL pointer where one is required, a
 *     value outside its enum, a negative size, ...) is APH_ERR_INVALID_ARGUMENT with a message
 *     naming the argument; a named input, output, weight, node, key, operation, preset or stage
 *     that does not exist is APH_ERR_NOT_FOUND; a call in the wrong order is
 *     APH_ERR_INVALID_STATE; an out-of-budget condition is APH_ERR_OUT_OF_MEMORY wherever it
 *     surfaces. The library never takes the host process down: no abort(), exit() or C++
 *     exception escapes an aph_* function.
 *  4. Last error. aph_last_error() is the calling thread's message of its most recent failing
 *     aph_* call: set by every call that returns a failing status, never by a successful one,
 *     never cleared; functions that return no status (getters, *_retain, *_release) never touch
 *     it. Read it on the thread that made the call, before that thread makes another one
 *     (bindings whose threads move, such as Go's, read it inside the same C call). A failure
 *     inside a callback the library invokes on the caller's behalf never replaces the message
 *     the caller will read (section 2 says how a callback reports one).
 *  5. Names and argument order.
 *     - Functions are aph_<object>_<verb>; property getters of a handle are
 *       aph_<object>_<property> (aph_tensor_dtype, aph_device_ordinal). `get_` appears only in
 *       get/set pairs of keyed or process-wide values (aph_log_get_level / aph_log_set_level,
 *       aph_model_config_get_int / _set_int) and where aph_<object>_<property> is already a
 *       type's name (aph_device_get_kind: aph_device_kind is the enum; aph_cuda_get_info).
 *     - The stream is the last parameter before the out pointers (T** out, int* out_done), or
 *       the very last when there are none (CUDA's convention; bindings make it an optional
 *       trailing argument): aph_op_matmul(a, b, ..., out, stream), whose out tensor is a
 *       caller-made input, not an out pointer; aph_device_allocate(device, bytes, stream, out);
 *       aph_tensor_create_on_stream(device, dtype, shape, ndim, stream, out). Functions of the
 *       stream object itself (aph_stream_*) take it first, as their object. A NULL stream
 *       always means the default stream of the device concerned.
 *     - Callbacks take `void* user_data` as their FIRST parameter. Registration functions take
 *       (fn, user_data[, destroy]) in that order, adjacent.
 *     - Dimension indices are int64_t and count from the end when negative (-1 is the last)
 *       wherever a dimension is named; sizes and shapes are int64_t; counts (ndim, numbers of
 *       items, capacities, indexes into lists) are size_t, except device ordinals and the
 *       device count, int32_t as CUDA's. The one exception to negative dimensions is the axis
 *       of aph_quantize / aph_dequantize, where a negative value selects per-tensor scales.
 *     - Booleans are int: an argument counts as true when it is non-zero (C's rule); a result
 *       is exactly 0 or 1.
 *     - Severity ascends everywhere, with the same number for the same name: aph_log_level
 *       TRACE=0, DEBUG=1, INFO=2, WARN=3, ERROR=4; aph_trace_level DEBUG=1 ... ERROR=4. A
 *       filter keeps the levels at or above its minimum.
 *     - Ownership shows in the signature. A handle returned through a T** out parameter is a
 *       new reference (or a new object) the caller gives back with the matching *_release
 *       (*_create, *_open, *_select, *_from_*, aph_build_context_executor, aph_device_tracker,
 *       ...); reference-counted handles (devices, trackers, streams, tensors, executors, ...)
 *       also have *_retain; *_release(NULL) is a no-op. A handle returned as the function's
 *       value is borrowed, and its comment says until when. char** out strings are freed with
 *       aph_string_free. const char* results (and shapes) are borrowed: valid as long as the
 *       handle they came from (for functions with no handle, for the life of the process)
 *       unless the comment states a shorter lifetime.
 *  6. Process-wide state. Nothing one component of a process sets changes another component's
 *     behaviour: the CPU worker-thread count is an executor option (cpu_threads) and a
 *     per-thread setting for eager operations (aph_cpu_set_thread_limit); the environment
 *     variable APHELION_CPU_THREADS is only the process default. (The logger is one per
 *     process by nature, section 3.)
 *  7. Documentation. Every exported function has a doc comment directly above its declaration
 *     (a comment above consecutive declarations covers the group), saying what it does, who
 *     owns what, and which statuses it returns.
 *
 * Threads: each handle type states whether it is thread-safe. Trackers, devices, streams,
 * allocators and logging are; configuration objects must be used by one thread at a time.
 * Shapes are int64_t arrays with a size_t count; a shape pointer may be NULL when the count is 0
 * (a 0-dimensional shape, one element).
 *
 * Sections: 1 export and version macros · 2 status and errors · 3 logging · 4 dtypes ·
 * 5 memory estimates · 6 memory tracker · 7 device configuration · 8 devices · 9 CUDA support ·
 * 10 streams and events · 11 device memory (allocators, statistics, budgets) · 12 tensors ·
 * 13 DLPack · 14 operations · 15 strings and callback errors · 16 model configurations and
 * validators · 17 build graphs · 18 tracing · 19 pipelines · 20 executable graphs · 21 safetensors ·
 * 22 tokenizers · 23 text encoders from Hugging Face directories.
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
#define APH_VERSION_MINOR 2
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
    APH_ERR_INTERNAL = 16,          /* "internal error: {msg}" (a bug in libaphelion: please report) */
    APH_ERR_NOT_FOUND = 17,         /* "not found: {what}": a named input, output, weight, node (by
                                       name or id), safetensors key, custom operation, preset or
                                       stage that does not exist */
    APH_ERR_INVALID_STATE = 18      /* "invalid state: {msg}": a call in the wrong order (reading
                                       an output before any run, running before every input is
                                       bound, ...) */
} aph_status;

/** The enum name of a status ("APH_OK", "APH_ERR_OUT_OF_MEMORY", ...); "APH_ERR_UNKNOWN" for a
 *  value outside the enum. Never NULL; static storage. */
APH_API const char* aph_status_name(aph_status status);

/** The message of the calling thread's most recent failing aph_* call, in the formats listed on
 *  the enum above; "" if no call on this thread has failed yet. Never NULL.
 *
 *  When it is set: by every call that returns a failing status (before it returns), and by
 *  aph_set_last_error; by nothing else. It is never cleared: a successful call leaves it as it
 *  was, and functions that return no status (getters, *_retain, *_release, ...) never touch it.
 *  It belongs to the thread: read it on the thread that made the failing call, before that
 *  thread makes another one (bindings whose threads move, such as Go's, read it inside the
 *  same C call).
 *
 *  Callbacks: the log callback, trace sink callbacks, pipeline progress, stages and hooks,
 *  custom operations, deleters of borrowed memory and every destroy callback run on the
 *  caller's behalf, and what they do never replaces the caller's message: while one runs, the
 *  thread's last error is a copy of the caller's message (so aph_last_error() there returns
 *  it), and whatever the callback changes (its own failing calls, aph_set_last_error) is
 *  discarded when it returns. A callback that returns a failing status (a stage, a hook, a custom
 *  operation) makes the outer call fail with a message built from the last one it set (with
 *  aph_set_last_error, or as the message of a failing call whose status it passes on), or, when
 *  it set none, "{kind}: {callback} failed with APH_ERR_X and gave no message".
 *
 *  The pointer stays valid, and its text unchanged, until the thread's next failing aph_* call
 *  (callbacks' failures included in "never": they write elsewhere). */
APH_API const char* aph_last_error(void);

/* ============================================================================================
 * 3. Logging
 *
 * libaphelion logs through one process-wide logger. By default each message is one line on
 * stderr:  "2026-11-23T17:35:00.123456Z  WARN aphelion::device: message". A callback replaces
 * the default sink (the bindings route messages into their language's logging this way).
 *
 * The initial level comes from the environment variable APHELION_LOG (trace, debug, info, warn
 * or error, case-insensitive), read once at the first use of the logger; otherwise it is
 * APH_LOG_WARN. An unrecognised value is reported once at warn level and ignored.
 *
 * Thread safety: all logging functions are thread-safe. The callback is called on whichever
 * thread is calling into the library (the library's deleter thread included, section 12),
 * possibly on several threads at once, so it must be thread-safe itself. It never runs while
 * the library holds one of its locks: a message logged while the library holds one is
 * delivered right after the lock is released, on the same thread, so the callback may call any
 * library function. When aph_log_set_callback() returns, no call to the previous callback is in
 * progress or will start, so its user_data may be freed (it waits for deliveries in progress;
 * meanwhile other threads' messages already go to the new callback, so a callback may wait for
 * another thread that logs, but not for one that replaces the callback). Inside the callback,
 * calling aph_log_set_callback() or aph_log_apply_preset() fails with
 * APH_ERR_INVALID_ARGUMENT, and messages logged by library calls made from the callback go to
 * stderr (in the default layout, with timestamp and target) rather than recursing into the
 * callback. The callback does not change the caller's aph_last_error() (section 2).
 * ========================================================================================== */

/** Severity, ascending (the numbers aph_trace_level gives the same names). A level filter keeps
 *  the messages at or above its level. */
typedef APH_ENUM(aph_log_level) {
    APH_LOG_TRACE = 0,
    APH_LOG_DEBUG = 1,
    APH_LOG_INFO = 2,
    APH_LOG_WARN = 3,
    APH_LOG_ERROR = 4
} aph_log_level;

/** Called as cb(user_data, level, target, message) for each message that passes the level
 *  filter. target is the subsystem ("aphelion::device", "aphelion::cuda", ...); message has no
 *  trailing newline. Both strings are valid only during the call. */
typedef void (*aph_log_callback)(void* user_data, aph_log_level level, const char* target,
                                 const char* message);

/** Sends every message at or above the current level to cb. NULL restores the default stderr
 *  sink. See the section comment for the threading guarantees. */
APH_API aph_status aph_log_set_callback(aph_log_callback cb, void* user_data);

/** Messages below level (less severe) are dropped before they are formatted. Set and get: the
 *  current level (initially APHELION_LOG's, else APH_LOG_WARN); a level outside the enum is
 *  APH_ERR_INVALID_ARGUMENT. */
APH_API aph_status aph_log_set_level(aph_log_level level);
APH_API aph_log_level aph_log_get_level(void);

/** "trace", "debug", "info", "warn", "error"; "invalid" for a value outside the enum. */
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

/** Applies a preset: sets the level and the default sink's layout as described above (a log
 *  callback, if one is set, keeps receiving the messages; only the level filter applies to it).
 *  A preset outside the enum is APH_ERR_INVALID_ARGUMENT; inside the log callback too (see the
 *  section comment). */
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
/** force_cpu: a boolean (non-zero is true). */
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

/** Adds a reference to device / drops one (NULL: no-op). When the last reference goes the handle
 *  is freed (the next aph_device_open or aph_device_select makes a new one) and raw allocations
 *  still live are reported as the leak report of section 11 says; tensors, streams, events and
 *  contexts hold references of their own. */
APH_API void aph_device_retain(aph_device* device);
APH_API void aph_device_release(aph_device* device);

/** APH_DEVICE_CPU for NULL. */
APH_API aph_device_kind aph_device_get_kind(const aph_device* device);
/** The ordinal (0 for the CPU); -1 for NULL. */
APH_API int32_t aph_device_ordinal(const aph_device* device);
/** The device as the error messages write it: "cpu", "cuda:0". "" for NULL. Borrowed from the
 *  device, valid while the handle lives, as the name below. */
APH_API const char* aph_device_label(const aph_device* device);
/** Hardware name: the GPU's name ("NVIDIA H100 80GB HBM3") or the CPU model from the operating
 *  system ("cpu" when it gives none). "" for NULL. Borrowed from the device. */
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

/** CPU worker threads. The CPU kernels split large operations over worker threads (the calling
 *  thread included). The process default is APHELION_CPU_THREADS when set to an integer in
 *  [1, 1024], else the machine's logical cores. A thread may set its own count for the eager
 *  operations it calls (section 14) with aph_cpu_set_thread_limit, and an executor has its own
 *  (aph_executor_options.cpu_threads), so components of one process do not change each other's
 *  setting. OpenBLAS, which computes f32/f64 matrix products on the CPU, keeps its own count
 *  (OPENBLAS_NUM_THREADS) for the whole process.
 *
 *  aph_cpu_set_thread_limit sets the calling thread's count (1 to 1024; 0 returns to the process
 *  default; more is APH_ERR_INVALID_ARGUMENT); it affects only operations this thread calls
 *  afterwards, and an executor run on this thread whose cpu_threads option is 0.
 *  aph_cpu_get_thread_limit gives the calling thread's setting (0: none), and
 *  aph_cpu_thread_count the count operations called now from this thread use (its setting,
 *  else the process default; inside an executor run, for example in a custom operation's
 *  callback, the executor's count when it has one). */
APH_API aph_status aph_cpu_set_thread_limit(size_t threads);
APH_API size_t aph_cpu_get_thread_limit(void);
APH_API size_t aph_cpu_thread_count(void);

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

/* ============================================================================================
 * 10. Streams and events
 *
 * A stream is an in-order queue of work on one device. On a CUDA device it is a cudaStream_t;
 * on the CPU, work is executed inline by the calling thread, so a CPU stream is always idle
 * and its events are always complete.
 *
 * Every device has a default stream, borrowed from the device (aph_device_default_stream).
 * On CUDA it is the legacy default stream (cudaStreamLegacy, handle 0), the one PyTorch and
 * CuPy use by default, so work handed over without explicit streams is ordered correctly.
 * Streams created by aph_stream_create are non-blocking CUDA streams: they do not wait for the
 * default stream nor it for them, so order work across them with events (or synchronise the
 * stream) before a function that uses the default stream (every synchronous one) touches
 * memory written on them. Wherever a function takes
 * an aph_stream*, NULL means the default stream of the device concerned.
 *
 * Nothing in this library synchronises a whole device unless its name says so
 * (aph_device_synchronize); functions documented as synchronous wait only for the stream they
 * use. Streams and events are reference counted and thread-safe.
 * ========================================================================================== */

typedef struct aph_stream aph_stream;
typedef struct aph_event aph_event;

/** The device's default stream, borrowed: valid as long as the device handle. NULL for NULL. */
APH_API aph_stream* aph_device_default_stream(aph_device* device);

/** Creates a new stream on device (a non-blocking cudaStream_t on CUDA; a CPU stream executes
 *  inline). The stream keeps its device alive. */
APH_API aph_status aph_stream_create(aph_device* device, aph_stream** out);

/** Wraps a caller's cudaStream_t (passed as void*) for a CUDA device without taking ownership:
 *  releasing the aph_stream never destroys cuda_stream, which must outlive it. NULL wraps the
 *  legacy default stream. APH_ERR_INVALID_ARGUMENT for a CPU device. */
APH_API aph_status aph_stream_wrap_cuda(aph_device* device, void* cuda_stream, aph_stream** out);

/** Adds a reference to stream (NULL: no-op); release it with aph_stream_release. */
APH_API void aph_stream_retain(aph_stream* stream);
/** Drops a reference. When the last one goes, a stream made by aph_stream_create is destroyed
 *  (CUDA finishes its queued work in the background; the call does not wait), and memory the
 *  allocator cached for it is handed to the default stream once that work is done. */
APH_API void aph_stream_release(aph_stream* stream);

/** The stream's device, borrowed. NULL for NULL. */
APH_API aph_device* aph_stream_device(const aph_stream* stream);
/** The cudaStream_t behind a CUDA stream (NULL for the legacy default stream); NULL for a CPU
 *  stream or NULL. Borrowed: valid while the aph_stream lives (a wrapped stream's handle is
 *  the caller's, as aph_stream_wrap_cuda says). */
APH_API void* aph_stream_cuda_handle(const aph_stream* stream);

/** Waits until all work queued on the stream is done. */
APH_API aph_status aph_stream_synchronize(aph_stream* stream);
/** Sets *out_idle to 1 when all queued work is done, 0 otherwise; does not wait. */
APH_API aph_status aph_stream_query(aph_stream* stream, int* out_idle);
/** Waits until all work on every stream of the device is done (cudaDeviceSynchronize). */
APH_API aph_status aph_device_synchronize(aph_device* device);

/** Creates an event on device (timing disabled). */
APH_API aph_status aph_event_create(aph_device* device, aph_event** out);
APH_API void aph_event_retain(aph_event* event);
APH_API void aph_event_release(aph_event* event);
/** Records the event at the current end of stream (NULL: the event's device's default stream).
 *  The stream must belong to the event's device (else APH_ERR_DEVICE_MISMATCH). */
APH_API aph_status aph_event_record(aph_event* event, aph_stream* stream);
/** Makes future work on stream (NULL: the event's device's default stream) wait for the event's
 *  last record, without blocking the host (a CPU stream, which runs inline, blocks instead). */
APH_API aph_status aph_stream_wait_event(aph_stream* stream, aph_event* event);
/** Blocks until the work before the event's last record is done (at once if never recorded). */
APH_API aph_status aph_event_synchronize(aph_event* event);
/** Sets *out_done to 1 when the work before the event's last record is done, 0 otherwise. */
APH_API aph_status aph_event_query(aph_event* event, int* out_done);

/* ============================================================================================
 * 11. Device memory: caching allocators, statistics, budgets
 *
 * Each device has one allocator, shared by every handle to that device for the life of the
 * process, and thread-safe. All tensor memory comes from it. It caches freed blocks the way
 * PyTorch's CUDA caching allocator does:
 *
 *  - Requests are rounded up to a multiple of 512 bytes (a zero-byte request takes no memory).
 *  - Requests up to 1 MiB come from a small pool, carved from 2 MiB segments; larger ones from a
 *    large pool: requests under 10 MiB are carved from 20 MiB segments, bigger ones get a segment
 *    of their size rounded up to 2 MiB. Cached blocks are split to fit a request (small pool:
 *    when 512 bytes or more remain; large pool: when more than 1 MiB remains) and freed
 *    neighbours in a segment are coalesced again.
 *  - A freed block is reused only by allocations on the stream it was allocated on. Memory used
 *    on another stream must be declared (aph_tensor_record_stream, aph_device_record_stream): the
 *    block is then held back until an event recorded on each such stream at free time has
 *    completed, so reuse never races with work still queued.
 *  - When the device or operating system refuses a segment, the allocator returns every
 *    completely free cached segment and, if it had any, retries once; only then is it
 *    APH_ERR_OUT_OF_MEMORY (and out_of_memory_events counts it).
 *  - aph_device_empty_cache returns the completely free segments to the driver / system.
 *  - Borrowed CUDA memory (aph_tensor_from_blob, DLPack imports) is not the allocator's and
 *    counts in none of its statistics, but the allocator keeps its books the same way: the
 *    streams it is used on, and, once its last reference is gone, an event on each of them that
 *    the owner's deleter waits for (section 12 says when and on which thread deleters run).
 *
 * No user callback runs while an allocator's lock is held: messages it logs are delivered, and
 * deleters whose work is done are called, right after the lock is released.
 *
 * CUDA memory comes from cudaMalloc; CPU memory is 64-byte aligned (every block is), with the
 * same caching and statistics. Host staging buffers for CPU<->CUDA copies are page-locked
 * (cudaHostAlloc) and come from a third cache of the same kind.
 *
 * Budgets: attach an aph_tracker to a device and every allocation from that device is charged
 * to it (the rounded size of the block handed out) and given back on free. An allocation that
 * would exceed the tracker's limit fails with APH_ERR_OUT_OF_MEMORY and the tracker's message
 * ("out of memory: allocation of N bytes would exceed limit of L bytes (current: C bytes)"),
 * and changes nothing: no memory is taken, no statistic moves. Each block remembers the tracker
 * it was charged to, so changing trackers while memory is live keeps every tracker balanced.
 *
 * Leak report: when the last handle to a device is released while raw allocations
 * (aph_device_allocate) are still live, each is logged at warn level (target
 * "aphelion::memory": address, size, stream, age) and counted in leaked_allocations. The memory
 * stays valid; a later handle to the same device can still free it. (Tensors keep their device
 * alive, so they cannot be leaked this way.)
 * ========================================================================================== */

/** Allocator statistics of one device. Byte counts have a current value and a peak (the
 *  highest current value since the allocator started or since aph_device_reset_peak_stats). */
typedef struct aph_memory_stats {
    size_t struct_size;              /* set to sizeof(aph_memory_stats) before the call */
    uint64_t allocated_bytes;        /* in blocks handed out and not yet freed */
    uint64_t allocated_bytes_peak;
    uint64_t reserved_bytes;         /* in segments held from the driver / system */
    uint64_t reserved_bytes_peak;
    uint64_t active_bytes;           /* allocated, plus freed blocks waiting on other streams */
    uint64_t active_bytes_peak;
    uint64_t requested_bytes;        /* what callers asked for, before rounding */
    uint64_t requested_bytes_peak;
    uint64_t allocations;            /* successful allocations (zero-byte ones excluded) */
    uint64_t frees;
    uint64_t segment_allocations;    /* segments taken from the driver / system */
    uint64_t segment_frees;          /* segments given back */
    uint64_t cache_misses;           /* allocations that needed a new segment */
    uint64_t alloc_retries;          /* segment requests retried after emptying the cache */
    uint64_t out_of_memory_events;   /* allocations refused by the driver / system (not budgets) */
    uint64_t leaked_allocations;     /* live raw allocations at a device's final release */
    uint64_t active_allocations;     /* blocks handed out now */
    uint64_t segments;               /* segments held now */
} aph_memory_stats;

/** Fills the device allocator's statistics (fields that fit in out->struct_size). */
APH_API aph_status aph_device_memory_stats(aph_device* device, aph_memory_stats* out);
/** Sets each peak to its current value. */
APH_API aph_status aph_device_reset_peak_stats(aph_device* device);
/** Returns every completely free cached segment to the driver / system (for a CUDA device, also
 *  the free page-locked staging buffers). Blocks still waiting on another stream's event stay
 *  cached. Does not synchronise (cudaFree itself may wait for the device on some drivers).
 *  Synchronous copies stage at most 64 MiB at a time; an asynchronous host-to-device copy
 *  stages its whole size until the stream has passed it. */
APH_API aph_status aph_device_empty_cache(aph_device* device);

/** Attaches a budget to the device: every later allocation is charged to tracker (which the
 *  device retains). NULL detaches. Allocations made before keep the tracker they were charged
 *  to. */
APH_API aph_status aph_device_set_tracker(aph_device* device, aph_tracker* tracker);
/** A new reference to the attached tracker (release it with aph_tracker_release), or NULL when
 *  none is attached. A device is shared by every component of the process, so another one's
 *  aph_device_set_tracker could free a borrowed tracker: the reference keeps it alive. */
APH_API aph_status aph_device_tracker(const aph_device* device, aph_tracker** out);

/** Raw memory from the device's allocator, for callers that need buffers rather than tensors:
 *  at least bytes bytes, 64-byte aligned (512 on CUDA), for use on stream (NULL: default).
 *  bytes 0 gives *out = NULL. The memory does not keep the device handle alive (see the leak
 *  report above); give it back with aph_device_free on a handle of the same device. */
APH_API aph_status aph_device_allocate(aph_device* device, size_t bytes, aph_stream* stream,
                                       void** out);
/** Frees memory from aph_device_allocate. NULL is a no-op. A pointer this device did not hand
 *  out (or already freed) is APH_ERR_INVALID_ARGUMENT and changes nothing. */
APH_API aph_status aph_device_free(aph_device* device, void* ptr);
/** Declares that raw memory from aph_device_allocate is used on another stream (see above). */
APH_API aph_status aph_device_record_stream(aph_device* device, void* ptr, aph_stream* stream);

/* ============================================================================================
 * 12. Tensors
 *
 * A tensor is a view of a storage: dtype, shape and strides (int64_t; strides count elements,
 * not bytes, and may be zero for broadcast dimensions), a byte offset into the storage, and the
 * device it lives on. Storages are reference counted and shared by views: reshape, permute,
 * transpose, slice, narrow, select and expand return new tensor handles over the same memory,
 * and the memory lives until the last tensor using it is released. Tensors keep their device
 * alive.
 *
 * The memory model: tensors made by this library own memory from the device's caching allocator
 * (section 11), allocated on a stream (the device's default stream unless said otherwise);
 * aph_tensor_from_blob and the DLPack imports borrow memory, and call the owner's deleter
 * exactly once, after the last reference to the memory is gone and once no work the library
 * knows of can still use it; never while the library holds a lock:
 *
 *  - CPU memory, and CUDA memory with no queued work on it: at once, on the thread that drops
 *    the last reference, before that call returns.
 *  - CUDA memory: every stream the memory is used on is recorded: by the operations and the
 *    asynchronous copies that queue work on it (implicitly, on any stream, the default one
 *    included), and by aph_tensor_record_stream for work the library does not see (the
 *    caller's own kernels). When the last reference goes, the deleter waits for the work queued
 *    on those streams so far (a stream released meanwhile counts until its work is done); the
 *    releasing call does not wait. The deleter is then called on the first thread that finds
 *    that work complete: a thread in a synchronising call (aph_stream_synchronize,
 *    aph_event_synchronize, aph_device_synchronize), in an allocation on that device, in
 *    aph_device_memory_stats or aph_device_empty_cache, or dropping the last reference to that
 *    device's handle; otherwise the library's deleter thread (one per process, started by the
 *    first deleter that has to wait), which checks every 0.1 to 10 ms while any deleter waits,
 *    so a deleter runs even when the program makes no further call. When
 *    aph_device_synchronize returns (or aph_stream_synchronize on every stream the memory was
 *    used on), the deleter has been called, or is being called on another thread.
 *
 * So a deleter must be thread-safe; it may call into the library (no lock is held), and what it
 * does to the thread's last error is discarded (section 2). Deleters still waiting when the
 * process exits are not called (the deleter thread stops at exit; the memory goes with the
 * process). If a use cannot be waited for (recording a CUDA event failed: the device is in an
 * error state), the memory is never given back and its deleter never called (logged at error
 * level), since the device may still be using it.
 *
 * Work on CUDA tensors is queued on a stream. Functions named *_async take a stream and return
 * once the work is queued; the others are synchronous: when they return the work is done and
 * host buffers may be reused. Zero-size tensors (a 0 in the shape) have a NULL data pointer
 * and work everywhere; 0-dimensional tensors hold one element.
 *
 * Read-only tensors: views of memory-mapped safetensors weights (aph_safetensors_tensor on the
 * CPU, aph_executor_load_weights' CPU weights), DLPack imports with the READ_ONLY flag, and every
 * view of either. Their pages may be mapped read-only, so writing through them can take the
 * process down: aph_tensor_is_read_only gives 1, aph_tensor_data gives only a const pointer,
 * aph_tensor_data_mut refuses them, and so does every call that writes into a tensor (copies,
 * copy_from_host, operation outputs, aph_executor_bind_output) with APH_ERR_INVALID_ARGUMENT
 * ("invalid argument: out is read-only (memory-mapped weights or a read-only DLPack import)").
 * Copy one (aph_tensor_contiguous does not copy a contiguous tensor: use aph_tensor_to_device or
 * aph_tensor_copy) to get writable memory.
 *
 * Handles: a tensor's metadata never changes, so a handle may be read from any number of
 * threads; writing the same memory from several threads at once is the caller's business.
 * Limits: at most APH_TENSOR_MAX_DIMS dimensions, and numel × dtype size at most INT64_MAX
 * bytes (broadcast views included; else APH_ERR_INVALID_ARGUMENT naming the shape).
 *
 * Errors use docs/compat.md's messages: shapes that do not match are APH_ERR_SHAPE_MISMATCH
 * ("shape mismatch: expected [2, 3], got [3, 2]"), tensors on different devices where one is
 * required are APH_ERR_DEVICE_MISMATCH ("device mismatch: tensors must be on the same device"),
 * invalid dimensions, indices and strides are APH_ERR_INVALID_ARGUMENT naming the argument.
 * ========================================================================================== */

#define APH_TENSOR_MAX_DIMS 16

typedef struct aph_tensor aph_tensor;

/** Called once, deleter(user_data, data), after the last reference to borrowed memory is gone
 *  and no queued work uses it any more (see the section comment: maybe on another thread). */
typedef void (*aph_deleter)(void* user_data, void* data);

/** A new contiguous tensor with uninitialised memory, on the device's default stream. */
APH_API aph_status aph_tensor_create(aph_device* device, aph_dtype dtype, const int64_t* shape,
                                     size_t ndim, aph_tensor** out);
/** As aph_tensor_create, with the memory allocated for use on stream (NULL: the device's default
 *  stream, as aph_tensor_create); the stream is kept alive while the memory is. stream must
 *  belong to device (else APH_ERR_DEVICE_MISMATCH). Work on other streams needs
 *  aph_tensor_record_stream. */
APH_API aph_status aph_tensor_create_on_stream(aph_device* device, aph_dtype dtype,
                                               const int64_t* shape, size_t ndim,
                                               aph_stream* stream, aph_tensor** out);
/** A new contiguous tensor filled with zeros (all bits zero). Synchronous. */
APH_API aph_status aph_tensor_zeros(aph_device* device, aph_dtype dtype, const int64_t* shape,
                                    size_t ndim, aph_tensor** out);
/** A new contiguous tensor holding a copy of data: numel × dtype size bytes in row-major order.
 *  nbytes must equal that size exactly (else APH_ERR_SHAPE_MISMATCH, "shape mismatch: ..."
 *  with the expected and given byte counts as one-dimensional shapes). data may be NULL only
 *  when nbytes is 0. Synchronous. */
APH_API aph_status aph_tensor_from_host(aph_device* device, aph_dtype dtype,
                                        const int64_t* shape, size_t ndim, const void* data,
                                        size_t nbytes, aph_tensor** out);
/** Wraps memory the caller owns (host memory for a CPU device, device memory for a CUDA one)
 *  without copying. strides NULL means contiguous; the elements reached by shape and strides
 *  must lie at or after data (negative strides are rejected), and the span they cover, from
 *  data to the end of the furthest element, must fit in INT64_MAX bytes without wrapping the
 *  address space (else APH_ERR_INVALID_ARGUMENT naming the strides). deleter (may be NULL) is called
 *  with (user_data, data) exactly once after the last reference goes, as the section comment
 *  says (for CUDA memory: once the work queued on it is done): on success only; on failure the
 *  caller keeps ownership and the deleter is not called. */
APH_API aph_status aph_tensor_from_blob(aph_device* device, aph_dtype dtype,
                                        const int64_t* shape, const int64_t* strides,
                                        size_t ndim, void* data, aph_deleter deleter,
                                        void* user_data, aph_tensor** out);

/** Adds a reference to the tensor handle (NULL: no-op); each reference is released with
 *  aph_tensor_release. */
APH_API void aph_tensor_retain(aph_tensor* tensor);
/** Drops a reference; the last one frees the handle (and the storage, when no other view uses
 *  it). Releasing a handle twice is a bug in the caller; the library usually detects it, logs
 *  it at error level (target "aphelion::tensor") and ignores the call, but cannot always. */
APH_API void aph_tensor_release(aph_tensor* tensor);

/** Getters. All accept NULL: dtype APH_DTYPE_INVALID, ndim 0, shape/strides/data/device NULL,
 *  numel/nbytes 0, flags 0. shape and strides point to ndim values owned by the tensor (NULL
 *  when ndim is 0), valid while the handle lives. data is the address of the first element
 *  (storage base + byte offset), a device pointer for CUDA tensors, NULL for zero-size tensors;
 *  it is for reading (the memory may be read-only: see above; aph_tensor_data_mut gives a
 *  writable pointer) and stays valid while any tensor over the storage lives. nbytes = numel ×
 *  dtype size. The device is borrowed (the tensor keeps it alive). */
APH_API aph_dtype aph_tensor_dtype(const aph_tensor* tensor);
APH_API size_t aph_tensor_ndim(const aph_tensor* tensor);
APH_API const int64_t* aph_tensor_shape(const aph_tensor* tensor);
APH_API const int64_t* aph_tensor_strides(const aph_tensor* tensor);
APH_API int64_t aph_tensor_numel(const aph_tensor* tensor);
APH_API uint64_t aph_tensor_nbytes(const aph_tensor* tensor);
APH_API const void* aph_tensor_data(const aph_tensor* tensor);
/** Bytes from the storage's start to the first element. */
APH_API uint64_t aph_tensor_byte_offset(const aph_tensor* tensor);
/** The tensor's device, borrowed: the tensor keeps it alive (valid while the handle lives). */
APH_API aph_device* aph_tensor_device(const aph_tensor* tensor);
/** 1 when the elements are laid out in row-major order without gaps (dimensions of size 1 may
 *  have any stride; zero-size tensors are contiguous). */
APH_API int aph_tensor_is_contiguous(const aph_tensor* tensor);
/** 1 for read-only tensors (memory-mapped weights, read-only DLPack imports and views of either;
 *  see above), whose writes are refused; else 0 (0 for NULL). */
APH_API int aph_tensor_is_read_only(const aph_tensor* tensor);
/** The address of the first element for writing (as aph_tensor_data; NULL for a zero-size
 *  tensor). A read-only tensor is APH_ERR_INVALID_ARGUMENT ("invalid argument: tensor is
 *  read-only (memory-mapped weights or a read-only DLPack import); copy it to write") and *out
 *  is left alone. Writing through the pointer is the caller's business as to layout (strides,
 *  broadcast dimensions) and ordering (CUDA work queued on streams). */
APH_API aph_status aph_tensor_data_mut(aph_tensor* tensor, void** out);
/** 1 when a and b share a storage (one is a view of the other, or both of a third). */
APH_API int aph_tensor_shares_storage(const aph_tensor* a, const aph_tensor* b);

/** Copies the logical elements, in row-major order, into host memory dst (any layout, any
 *  device). nbytes must equal aph_tensor_nbytes (else APH_ERR_SHAPE_MISMATCH). Synchronous. */
APH_API aph_status aph_tensor_to_host(const aph_tensor* tensor, void* dst, size_t nbytes);
/** Overwrites the tensor's elements with row-major host data (any layout, any device; nbytes
 *  must equal aph_tensor_nbytes). Synchronous. */
APH_API aph_status aph_tensor_copy_from_host(aph_tensor* tensor, const void* src, size_t nbytes);
/** Asynchronous variants on stream (NULL: the tensor's device's default stream). CPU tensors
 *  copy inline. For CUDA tensors, copy_from_host_async stages src through page-locked memory,
 *  so src may be reused as soon as the call returns. to_host_async on a contiguous CUDA tensor
 *  queues the copy into dst, which must stay valid until the stream reaches it (page-locked
 *  dst makes it truly asynchronous; pageable dst makes the CUDA driver wait); a non-contiguous
 *  CUDA tensor is first made contiguous on the stream. */
APH_API aph_status aph_tensor_to_host_async(const aph_tensor* tensor, void* dst, size_t nbytes,
                                            aph_stream* stream);
APH_API aph_status aph_tensor_copy_from_host_async(aph_tensor* tensor, const void* src,
                                                   size_t nbytes, aph_stream* stream);

/** A new contiguous copy of tensor on device (CPU<->CUDA, CUDA<->CUDA, or the same device).
 *  Synchronous. */
APH_API aph_status aph_tensor_to_device(const aph_tensor* tensor, aph_device* device,
                                        aph_tensor** out);
/** Copies src's elements into dst (same dtype and shape, any layouts, any devices; otherwise
 *  APH_ERR_INVALID_ARGUMENT for dtypes and APH_ERR_SHAPE_MISMATCH for shapes). dst must not be
 *  read-only and must not have broadcast (stride-0) dimensions of size > 1 (else
 *  APH_ERR_INVALID_ARGUMENT; the same holds for every call that writes into a tensor). Views of
 *  one storage whose memory overlaps are copied as if src were read in full first. Synchronous. */
APH_API aph_status aph_tensor_copy(aph_tensor* dst, const aph_tensor* src);
/** As aph_tensor_copy, queued on stream (NULL: the default stream of the CUDA device involved).
 *  CPU->CUDA copies return once src is staged in page-locked memory (src may then change);
 *  CUDA->CPU copies wait for the stream, since the CPU side is written by the host. Copies
 *  between two CUDA devices run on the source device's stream (stream, if it is on that device)
 *  and wait for it. CPU->CPU copies run inline. */
APH_API aph_status aph_tensor_copy_async(aph_tensor* dst, const aph_tensor* src,
                                         aph_stream* stream);
/** tensor itself (one more reference) when it is contiguous, else a new contiguous copy on the
 *  same device. Synchronous. */
APH_API aph_status aph_tensor_contiguous(aph_tensor* tensor, aph_tensor** out);

/** Declares that tensor's memory is used on stream (see section 11), so it is not reused by
 *  the allocator until that use is finished; for borrowed memory (aph_tensor_from_blob, DLPack
 *  imports), so that its owner's deleter waits for that use (see above). Needed only for work
 *  the library does not queue itself: its own operations and copies record their streams. No-op
 *  for CPU memory. */
APH_API aph_status aph_tensor_record_stream(aph_tensor* tensor, aph_stream* stream);

/** Views (no copy; the result shares the storage and keeps it alive):
 *  - reshape: same numel; one dimension may be -1 (inferred). Possible when the new shape can
 *    be expressed with strides over the existing layout (always for contiguous tensors);
 *    otherwise APH_ERR_INVALID_ARGUMENT saying so (make it contiguous first). A numel that
 *    differs is APH_ERR_SHAPE_MISMATCH.
 *  - permute: dims is a permutation of 0..ndim-1 (ndim must equal the tensor's; an entry may
 *    be negative, counted from the end).
 *  - transpose: swaps dimensions dim0 and dim1.
 *  - slice: elements start, start+step, ... before stop along dim; start and stop may be
 *    negative (counted from the end) and are clamped to [0, size] as in Python; step >= 1.
 *  - narrow: length elements from start along dim (start + length <= size).
 *  - select: index along dim (negative counts from the end), removing the dimension.
 *  Dimension indices (dims, dim0, dim1, dim) count from the end when negative, -1 being the last;
 *  one outside [-ndim, ndim) is APH_ERR_INVALID_ARGUMENT naming it ("dim 3 is out of range for a
 *  tensor with 2 dimensions").
 *  - expand: broadcasts to shape (ndim >= the tensor's, aligned at the right); dimensions of
 *    size 1 grow with stride 0, -1 keeps a dimension; otherwise APH_ERR_SHAPE_MISMATCH. */
APH_API aph_status aph_tensor_reshape(aph_tensor* tensor, const int64_t* shape, size_t ndim,
                                      aph_tensor** out);
APH_API aph_status aph_tensor_permute(aph_tensor* tensor, const int64_t* dims, size_t ndim,
                                      aph_tensor** out);
APH_API aph_status aph_tensor_transpose(aph_tensor* tensor, int64_t dim0, int64_t dim1,
                                        aph_tensor** out);
APH_API aph_status aph_tensor_slice(aph_tensor* tensor, int64_t dim, int64_t start, int64_t stop,
                                    int64_t step, aph_tensor** out);
APH_API aph_status aph_tensor_narrow(aph_tensor* tensor, int64_t dim, int64_t start,
                                     int64_t length, aph_tensor** out);
APH_API aph_status aph_tensor_select(aph_tensor* tensor, int64_t dim, int64_t index,
                                     aph_tensor** out);
APH_API aph_status aph_tensor_expand(aph_tensor* tensor, const int64_t* shape, size_t ndim,
                                     aph_tensor** out);

/* ============================================================================================
 * 13. DLPack: zero-copy exchange with numpy, PyTorch, CuPy, JAX
 *
 * The structs are DLPack's (dlpack.h, ABI version 1). This header only forward-declares them,
 * so it compiles without dlpack.h; include dlpack.h (or aphelion_dlpack.h, installed beside this
 * header, which declares the same structs) to look inside them.
 *
 * Export: aph_tensor_to_dlpack gives a DLManagedTensorVersioned (DLPack 1.x, version 1.1,
 * flags 0, or READ_ONLY for read-only tensors) and aph_tensor_to_dlpack_unversioned the older
 * DLManagedTensor that numpy 1.x understands (it cannot say read-only, so read-only tensors are
 * refused with APH_ERR_INVALID_ARGUMENT, as numpy refuses them). Both describe the tensor's own memory (data =
 * storage base, byte_offset = the tensor's offset, strides always filled) and hold a reference
 * to the tensor until the consumer calls the deleter, on any thread. CPU tensors are kDLCPU,
 * CUDA tensors kDLCUDA with device_id = ordinal. Dtypes: f32/f16/f64 kDLFloat, bf16 kDLBfloat,
 * integers kDLInt/kDLUInt, bool kDLBool, f8e4m3 kDLFloat8_e4m3fn, f8e5m2 kDLFloat8_e5m2.
 *
 * Import: aph_tensor_from_dlpack / _unversioned take ownership on success only: the new tensor
 * views the producer's memory, and the producer's deleter is called exactly once, after the
 * last libaphelion reference to that memory goes and the work the library queued on it (or was
 * told about with aph_tensor_record_stream) has completed: at once on the releasing thread when
 * there is none, otherwise as section 12 describes (possibly on another thread, such as the
 * library's deleter thread). On failure the caller still owns src. Accepted: kDLCPU and kDLCUDAHost (as CPU tensors), kDLCUDA and
 * kDLCUDAManaged (as CUDA tensors on device_id), lanes 1, the dtypes above, non-negative
 * strides (NULL strides: compact row-major); major version 1.
 * Anything else is rejected with a message naming the field (APH_ERR_NOT_IMPLEMENTED for
 * valid but unsupported dtypes, devices, negative strides and major versions, APH_ERR_DEVICE_NOT_AVAILABLE when the CUDA device
 * is not present, APH_ERR_INVALID_ARGUMENT for malformed structs).
 * Streams: the consumer is responsible for ordering, as DLPack specifies; libaphelion's work on
 * a tensor it exports is queued on the default stream unless the caller used another.
 * ========================================================================================== */

struct DLManagedTensorVersioned;
struct DLManagedTensor;

/** Export (see above): *out is a new DLManagedTensorVersioned (to_dlpack) or DLManagedTensor
 *  (to_dlpack_unversioned) that the consumer owns and frees by calling its deleter once; it
 *  holds a reference to tensor until then. NULL arguments are APH_ERR_INVALID_ARGUMENT, and so
 *  is a read-only tensor for the unversioned struct, which cannot say read-only. */
APH_API aph_status aph_tensor_to_dlpack(aph_tensor* tensor, struct DLManagedTensorVersioned** out);
APH_API aph_status aph_tensor_to_dlpack_unversioned(aph_tensor* tensor,
                                                    struct DLManagedTensor** out);
/** Import (see above): on success *out is a new tensor over src's memory and the library owns
 *  src (its deleter is called once, when that memory is no longer used); on failure the caller
 *  still owns src and nothing was called. The errors are listed in the section comment. */
APH_API aph_status aph_tensor_from_dlpack(struct DLManagedTensorVersioned* src, aph_tensor** out);
APH_API aph_status aph_tensor_from_dlpack_unversioned(struct DLManagedTensor* src,
                                                      aph_tensor** out);

/* ============================================================================================
 * 14. Operations (kernels)
 *
 * Eager operations over tensors, each with a CPU implementation and a CUDA implementation behind
 * one dispatch (docs/compat.md section 8): the device of the tensors picks the implementation. CUDA
 * tensors run in the CUDA module; CPU tensors run on the calling thread (matrix products through
 * OpenBLAS), and the first CPU operation in a process logs the once-per-process CPU warning of
 * section 8 unless a force-CPU variable is set (forcing the CPU is how a user says "I meant it").
 *
 * Conventions shared by every operation:
 * - Outputs are provided by the caller. Every operation writes into `out` tensors the caller
 *   created with the exact shape and dtype the operation documents, on the same device as the
 *   inputs; nothing is allocated for the caller. Outputs may be strided views (written through
 *   a temporary when not contiguous) but must not be broadcast views (stride 0 over a dimension
 *   longer than 1) or read-only, and must not overlap an input unless the operation says so
 *   (elementwise operations allow out to be exactly an input: in place).
 * - Inputs may be any strided views, broadcast views included; operations that need contiguous
 *   memory copy them first, on the operation's stream.
 * - stream: NULL means the default stream of the tensors' device; otherwise it must belong to
 *   that device (else APH_ERR_DEVICE_MISMATCH). On CUDA the call returns once the work is
 *   queued; on the CPU the work is done when the call returns. Memory the operation uses on a
 *   stream other than the one it was allocated on is recorded on that stream (section 11), so
 *   releasing a tensor right after queuing an operation on it is safe.
 * - Floating-point dtypes: f32, f16 and bf16 on both devices, f64 on the CPU only (on CUDA
 *   APH_ERR_NOT_IMPLEMENTED). Half-precision inputs are computed in f32 and rounded once when
 *   stored (round to nearest even); f64 is computed in f64. All tensors of one call share one
 *   dtype unless the operation says otherwise.
 * - Errors: a NULL required tensor or an enum value outside its enum is APH_ERR_INVALID_ARGUMENT
 *   naming the argument; tensors on different devices are APH_ERR_DEVICE_MISMATCH ("device
 *   mismatch: tensors must be on the same device"); an output whose shape is not the documented
 *   one is APH_ERR_SHAPE_MISMATCH ("shape mismatch: expected [2, 3], got [3, 2]": expected is the
 *   shape the operation needs); inputs whose shapes do not fit each other (inner dimensions of a
 *   product, ranks, broadcasting) are APH_ERR_DIMENSION_MISMATCH ("dimension mismatch: ..."
 *   naming both shapes); a dtype the operation does not take is APH_ERR_INVALID_ARGUMENT naming
 *   the tensor and the dtype, or APH_ERR_NOT_IMPLEMENTED for a valid dtype not implemented on
 *   that device. On any error nothing has been written.
 * - Zero-size tensors are accepted wherever the shapes fit and do nothing (a reduction over an
 *   empty dimension is an error for max/argmax, 0 for sum, NaN for mean).
 * - Thread safety: operations may be called from any number of threads at once; two calls that
 *   write the same memory at once race, as with any tensor write.
 * ========================================================================================== */

/** out = alpha · op(a) · op(b) + beta · out, where op(x) is x or, when transpose_x is true
 *  (non-zero), x with its last two dimensions swapped. a is [..., M, K] ([..., K, M] transposed), b is [..., K, N]
 *  ([..., N, K] transposed), both with at least 2 dimensions; their batch dimensions (all but
 *  the last two) broadcast against each other numpy-style, and out is [batch..., M, N]. When
 *  beta is 0, out is not read (NaN in it does not propagate). K = 0 gives out = beta · out
 *  (zeros when beta is 0). Accumulates in f32 (f64 for f64). A rank below 2, inner dimensions that differ or batch dimensions that do not broadcast are
 *  APH_ERR_DIMENSION_MISMATCH naming both shapes; out must not overlap a or b.
 *  Layouts: transposed views and padded rows (a unit stride in one of the last two dimensions)
 *  are read in place, as are batch dimensions that reduce to one stride (broadcast ones
 *  included); other inputs are first copied (contiguous, or expanded to the full batch).
 *  CPU: OpenBLAS sgemm/dgemm, one call per batch matrix (half inputs are widened to f32 first);
 *  CUDA: cuBLAS, loaded at run time (libcublas.so.13; without it APH_ERR_NOT_IMPLEMENTED
 *  "not implemented: cuBLAS not available: ..."), cublasGemmStridedBatchedEx with f32 compute
 *  and f32 reductions; TF32 is not used, so f32 results match the CPU. */
APH_API aph_status aph_op_matmul(const aph_tensor* a, const aph_tensor* b, int transpose_a,
                                 int transpose_b, double alpha, double beta, aph_tensor* out,
                                 aph_stream* stream);

/** A dense layer: out = x · weightᵀ + bias. x is [..., K] (at least 1 dimension; the leading
 *  dimensions are rows of one product), weight [N, K] (PyTorch's layout), bias [N] or NULL, out
 *  [..., N], all of one dtype; out must not overlap the inputs. K = 0 gives out = bias (or
 *  zeros). The bias joins the f32 (f64) result before it is rounded: on CUDA in the pass that
 *  stores the product (cuBLASLt's bias epilogue, libcublasLt.so.13 loaded at run time); where
 *  cuBLASLt is missing or has no kernel for the layout, a small kernel writes the bias into out
 *  first and the product is accumulated onto it, on the same stream. On the CPU it is added
 *  right after the OpenBLAS product. */
APH_API aph_status aph_op_linear(const aph_tensor* x, const aph_tensor* weight,
                                 const aph_tensor* bias, aph_tensor* out, aph_stream* stream);

typedef APH_ENUM(aph_binary_op) {
    APH_BINARY_ADD = 0,
    APH_BINARY_SUB = 1,
    APH_BINARY_MUL = 2,
    APH_BINARY_DIV = 3,
    APH_BINARY_MAXIMUM = 4, /* NaN if either is NaN */
    APH_BINARY_MINIMUM = 5  /* NaN if either is NaN */
} aph_binary_op;

/** out = a (op) b elementwise, with numpy broadcasting: the shapes are aligned at their last
 *  dimension and each pair of sizes must be equal or one of them 1 (else
 *  APH_ERR_DIMENSION_MISMATCH naming both shapes); out has exactly the broadcast shape (else
 *  APH_ERR_SHAPE_MISMATCH) and a, b and out share a's dtype. out may be exactly a or b (in place)
 *  when it has that shape, and may be any strided view (written directly, no stand-in); a size
 *  0 anywhere in the broadcast shape does nothing. op outside aph_binary_op is
 *  APH_ERR_INVALID_ARGUMENT ("op 7 is not an aph_binary_op"). Division follows IEEE 754 (x/0 is
 *  ±inf or NaN). */
APH_API aph_status aph_op_binary(aph_binary_op op, const aph_tensor* a, const aph_tensor* b,
                                 aph_tensor* out, aph_stream* stream);
/** out = a (op) scalar elementwise; out has a's shape and dtype and may be a. The scalar is
 *  converted to f32 first (f64 for f64 tensors); the errors are aph_op_binary's. */
APH_API aph_status aph_op_binary_scalar(aph_binary_op op, const aph_tensor* a, double scalar,
                                        aph_tensor* out, aph_stream* stream);

typedef APH_ENUM(aph_unary_op) {
    APH_UNARY_RELU = 0,
    APH_UNARY_GELU = 1,      /* exact: x·Φ(x) = 0.5·x·(1 + erf(x/√2)) */
    APH_UNARY_GELU_TANH = 2, /* 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) */
    APH_UNARY_SILU = 3,      /* x·sigmoid(x) */
    APH_UNARY_TANH = 4,
    APH_UNARY_SIGMOID = 5,
    APH_UNARY_EXP = 6,
    APH_UNARY_LOG = 7,
    APH_UNARY_NEG = 8,
    APH_UNARY_SQRT = 9,
    APH_UNARY_RSQRT = 10,
    APH_UNARY_ABS = 11
} aph_unary_op;

/** out = op(x) elementwise; out has x's shape and dtype, may be x (in place) and may be any
 *  strided view. Computed in f32 (f64 for f64). sigmoid (and silu) never overflow for large |x|;
 *  rsqrt is 1/sqrt(x) with IEEE division and square root; outside an op's domain the IEEE
 *  result comes back (log of a negative is NaN, of 0 is -inf); NaN stays NaN (relu included).
 *  op outside aph_unary_op is APH_ERR_INVALID_ARGUMENT ("op 12 is not an aph_unary_op"). */
APH_API aph_status aph_op_unary(aph_unary_op op, const aph_tensor* x, aph_tensor* out,
                                aph_stream* stream);

typedef APH_ENUM(aph_activation) {
    APH_ACTIVATION_NONE = 0,
    APH_ACTIVATION_RELU = 1,
    APH_ACTIVATION_GELU = 2,
    APH_ACTIVATION_GELU_TANH = 3,
    APH_ACTIVATION_SILU = 4,
    APH_ACTIVATION_TANH = 5
} aph_activation;

/** Fused bias + activation in one pass over memory: out = act(x + bias), x [..., N] (at least
 *  one dimension), bias [N] in x's dtype (any other shape is APH_ERR_DIMENSION_MISMATCH naming
 *  both shapes), out x's shape and dtype. out may be x (in place), never bias. The sum is not
 *  rounded before the activation (f32, f64 for f64). activation outside aph_activation is
 *  APH_ERR_INVALID_ARGUMENT ("activation 6 is not an aph_activation"). */
APH_API aph_status aph_op_bias_activation(const aph_tensor* x, const aph_tensor* bias,
                                          aph_activation activation, aph_tensor* out,
                                          aph_stream* stream);

/** Softmax over the last dimension, numerically stable (the row maximum is subtracted first);
 *  out has x's shape and may be x (in place). A 0-dim x is one row of one element. A row of
 *  -inf gives NaN, as in PyTorch; -inf entries in a row with a finite one give exact zeros. */
APH_API aph_status aph_op_softmax(const aph_tensor* x, aph_tensor* out, aph_stream* stream);
/** log(softmax(x)) over the last dimension, computed as (x - max) - log(Σ exp(x - max)); as
 *  aph_op_softmax otherwise (-inf entries give -inf). */
APH_API aph_status aph_op_log_softmax(const aph_tensor* x, aph_tensor* out, aph_stream* stream);

/** Layer normalisation over the last dimension N: out = (x - mean) / sqrt(var + eps) · weight
 *  + bias, with the biased variance. x [..., N] (at least 1-D), weight [N] (required), bias [N]
 *  or NULL, all of x's dtype (a weight or bias of another shape is APH_ERR_DIMENSION_MISMATCH);
 *  eps > 0 and finite (else APH_ERR_INVALID_ARGUMENT naming eps); statistics in f32 (f64 for
 *  f64) with a two-pass variance (the mean, then the mean of squared deviations). out has x's
 *  shape and may be x (in place). */
APH_API aph_status aph_op_layer_norm(const aph_tensor* x, const aph_tensor* weight,
                                     const aph_tensor* bias, double eps, aph_tensor* out,
                                     aph_stream* stream);
/** RMS normalisation over the last dimension: out = x / sqrt(mean(x²) + eps) · weight, with
 *  the same rules as aph_op_layer_norm (weight [N] required, eps > 0 and finite, in place
 *  allowed). */
APH_API aph_status aph_op_rms_norm(const aph_tensor* x, const aph_tensor* weight, double eps,
                                   aph_tensor* out, aph_stream* stream);

typedef APH_ENUM(aph_reduce_op) {
    APH_REDUCE_SUM = 0,
    APH_REDUCE_MEAN = 1,
    APH_REDUCE_MAX = 2 /* NaN if any element is NaN */
} aph_reduce_op;

/** Reduces x along dim (negative counts from the end, -1 is the last; a dim outside
 *  [-ndim, ndim) is APH_ERR_INVALID_ARGUMENT naming it). out is x's shape with dim removed, or
 *  set to 1 when keepdim is true (non-zero); out's dtype is x's. A 0-dim x
 *  reduces along dim 0 or -1 to a 0-dim out. Accumulates in f32 (f64). Over an empty dim: sum
 *  0, mean NaN, max APH_ERR_INVALID_ARGUMENT naming the dim. */
APH_API aph_status aph_op_reduce(aph_reduce_op op, const aph_tensor* x, int64_t dim, int keepdim,
                                 aph_tensor* out, aph_stream* stream);
/** The index of the largest element along dim (the first one on ties; a NaN counts as the
 *  largest, so the first NaN wins). out has dtype i64 and the shape aph_op_reduce gives; an
 *  empty dim is APH_ERR_INVALID_ARGUMENT naming it. */
APH_API aph_status aph_op_argmax(const aph_tensor* x, int64_t dim, int keepdim, aph_tensor* out,
                                 aph_stream* stream);

typedef APH_ENUM(aph_rope_layout) {
    /* GPT-J / Meta's original Llama: rotates the pairs (x[2i], x[2i+1]). */
    APH_ROPE_INTERLEAVED = 0,
    /* GPT-NeoX / Hugging Face Llama: rotates the pairs (x[i], x[i + D/2]). */
    APH_ROPE_HALF = 1
} aph_rope_layout;

/** Rotary position embedding. x is [batch, seq, heads, head_dim] (head_dim even; else
 *  APH_ERR_DIMENSION_MISMATCH), positions is an i32 or i64 tensor [seq] (shared by the batch)
 *  or [batch, seq] of token positions. Pair i of a head at position p is rotated by the angle
 *  p · theta^(-2i/head_dim) (theta is the base, 10000 in most models; > 0 and finite, else
 *  APH_ERR_INVALID_ARGUMENT naming theta). Angles are computed in double precision from the
 *  integer position, and their cos/sin rounded to f32 (kept in f64 for f64) before the
 *  rotation, which is computed in f32 (f64), so long contexts keep exact angles on both
 *  devices. out has x's shape and may be x (in place); x and out may have any strides (q and
 *  k views of a fused projection are rotated where they are, without copies). */
APH_API aph_status aph_op_rope(const aph_tensor* x, const aph_tensor* positions, double theta,
                               aph_rope_layout layout, aph_tensor* out, aph_stream* stream);

/** Embedding lookup: out[..., :] = table[ids[...], :]. table is [vocab, dim] (any float dtype,
 *  and out the same), ids an i32 or i64 tensor of any shape (0-dim too: out is then [dim]),
 *  out [ids shape..., dim]. Rows are copied exactly. On the CPU an id outside [0, vocab)
 *  (negative ids included) is APH_ERR_INVALID_ARGUMENT naming the first one by its row-major
 *  index ("ids[5] = 1000 is outside [0, 50)"), and nothing is written: every id is checked
 *  before any row is copied. On CUDA (where checking would mean waiting for the device) such
 *  rows are written as zeros. */
APH_API aph_status aph_op_embedding(const aph_tensor* table, const aph_tensor* ids, aph_tensor* out,
                                    aph_stream* stream);

/** The positions 0, 1, ..., n - 1 of dimension dim of x, where n is x's size there: out is an
 *  i64 tensor [n] (else APH_ERR_INVALID_ARGUMENT for its dtype, APH_ERR_SHAPE_MISMATCH for its
 *  shape). x is only measured, never read: any dtype, any strides, on either device (out on the
 *  same one). dim counts from the end when negative (-1 is the last); outside [-ndim, ndim) it is
 *  APH_ERR_INVALID_ARGUMENT naming dim (a 0-dim x has no dimension to measure). It gives a
 *  transformer's absolute position ids ([seq] from input_ids [batch, seq] with dim -1, to gather
 *  position embeddings with aph_op_embedding), which in a graph with a symbolic sequence length
 *  (section 20) no constant can. */
APH_API aph_status aph_op_positions(const aph_tensor* x, int64_t dim, aph_tensor* out,
                                    aph_stream* stream);

/** Converts x into out's dtype (same shape, any strides on both sides). Floating dtypes
 *  f64/f32/f16/bf16 and the integers i32/i64 in any combination: float to float rounds to nearest
 *  even; float to integer truncates toward zero and saturates (NaN becomes 0, ±inf the limits);
 *  integer to float rounds to nearest even; i64 to i32 saturates. Every conversion rounds once,
 *  from the exact source value (f64 or a large integer to f16/bf16 never rounds through f32
 *  first). The same dtype on both sides is a plain copy (in place: nothing to do); out may be x
 *  only then. Any other dtype is APH_ERR_INVALID_ARGUMENT naming the tensor and its dtype; f64
 *  on CUDA (either side) is APH_ERR_NOT_IMPLEMENTED. fp8 goes through aph_quantize. */
APH_API aph_status aph_op_cast(const aph_tensor* x, aph_tensor* out, aph_stream* stream);

/** Scaled dot-product attention, forward, FlashAttention style: keys and values are visited in
 *  tiles with an online softmax, so the [seq_q, seq_k] score matrix is never materialised and
 *  extra memory is O(seq) per head (the CPU implementation too: 16k tokens fit in a few MiB).
 *  q is [batch, seq_q, heads_q, head_dim]; k and v are [batch, seq_k, heads_kv, head_dim] (the
 *  same shape) with heads_q a multiple of heads_kv (grouped-query attention: query head h reads
 *  key/value head h / (heads_q / heads_kv); heads_kv 1 is multi-query; heads_q 0 with heads_kv 0
 *  is an empty attention, as in a graph node: nothing to do); out is q's shape and
 *  dtype and must not overlap q, k, v or mask. Any strides are accepted (q, k and v may be
 *  views into one fused projection; a tensor whose last stride is not 1 is copied first).
 *  head_dim at most 256 (above: APH_ERR_NOT_IMPLEMENTED); on CUDA, f16/bf16 with head_dim 64
 *  or 128 take the tensor-core path on compute capability 8.0 and newer (there the softmax
 *  probabilities are rounded to the input dtype before they multiply v, as in FlashAttention),
 *  everything else a scalar f32 path. scale multiplies q·kᵀ; 0 means 1/sqrt(head_dim); a
 *  negative or non-finite scale is APH_ERR_INVALID_ARGUMENT. causal (a boolean: non-zero is
 *  true) masks key j for query i when j > i + seq_k - seq_q (aligned at
 *  the bottom right, as FlashAttention 2 does for seq_q != seq_k: with seq_q > seq_k the first
 *  seq_q - seq_k rows see no key). mask (NULL for none) is added to the scaled scores; it has
 *  q's dtype or f32, at most 4 dimensions, and broadcasts to [batch, heads_q, seq_q, seq_k]
 *  (for example [seq_q, seq_k] or [batch, 1, 1, seq_k]; otherwise APH_ERR_DIMENSION_MISMATCH);
 *  -inf masks a key. A query row whose keys are all masked (seq_k 0 included) gives zeros.
 *  Ranks other than 4, and batch, head_dim or heads that do not fit, are
 *  APH_ERR_DIMENSION_MISMATCH naming the shapes. Softmax statistics and accumulation in f32
 *  (f64 for f64). */
APH_API aph_status aph_op_attention(const aph_tensor* q, const aph_tensor* k, const aph_tensor* v,
                                    const aph_tensor* mask, double scale, int causal,
                                    aph_tensor* out, aph_stream* stream);

typedef APH_ENUM(aph_quant_scheme) {
    /* Symmetric int8: s = absmax / 127, q = x / s rounded half to even (as rintf and
     * torch.round do) and clamped to [-127, 127] (dtype i8); per tensor (axis < 0: scale [1])
     * or per channel along axis (scale [x.shape[axis]], one absmax per index of that axis). */
    APH_QUANT_INT8 = 0,
    /* fp8 with a per-tensor scale [1]: s = absmax / 448 (e4m3, OCP "FN": no infinities) or
     * / 57344 (e5m2), q = fp8(x / s) rounded to nearest even and saturated to the format's
     * largest finite value (dtype f8e4m3 / f8e5m2). */
    APH_QUANT_FP8_E4M3 = 1,
    APH_QUANT_FP8_E5M2 = 2,
    /* QLoRA's 4-bit NormalFloat (the 16 levels of the QLoRA paper and bitsandbytes) over blocks
     * of 64 consecutive elements in row-major order, each with its absmax (f32 scale tensor
     * [ceil(numel / 64)]; the last block may be shorter); the code is the level nearest to
     * x / absmax (exactly between two levels: the lower one, as bitsandbytes decides); two codes
     * per byte, the first element in the high nibble, as bitsandbytes packs them (u8 tensor
     * [ceil(numel / 2)]; an odd numel leaves the last low nibble 0). */
    APH_QUANT_NF4 = 3,
    /* BitNet b1.58 ternary weights: s = mean(|w|) over the tensor (scale [1]), q = clamp(round(
     * w / (s + 1e-8)), -1, 1) rounded half to even (so |w / (s + 1e-8)| = 0.5 gives 0); the last
     * dimension K is packed 4 weights per byte, weight j in bits 2(j%4)..2(j%4)+1 of byte j / 4,
     * codes 0 -> 0, 1 -> +1, 2 -> -1 (u8 tensor [..., ceil(K / 4)]; the bits of the padding
     * weights past K are 0; code 3 is never written and reads as 0). */
    APH_QUANT_TERNARY = 4
} aph_quant_scheme;

/** Quantizes x (f32, f16, bf16, or f64 on the CPU; any strides) into out_q (dtype i8, f8e4m3,
 *  f8e5m2, u8, u8 for the schemes above) and out_scale (f32), with the shapes given above; a
 *  wrong dtype is APH_ERR_INVALID_ARGUMENT, a wrong shape APH_ERR_SHAPE_MISMATCH with the
 *  expected shape. axis is used by APH_QUANT_INT8 only: negative means per tensor, otherwise it
 *  is the channel dimension (axis >= ndim is APH_ERR_INVALID_ARGUMENT); the other schemes take
 *  exactly -1 (else APH_ERR_INVALID_ARGUMENT). (So a negative axis does not count from the end:
 *  the one exception to the dimension rule of the opening comment.) APH_QUANT_TERNARY needs at least 1 dimension.
 *  Numerics: a scale is computed from the finite elements only (NaN and ±inf count as 0), in
 *  f32 (f64 for f64 inputs, then rounded to the f32 that is stored), and codes are made from the
 *  stored scale: v = x / s in f32 (f64; fp8 then rounds v to f32 before encoding), or v = x
 *  where s is 0 (absmax 0 gives scale 0 and codes 0). NaN becomes code 0 (int8, NF4's 0 level,
 *  ternary 0) or fp8 NaN; ±inf saturate to the largest code of their sign. An empty x writes
 *  scale 0 (per-tensor and per-channel scales; NF4's scale is then empty). On CUDA the ternary
 *  scale's sum is accumulated in f32 in an unspecified order, so it may differ from the CPU's
 *  (f64 sum) in its last bits (and with it a code whose w / s is that close to ±0.5); every
 *  other result is the same on both devices, bit for bit. */
APH_API aph_status aph_quantize(aph_quant_scheme scheme, const aph_tensor* x, int64_t axis,
                                aph_tensor* out_q, aph_tensor* out_scale, aph_stream* stream);
/** The inverse: out (f32, f16, bf16, f64 on the CPU) = decoded q times its scale, computed in
 *  f32 (f64 for f64) and rounded once. out has the shape of the original tensor, and that shape
 *  tells the layout: for INT8 and fp8 it must be q's shape (else APH_ERR_SHAPE_MISMATCH); for
 *  NF4 its numel gives the element count, for APH_QUANT_TERNARY its last dimension gives K. q
 *  (the code dtype of the scheme) and scale (f32) must have exactly the shapes aph_quantize
 *  writes for such a tensor, with the same axis; otherwise APH_ERR_DIMENSION_MISMATCH naming the
 *  shapes. q and scale may be any strided views. */
APH_API aph_status aph_dequantize(aph_quant_scheme scheme, const aph_tensor* q,
                                  const aph_tensor* scale, int64_t axis, aph_tensor* out,
                                  aph_stream* stream);
/** out = x · Wᵀ · scale with W ternary weights [N, K] packed as APH_QUANT_TERNARY packs them
 *  (packed: u8 [N, ceil(K / 4)], scale: f32 [1]), consumed directly (the 2-bit codes are decoded
 *  on the fly; no dequantized copy is made): x [..., K] (f32, f16, bf16; f64 on the CPU; any
 *  strides), out [..., N] in x's dtype. Additions and subtractions only: the sum of x where the
 *  weight is +1 minus the sum where it is -1, accumulated in f32 (f64), then times scale; a zero
 *  weight skips its x entirely (a NaN there does not propagate). K = 0 gives zeros. A packed
 *  that is not 2-D with ceil(K / 4) columns, or a scale that is not [1], is
 *  APH_ERR_DIMENSION_MISMATCH naming the shapes. */
APH_API aph_status aph_op_ternary_matmul(const aph_tensor* x, const aph_tensor* packed,
                                         const aph_tensor* scale, aph_tensor* out,
                                         aph_stream* stream);

/** One step of a GRU cell, PyTorch's nn.GRUCell: with gi = x·w_ihᵀ + b_ih and gh = h·w_hhᵀ +
 *  b_hh split into (r, z, n) thirds: r = σ(gi_r + gh_r), z = σ(gi_z + gh_z),
 *  n = tanh(gi_n + r·gh_n), out = (1 - z)·n + z·h. x [batch, input], h [batch, hidden],
 *  w_ih [3·hidden, input], w_hh [3·hidden, hidden], b_ih and b_hh [3·hidden] or NULL, out
 *  [batch, hidden] (may not be h nor overlap any input), all of one dtype; shapes that do not
 *  fit each other are APH_ERR_DIMENSION_MISMATCH. Two matrix products (as aph_op_linear, into
 *  temporaries of 2 × batch × 3·hidden elements in f32, f64 for f64, so half precision is
 *  rounded once, when out is stored), then the gates in one fused pass (f32, f64 for f64). */
APH_API aph_status aph_op_gru_cell(const aph_tensor* x, const aph_tensor* h, const aph_tensor* w_ih,
                                   const aph_tensor* w_hh, const aph_tensor* b_ih,
                                   const aph_tensor* b_hh, aph_tensor* out, aph_stream* stream);

/* ============================================================================================
 * 15. Strings returned by the library, and errors from callbacks
 * ========================================================================================== */

/** Frees a string the library allocated for the caller (the char** results of the functions
 *  below that say "free with aph_string_free"). NULL is a no-op. */
APH_API void aph_string_free(char* str);

/** Sets the calling thread's last error (what aph_last_error() returns) to message prefixed as
 *  status's kind ("kernel error: ..."), for callbacks (custom stages, hooks, custom operations)
 *  that return a failing status and want to say why: the outer call's message is built from it
 *  (section 2). A callback that fails without calling it (and without a failing call of its own)
 *  gets a generic message naming the callback. status must be a failing status (else ignored);
 *  message NULL means "". */
APH_API void aph_set_last_error(aph_status status, const char* message);

/* ============================================================================================
 * 16. Model configurations and validators (aphelion-core config.rs, validation.rs)
 *
 * A model configuration is a name, a version and parameters: a map from string keys to JSON
 * values, kept sorted by key (bytewise), exactly as aphelion-core's ModelConfig. Its JSON form
 * is serde_json's: {"name":...,"version":...,"params":{...}} with keys sorted at every level,
 * integers as integers, floats in serde_json's shortest form ("0.1", "1.0", "0.00001", "1e-7",
 * "1e+16": serde_json 1.0.147 and later, the version aphelion-framework-rs builds with, writes
 * positive exponents with a '+'), strings escaped as serde_json escapes them. JSON text given
 * to the library is read as serde_json reads it: "1.0" stays a float and "1" an integer, the
 * integer -0 becomes the float -0.0, nesting deeper than 127 arrays/objects is rejected.
 *
 * Parameter errors (APH_ERR_INVALID_CONFIG): a missing key is "invalid configuration: missing
 * parameter 'lr'"; a value of another type is "invalid configuration: parameter 'lr' is a
 * string, expected a number" (the JSON type names: null, bool, integer, number, string, array,
 * object). Integers are JSON numbers without fraction or exponent that fit in int64 (a larger
 * one is "parameter 'n' is an integer out of the int64 range"); a float getter accepts
 * integers too.
 *
 * Threads: a configuration must be used by one thread at a time.
 * ========================================================================================== */

typedef struct aph_model_config aph_model_config;

/** A configuration with no parameters. name and version are copied (any UTF-8; validation is
 *  separate, see aph_validate_*). */
APH_API aph_status aph_model_config_create(const char* name, const char* version,
                                           aph_model_config** out);
/** aphelion-core's presets, version "1.0.0", activation "relu": "small" (hidden_size 256,
 *  num_layers 2, dropout 0.1), "medium" (512, 4, 0.2), "large" (1024, 8, 0.3). Another preset
 *  name is APH_ERR_NOT_FOUND naming it ("not found: unknown preset 'huge' (expected ...)"). */
APH_API aph_status aph_model_config_preset(const char* preset, const char* name,
                                           aph_model_config** out);
/** Parses {"name":..., "version":..., "params":{...}} (params may be absent: empty; other
 *  fields are ignored). Malformed JSON or a missing/mistyped field is APH_ERR_SERIALIZATION with
 *  the position or field ("serialization error: config JSON: parse error at byte 13: ...",
 *  "serialization error: config.version: expected a string"). */
APH_API aph_status aph_model_config_from_json(const char* json, aph_model_config** out);
APH_API aph_status aph_model_config_clone(const aph_model_config* config, aph_model_config** out);
APH_API void aph_model_config_release(aph_model_config* config);

/** Borrowed; valid until the configuration changes or is released. "" for NULL. */
APH_API const char* aph_model_config_name(const aph_model_config* config);
APH_API const char* aph_model_config_version(const aph_model_config* config);
/** Number of parameters (0 for NULL), and the key of the i-th in sorted order (borrowed, NULL
 *  when i is out of range). */
APH_API size_t aph_model_config_param_count(const aph_model_config* config);
APH_API const char* aph_model_config_param_key(const aph_model_config* config, size_t index);
APH_API int aph_model_config_has_param(const aph_model_config* config, const char* key);

/** Setters: insert or replace a parameter. A non-finite float is APH_ERR_INVALID_ARGUMENT (JSON
 *  has no NaN or infinity); set_bool stores true for any non-zero value.
 *  set_json parses value_json as any JSON value (else APH_ERR_SERIALIZATION). Keys and string
 *  values are stored as the bytes given. */
APH_API aph_status aph_model_config_set_int(aph_model_config* config, const char* key, int64_t value);
APH_API aph_status aph_model_config_set_float(aph_model_config* config, const char* key, double value);
APH_API aph_status aph_model_config_set_bool(aph_model_config* config, const char* key, int value);
APH_API aph_status aph_model_config_set_string(aph_model_config* config, const char* key,
                                               const char* value);
APH_API aph_status aph_model_config_set_json(aph_model_config* config, const char* key,
                                             const char* value_json);
/** Removes a parameter; a missing key is the missing-parameter error. */
APH_API aph_status aph_model_config_remove(aph_model_config* config, const char* key);

/** Typed getters (errors above). get_string's result is borrowed like the name. get_json gives
 *  the value's compact serde_json text (free with aph_string_free). */
APH_API aph_status aph_model_config_get_int(const aph_model_config* config, const char* key,
                                            int64_t* out);
APH_API aph_status aph_model_config_get_float(const aph_model_config* config, const char* key,
                                              double* out);
APH_API aph_status aph_model_config_get_bool(const aph_model_config* config, const char* key,
                                             int* out);
APH_API aph_status aph_model_config_get_string(const aph_model_config* config, const char* key,
                                               const char** out);
APH_API aph_status aph_model_config_get_json(const aph_model_config* config, const char* key,
                                             char** out);
/** The configuration as serde_json's compact output (the bytes aph_graph_stable_hash hashes);
 *  free with aph_string_free. */
APH_API aph_status aph_model_config_to_json(const aph_model_config* config, char** out);

/** Validation (aphelion-core validation.rs). Each returns APH_OK or APH_ERR_VALIDATION with the
 *  first problem: "validation error: Name cannot be empty", "validation error: Name must
 *  contain only alphanumeric characters, dashes, and underscores" (Unicode alphanumerics as
 *  Rust's char::is_alphanumeric: the Alphabetic property or a number category, from Unicode
 *  14 tables; a name that is not valid UTF-8 fails this way too),
 *  "validation error: Version cannot be empty", "validation error: Version must match semantic
 *  versioning pattern (e.g., 1.2.3)" (at least three dot-separated parts, the first three
 *  unsigned 32-bit integers). */
APH_API aph_status aph_validate_name(const char* name);
APH_API aph_status aph_validate_version(const char* version);
/** The composite validator: runs the name and version validators on the configuration and
 *  collects every error. Returns APH_OK, or APH_ERR_VALIDATION whose message lists them all,
 *  "validation error: name: Name cannot be empty; version: Version cannot be empty". */
APH_API aph_status aph_model_config_validate(const aph_model_config* config);
/** The composite validator's errors as data: *out receives one "{field}: {message}" per line
 *  ("name: Name cannot be empty\nversion: Version cannot be empty"; "" when the configuration
 *  is valid; free with aph_string_free). Returns APH_OK whether or not the configuration is
 *  valid (APH_ERR_INVALID_ARGUMENT only for a NULL argument). */
APH_API aph_status aph_model_config_validation_errors(const aph_model_config* config, char** out);

/* ============================================================================================
 * 17. Build graphs (aphelion-core graph.rs)
 *
 * A graph is nodes (id, name, configuration, metadata) and directed edges, both kept in
 * insertion order. Node ids are 1-based and sequential: the n-th node added has id n. Metadata
 * is a map from string to JSON value (sorted by key). An edge (from, to) says that to consumes
 * from's output; for executable graphs (section 20) a node's incoming edges, in insertion
 * order, are its operands.
 *
 * Compatibility with aphelion-core: stable_hash, topological_sort, to_dot and the JSON layout
 * are byte-for-byte the Rust ones (docs/compat.md section 6); a graph saved by
 * aphelion-framework-rs loads here and hashes the same. Where libaphelion does better: add_edge
 * rejects ids that name no node (the Rust code accepts them silently; self-loops and cycles are
 * still accepted and reported by has_cycle), and to_dot escapes quotes and backslashes.
 *
 * Threads: a graph must be used by one thread at a time; separate graphs are independent.
 * ========================================================================================== */

typedef struct aph_graph aph_graph;

/** create: a new empty graph; clone: a new independent copy of graph (nodes with their
 *  configurations and metadata, edges, in the same order and with the same ids). *out is the
 *  caller's, freed with aph_graph_release (NULL: no-op). NULL arguments are
 *  APH_ERR_INVALID_ARGUMENT. */
APH_API aph_status aph_graph_create(aph_graph** out);
APH_API aph_status aph_graph_clone(const aph_graph* graph, aph_graph** out);
APH_API void aph_graph_release(aph_graph* graph);

/** Appends a node with a copy of config; out_id (may be NULL) receives its id. */
APH_API aph_status aph_graph_add_node(aph_graph* graph, const char* name,
                                      const aph_model_config* config, uint64_t* out_id);
/** Appends the edge from -> to. An id that names no node is APH_ERR_NOT_FOUND ("not found: edge
 *  (1, 9) names node 9, but the graph has 3 nodes"); nothing is added then. */
APH_API aph_status aph_graph_add_edge(aph_graph* graph, uint64_t from, uint64_t to);
/** Sets (inserts or replaces) a metadata entry of node id; value_json is any JSON value. An id
 *  that names no node is APH_ERR_NOT_FOUND ("not found: no node with id 9 (the graph has 3
 *  nodes)"), here and in every function below that takes a node id. */
APH_API aph_status aph_graph_set_metadata(aph_graph* graph, uint64_t id, const char* key,
                                          const char* value_json);

/** The number of nodes (the last node's id) and of edges; 0 for NULL. */
APH_API size_t aph_graph_node_count(const aph_graph* graph);
APH_API size_t aph_graph_edge_count(const aph_graph* graph);
/** The node with this id: its name and configuration, borrowed (valid until the graph changes
 *  or is released). An unknown id is APH_ERR_GRAPH. Either out pointer may be NULL. */
APH_API aph_status aph_graph_node(const aph_graph* graph, uint64_t id, const char** out_name,
                                  const aph_model_config** out_config);
/** The node's metadata as compact JSON (an object; free with aph_string_free). */
APH_API aph_status aph_graph_node_metadata(const aph_graph* graph, uint64_t id, char** out);
/** The id of the first node named name; APH_ERR_NOT_FOUND ("not found: no node named 'x'") when
 *  there is none. */
APH_API aph_status aph_graph_find_node(const aph_graph* graph, const char* name, uint64_t* out_id);
/** The index-th edge in insertion order; index out of range is APH_ERR_INVALID_ARGUMENT. */
APH_API aph_status aph_graph_edge(const aph_graph* graph, size_t index, uint64_t* out_from,
                                  uint64_t* out_to);

/** Lowercase hex SHA-256, as aphelion-core's stable_hash: for each node, its id as u64
 *  little-endian, its name's bytes and its configuration's compact serde_json; then each
 *  edge's from and to as u64 little-endian. Metadata is not hashed; the order of insertion is.
 *  Writes 64 hex digits and a NUL (65 bytes) into out, which has room for capacity bytes; a
 *  capacity under 65 is APH_ERR_INVALID_ARGUMENT and writes nothing. */
APH_API aph_status aph_graph_stable_hash(const aph_graph* graph, char* out, size_t capacity);
/** 1 if the graph has a cycle (a self-loop counts), else 0 (0 for NULL). Iterative: deep graphs
 *  do not exhaust the stack. */
APH_API int aph_graph_has_cycle(const aph_graph* graph);
/** Kahn's algorithm, deterministic: a FIFO queue seeded with the nodes of in-degree 0 in
 *  insertion order, edges scanned in insertion order. Writes node_count ids into out_ids
 *  (capacity must be at least aph_graph_node_count, else APH_ERR_INVALID_ARGUMENT; out_ids may
 *  be NULL for an empty graph). A cycle is APH_ERR_BUILD "build error: Cannot perform
 *  topological sort: graph contains a cycle"; in a loaded graph, an edge naming no node is then
 *  APH_ERR_GRAPH ("graph error: edge (1, 9) names node 9, but the graph has 3 nodes").
 *  O(nodes + edges). */
APH_API aph_status aph_graph_topological_sort(const aph_graph* graph, uint64_t* out_ids,
                                              size_t capacity);
/** GraphViz text, aphelion-core's layout: "digraph BuildGraph {\n", then per node
 *  `    "{id}" [label="{name}"];\n`, per edge `    "{from}" -> "{to}";\n`, then "}\n"; names
 *  with '"' or '\\' are escaped with a backslash. Free with aph_string_free. */
APH_API aph_status aph_graph_to_dot(const aph_graph* graph, char** out);

/** The serde layout: {"nodes":[{"id":1,"name":...,"config":{"name":...,"version":...,
 *  "params":{...}},"metadata":{}}],"edges":[[1,2]]}. pretty 0 gives serde_json::to_string's
 *  compact text, non-zero serde_json::to_string_pretty's (two-space indent), which is also what
 *  aph_graph_save writes. Loading then saving gives back the same bytes. Free with
 *  aph_string_free. */
APH_API aph_status aph_graph_to_json(const aph_graph* graph, int pretty, char** out);
/** Parses a graph in the serde layout (compact or pretty, any key order; "metadata" may be
 *  absent; unknown fields are ignored). Malformed JSON, missing or mistyped fields, or ids that
 *  are not 1, 2, 3, ... in order are APH_ERR_SERIALIZATION naming the 1-based byte position or
 *  the field, indexes 0-based ("serialization error: graph JSON: parse error at byte 17: ...",
 *  "serialization error: nodes[2].config.version: expected a string", "serialization error:
 *  edges[0][1]: expected an unsigned integer"). Edges naming unknown nodes are accepted as the
 *  Rust code accepts them (the executor and the check stage report them). len is the length of
 *  json in bytes. */
APH_API aph_status aph_graph_from_json(const char* json, size_t len, aph_graph** out);
/** aph_graph_from_json on a file's contents; an unreadable file is APH_ERR_IO naming the path
 *  and the system's reason. */
APH_API aph_status aph_graph_load(const char* path, aph_graph** out);
/** Writes aph_graph_to_json(graph, 1) to path (APH_ERR_IO on failure). */
APH_API aph_status aph_graph_save(const aph_graph* graph, const char* path);

/* ============================================================================================
 * 18. Tracing (aphelion-core diagnostics.rs) and execution timelines
 *
 * Trace events are {id, message, timestamp, level, span_id, trace_id}, as aphelion-core's
 * TraceEvent. A trace sink receives them; sinks are reference counted and thread-safe (any
 * number of threads may record into one sink at once).
 *
 * Sinks also receive spans: timed intervals (a pipeline stage, an executed graph node) with a
 * category, a device and a byte count, which aph_trace_export_chrome writes as Chrome
 * trace-event JSON ("X" complete events, microseconds) that chrome://tracing and
 * https://ui.perfetto.dev open. Filters and fan-outs pass spans on unchanged (spans have no
 * level).
 * ========================================================================================== */

typedef struct aph_trace_sink aph_trace_sink;

/** Ascending severity, with the numbers aph_log_level gives the same names. */
typedef APH_ENUM(aph_trace_level) {
    APH_TRACE_DEBUG = 1,
    APH_TRACE_INFO = 2,
    APH_TRACE_WARN = 3,
    APH_TRACE_ERROR = 4
} aph_trace_level;

/** One event. Strings are borrowed: in aph_trace_sink_record they are copied; from
 *  aph_trace_sink_event they stay valid until the sink is cleared or released (events recorded
 *  meanwhile do not move them). span_id and trace_id may be NULL (absent). timestamp is seconds
 *  since the Unix epoch (finite; negative means before the epoch); 0 in aph_trace_sink_record
 *  means "now" (whole seconds plus nanoseconds / 1e9, as Rust's as_secs_f64).
 *  Required fields, passing one in: id and message; a struct_size that ends before a later
 *  field gives it its default (timestamp 0: now, level APH_TRACE_INFO, span_id and trace_id
 *  NULL). */
typedef struct aph_trace_event {
    size_t struct_size;
    const char* id;
    const char* message;
    double timestamp;
    aph_trace_level level;
    const char* span_id;
    const char* trace_id;
} aph_trace_event;

/** One timed interval. start_ns is nanoseconds since the Unix epoch; category is "stage",
 *  "node" or any caller's word; device ("cpu", "cuda:0") may be NULL; bytes is what the span
 *  wrote or allocated (0 when not meaningful); args_json (may be NULL) is a JSON object of
 *  extra fields shown by the viewer. Required fields, passing one in: name, category, start_ns
 *  and duration_ns; a struct_size that ends before a later field gives it its default (device
 *  and args_json NULL, bytes 0). */
typedef struct aph_trace_span {
    size_t struct_size;
    const char* name;
    const char* category;
    uint64_t start_ns;
    uint64_t duration_ns;
    const char* device;
    uint64_t bytes;
    const char* args_json;
} aph_trace_span;

/** Keeps every event and span in memory, in arrival order (events and spans in two lists). */
APH_API aph_status aph_trace_sink_memory(aph_trace_sink** out);
/** Passes to inner only events at min_level or above. */
APH_API aph_status aph_trace_sink_filter(aph_trace_sink* inner, aph_trace_level min_level,
                                         aph_trace_sink** out);
/** Passes everything to each of sinks[0..count) in order (it keeps references to them).
 *  sinks may be NULL when count is 0; a NULL element is APH_ERR_INVALID_ARGUMENT. */
APH_API aph_status aph_trace_sink_fanout(aph_trace_sink* const* sinks, size_t count,
                                         aph_trace_sink** out);
/** Calls on_event(user_data, event) (required) for each event and on_span (may be NULL: spans
 *  are dropped) for each span, from the recording thread, without holding any lock: when
 *  several threads record, the callbacks run concurrently. The struct and its strings are
 *  valid during the call only. destroy(user_data) (may be NULL) runs once, when the last
 *  reference goes (filters and fan-outs over the sink hold references); if the call fails it
 *  is not run and user_data stays the caller's. For bindings that forward traces to their own
 *  logging. */
typedef void (*aph_trace_event_fn)(void* user_data, const aph_trace_event* event);
typedef void (*aph_trace_span_fn)(void* user_data, const aph_trace_span* span);
APH_API aph_status aph_trace_sink_callback(aph_trace_event_fn on_event, aph_trace_span_fn on_span,
                                           void* user_data, void (*destroy)(void* user_data),
                                           aph_trace_sink** out);
APH_API void aph_trace_sink_retain(aph_trace_sink* sink);
APH_API void aph_trace_sink_release(aph_trace_sink* sink);

/** Records an event (id and message required; level outside the enum, a non-finite timestamp
 *  or an event->struct_size that does not cover the required fields is
 *  APH_ERR_INVALID_ARGUMENT). */
APH_API aph_status aph_trace_sink_record(aph_trace_sink* sink, const aph_trace_event* event);
/** Records a span (name and category required; span->struct_size must cover the required
 *  fields). args_json must be a JSON object: malformed JSON is
 *  APH_ERR_SERIALIZATION, another JSON value APH_ERR_INVALID_ARGUMENT; it is kept in
 *  serde_json's compact form (keys sorted). */
APH_API aph_status aph_trace_sink_record_span(aph_trace_sink* sink, const aph_trace_span* span);

/** In-memory sinks only (others: APH_ERR_INVALID_ARGUMENT "invalid argument: sink is not an
 *  in-memory sink"; the counts are 0 for them and for NULL): counts, the index-th event or span
 *  (borrowed strings; out->struct_size must be set and cover at least the first field after it;
 *  only the fields inside struct_size are written; an index out of range is
 *  APH_ERR_INVALID_ARGUMENT and leaves out alone), and clearing. */
APH_API size_t aph_trace_sink_event_count(const aph_trace_sink* sink);
APH_API aph_status aph_trace_sink_event(const aph_trace_sink* sink, size_t index,
                                        aph_trace_event* out);
APH_API size_t aph_trace_sink_span_count(const aph_trace_sink* sink);
APH_API aph_status aph_trace_sink_span(const aph_trace_sink* sink, size_t index,
                                       aph_trace_span* out);
APH_API aph_status aph_trace_sink_clear(aph_trace_sink* sink);

/** aphelion-core's JSON exporter over an in-memory sink's events, byte for byte
 *  serde_json::to_string_pretty of its SerializableTraceEvent list: a pretty-printed array
 *  (two-space indent, "[]" when empty, no trailing newline) of {"id", "message", "timestamp",
 *  "level", "span_id", "trace_id"} in that order. timestamp is a string, Rust's f64 Display of
 *  the seconds (shortest round-trip digits, never an exponent: "1700000000.5", "2",
 *  "0.0000001"), or "unknown" before the epoch; level is "DEBUG", "INFO", "WARN" or "ERROR";
 *  absent ids are null. Spans are not exported. Free with aph_string_free. */
APH_API aph_status aph_trace_export_json(const aph_trace_sink* sink, char** out);
/** Chrome trace-event JSON of an in-memory sink's spans (and its events as instant events):
 *  {"traceEvents":[...],"displayTimeUnit":"ms"}, one item per line. Each span, in arrival
 *  order, is {"name","cat","ph":"X","ts","dur","pid":1,"tid":1,"args":{"device" (left out
 *  when absent),"bytes", then the args_json fields other than device and bytes}}; then each
 *  event is {"name": id,"cat":"event","ph":"i","s":"g","ts","pid":1,"tid":1,"args":{"message",
 *  "level", "span_id" and "trace_id" when present}}. ts and dur are microseconds, exact to the
 *  nanosecond (up to three decimals); ts counts from the earliest span start or event
 *  timestamp in the sink. Free with aph_string_free. */
APH_API aph_status aph_trace_export_chrome(const aph_trace_sink* sink, char** out);

/* ============================================================================================
 * 19. Pipelines (aphelion-core pipeline.rs)
 *
 * A pipeline runs a list of stages over a graph in a build context: pre-hooks in order (the
 * first error aborts: no later hook or stage runs), then the stages (before each, the progress
 * callback gets (name, i, N) with i counting from 1, or ("{name} (skipped)", i, N) for a stage
 * in the skip list, which still counts but does not run), then the post-hooks. A failing
 * stage stops the pipeline; its message gets the suffix " (stage: {name})" and its status is
 * kept. A failing hook's message is returned as it is. A stage or hook that fails without
 * aph_set_last_error gets "{kind prefix}stage 'x' failed with APH_ERR_... and gave no message"
 * (hooks: "pre-hook 2", "post-hook 1", counting from 1). Changes earlier stages made to the
 * graph stay when a later one fails.
 *
 * Each stage that runs becomes a span in the context's sink: name the stage's, category
 * "stage", device the context device's label ("cpu", "cuda:0"), bytes 0; a failed stage's span
 * has args_json {"error": its message}.
 *
 * Built-in stages: "validation" (an empty graph is "validation error: graph must contain at
 * least one node"; else info event stage.validation "validated {n} nodes"), "hashing" (info
 * event stage.hashing "computed graph hash: {hex}"), and libaphelion's own "check" (dangling
 * edges, cycles, unknown operations, shape and dtype inference: section 20's errors), "plan"
 * (makes the context's executor: inference and memory planning, with the budget check; it
 * replaces the executor of an earlier plan in the context, while references the caller took
 * with aph_build_context_executor stay valid; info event stage.plan "planned {n} buffers, peak
 * {bytes} bytes") and "execute" (binds the context's inputs and weights, runs the executor
 * once; info event stage.execute; without an executor planned before it, APH_ERR_INVALID_STATE
 * "invalid state: the execute stage needs the plan stage to run before it"). Presets:
 * "standard" = validation, hashing; "for_training" = standard plus a pre-hook emitting info
 * pipeline.training "Starting training pipeline"; "for_inference" = hashing; "run" =
 * validation, check, hashing, plan, execute.
 *
 * Threads: a pipeline and a context must be used by one thread at a time.
 * ========================================================================================== */

typedef struct aph_build_context aph_build_context;
typedef struct aph_pipeline aph_pipeline;
typedef struct aph_executor aph_executor;
typedef struct aph_executor_options aph_executor_options; /* section 20 */

/** A context for device (NULL: the device aph_device_select picks with the default
 *  configuration of aph_device_config_create, which reads no environment), sink (NULL: events
 *  are dropped) and tracker (NULL: none). It keeps references to all three; releasing the
 *  context also releases its inputs and its executor. */
APH_API aph_status aph_build_context_create(aph_device* device, aph_trace_sink* sink,
                                            aph_tracker* tracker, aph_build_context** out);
APH_API void aph_build_context_release(aph_build_context* ctx);
/** The context's device, sink and tracker: borrowed, fixed when the context is made, valid while
 *  it lives; NULL when absent (and for NULL). */
APH_API aph_device* aph_build_context_device(const aph_build_context* ctx);
APH_API aph_trace_sink* aph_build_context_sink(const aph_build_context* ctx);
APH_API aph_tracker* aph_build_context_tracker(const aph_build_context* ctx);
/** Records an event in the context's sink (timestamp now); without a sink it does nothing.
 *  id and message required; level outside the enum is APH_ERR_INVALID_ARGUMENT. */
APH_API aph_status aph_build_context_trace(aph_build_context* ctx, aph_trace_level level,
                                           const char* id, const char* message);
/** Allocation through the context (aphelion-core BuildContext): charges bytes to the tracker;
 *  a tracker failure is the tracker's own APH_ERR_OUT_OF_MEMORY, "out of memory: allocation of
 *  10 bytes would exceed limit of 5 bytes (current: 0 bytes)", and charges nothing (aphelion-core
 *  reports it as a backend error, "OOM: ..."; libaphelion reports every out-of-budget condition
 *  as APH_ERR_OUT_OF_MEMORY). Without a tracker it succeeds. */
APH_API aph_status aph_build_context_allocate(aph_build_context* ctx, uint64_t bytes);
/** For the execute stage: inputs bound by node name (non-empty; a reference is kept, binding a
 *  name again replaces the tensor) and a safetensors file for the weight nodes. */
APH_API aph_status aph_build_context_set_input(aph_build_context* ctx, const char* name,
                                               aph_tensor* tensor);
APH_API aph_status aph_build_context_set_weights_file(aph_build_context* ctx, const char* path);
/** Options for the executor the plan stage makes (copied, and the stream, if any, kept alive;
 *  NULL: defaults). Their tracker and trace fields are ignored: the context's own tracker and
 *  sink are used. A stream of another device than the context's is APH_ERR_DEVICE_MISMATCH. */
APH_API aph_status aph_build_context_set_executor_options(aph_build_context* ctx,
                                                          const aph_executor_options* options);
/** A new reference to the executor the last plan stage made (release it with
 *  aph_executor_release); read outputs and statistics from it after the pipeline ran. A later
 *  plan stage gives the context a new executor and leaves this reference, and its outputs,
 *  valid. Before any plan stage ran, APH_ERR_INVALID_STATE. */
APH_API aph_status aph_build_context_executor(const aph_build_context* ctx, aph_executor** out);

/** A stage or hook: return APH_OK, or a failing status (with aph_set_last_error for the
 *  message). Stages may change the graph; hooks see it read-only. */
typedef aph_status (*aph_stage_fn)(void* user_data, aph_build_context* ctx, aph_graph* graph);
typedef aph_status (*aph_hook_fn)(void* user_data, aph_build_context* ctx, const aph_graph* graph);
typedef void (*aph_progress_fn)(void* user_data, const char* stage, size_t index, size_t total);

/** An empty pipeline, or a preset ("standard", "for_training", "for_inference", "run"; another
 *  name is APH_ERR_NOT_FOUND). */
APH_API aph_status aph_pipeline_create(aph_pipeline** out);
APH_API aph_status aph_pipeline_preset(const char* preset, aph_pipeline** out);
APH_API void aph_pipeline_release(aph_pipeline* pipeline);
/** Appends a built-in stage by name ("validation", "hashing", "check", "plan", "execute";
 *  another name is APH_ERR_NOT_FOUND). */
APH_API aph_status aph_pipeline_add_builtin(aph_pipeline* pipeline, const char* stage);
/** Appends a custom stage (name non-empty; several stages may share a name, and a skip then
 *  applies to all of them). destroy(user_data) (may be NULL) runs once, when the pipeline is
 *  released; when the call fails it is not run and user_data stays the caller's. The same holds
 *  for the hooks below. */
APH_API aph_status aph_pipeline_add_stage(aph_pipeline* pipeline, const char* name,
                                          aph_stage_fn fn, void* user_data,
                                          void (*destroy)(void* user_data));
APH_API aph_status aph_pipeline_add_pre_hook(aph_pipeline* pipeline, aph_hook_fn fn,
                                             void* user_data, void (*destroy)(void* user_data));
APH_API aph_status aph_pipeline_add_post_hook(aph_pipeline* pipeline, aph_hook_fn fn,
                                              void* user_data, void (*destroy)(void* user_data));
/** Adds a stage name to the skip list (a name no stage has is allowed; it skips nothing). */
APH_API aph_status aph_pipeline_skip(aph_pipeline* pipeline, const char* stage);
/** Sets the progress callback (NULL: none). */
APH_API aph_status aph_pipeline_set_progress(aph_pipeline* pipeline, aph_progress_fn fn,
                                             void* user_data);
APH_API size_t aph_pipeline_stage_count(const aph_pipeline* pipeline);
/** Borrowed, valid until the pipeline is released; NULL when index is out of range. */
APH_API const char* aph_pipeline_stage_name(const aph_pipeline* pipeline, size_t index);
/** Runs the pipeline over graph (which stages may change). Each stage also becomes a span
 *  (category "stage") in the context's sink. */
APH_API aph_status aph_pipeline_run(aph_pipeline* pipeline, aph_build_context* ctx,
                                    aph_graph* graph);

/* ============================================================================================
 * 20. Executable graphs: operations by name, custom operations, memory planning, execution
 *
 * A graph is executable when every node's configuration name is an operation below (or a
 * registered custom operation). A node's incoming edges, in insertion order, are its operands;
 * its params carry the operation's attributes. Every node has one output value.
 *
 *   operation        kind      operands                        params
 *   ---------------  --------  ------------------------------  -------------------------------------
 *   input            input     -                               shape: symbolic shape;
 *                                                              dtype: dtype = "f32"
 *   weight           weight    -                               shape: int list;
 *                                                              dtype: dtype = "f32"; key?: string
 *   constant         constant  -                               shape: int list;
 *                                                              dtype: dtype = "f32";
 *                                                              value: number or list
 *   output           output    x                               -
 *   matmul           compute   a, b                            transpose_a: bool = false;
 *                                                              transpose_b: bool = false;
 *                                                              alpha: float = 1
 *   linear           compute   x, weight[, bias]               -
 *   add              compute   a[, b]                          scalar?: float
 *   sub              compute   a[, b]                          scalar?: float
 *   mul              compute   a[, b]                          scalar?: float
 *   div              compute   a[, b]                          scalar?: float
 *   maximum          compute   a[, b]                          scalar?: float
 *   minimum          compute   a[, b]                          scalar?: float
 *   relu             compute   x                               -
 *   gelu             compute   x                               -
 *   gelu_tanh        compute   x                               -
 *   silu             compute   x                               -
 *   tanh             compute   x                               -
 *   sigmoid          compute   x                               -
 *   exp              compute   x                               -
 *   log              compute   x                               -
 *   neg              compute   x                               -
 *   sqrt             compute   x                               -
 *   rsqrt            compute   x                               -
 *   abs              compute   x                               -
 *   bias_activation  compute   x, bias                         activation: "none" | "relu" |
 *                                                              "gelu" | "gelu_tanh" | "silu" |
 *                                                              "tanh" = "none"
 *   softmax          compute   x                               -
 *   log_softmax      compute   x                               -
 *   layer_norm       compute   x, weight[, bias]               eps: float = 1e-5
 *   rms_norm         compute   x, weight                       eps: float = 1e-6
 *   sum              compute   x                               dim: int = -1; keepdim: bool = false
 *   mean             compute   x                               dim: int = -1; keepdim: bool = false
 *   max              compute   x                               dim: int = -1; keepdim: bool = false
 *   argmax           compute   x                               dim: int = -1; keepdim: bool = false
 *   rope             compute   x, positions                    theta: float = 10000;
 *                                                              layout: "interleaved" | "half"
 *                                                              = "half"
 *   embedding        compute   table, ids                      -
 *   positions        compute   x                               dim: int = -1
 *   cast             compute   x                               dtype: dtype
 *   attention        compute   q, k, v[, mask]                 scale: float = 0;
 *                                                              causal: bool = false
 *   ternary_matmul   compute   x, packed, scale                -
 *   dequantize       compute   q, scale                        scheme: "int8" | "fp8_e4m3" |
 *                                                              "fp8_e5m2" | "nf4" | "ternary";
 *                                                              axis: int = -1; shape: int list;
 *                                                              dtype: dtype = "f32"
 *   gru_cell         compute   x, h, w_ih, w_hh[, b_ih, b_hh]  -
 *   contiguous       compute   x                               -
 *   reshape          view      x                               shape: symbolic shape
 *   permute          view      x                               dims: int list
 *   transpose        view      x                               dim0: int; dim1: int
 *   slice            view      x                               dim: int; start: int = 0;
 *                                                              stop?: int; step: int = 1
 *
 * Reading the table. kind: input (bound by the caller), weight (bound by the caller or from a
 * safetensors file), constant (filled from its params), output (the graph's result, named after
 * the node), view (of its operand: no copy, no memory) or compute (a new value). Operands in
 * brackets are optional. A param is `name: type` (required), `name: type = default` (optional;
 * the default written as JSON, exactly as aph_op_get_param reports it) or `name?: type`
 * (optional, and its absence means what the notes below say). Types: int (a JSON integer in the
 * int64 range), float (any JSON number), bool (true or false), string, int list (an array of
 * ints), symbolic shape (an array of ints and symbol names: see Symbolic dimensions below),
 * dtype (a string naming a dtype, as aph_dtype_from_name reads it), number or list (a
 * number or an array of numbers), and enumerations, written as their strings ("a" | "b"): the
 * n-th string is the value n of the C enum (activation: aph_activation, layout:
 * aph_rope_layout, scheme: aph_quant_scheme). This table is also data at run time
 * (aph_op_schema_count and the functions after it), so bindings need not copy it; a test checks
 * that the two agree.
 *
 * Notes. weight: key is the tensor's name in a safetensors file (absent: the node's name).
 * constant: value is one number (every element) or a flat row-major list of numel numbers,
 * integers in range for i32 and i64. add ... minimum: a (op) b with two operands, a (op) scalar
 * with one (scalar then required, and refused with two). attention: scale 0 means
 * 1/sqrt(head_dim). dequantize: shape and dtype are the output's (the original tensor's, as out
 * is for aph_dequantize). gru_cell: both biases or neither. contiguous: a contiguous copy of its
 * operand (any dtype). positions: i64 [n], the positions 0 ... n - 1 along dimension dim of x
 * (aph_op_positions; x's values are not read): a transformer's position ids for whatever
 * sequence length its input has. reshape: one entry may be -1, others may name symbols; the
 * operand must be contiguous. permute,
 * transpose, slice: dimensions may be negative (counting from the end). slice: elements start,
 * start + step, ... before stop (absent: the dimension's size), start and stop counted from the
 * end when negative and clamped, as in Python.
 *
 * Semantics, shapes and dtypes are those of the eager operations (section 14): the executor and
 * the eager operations check them with the same code, so a graph node and the eager call with
 * the same operands succeed or fail together, with the same status and message (where the eager
 * call names its out tensor, a node says "the output": cast, dequantize). Inference runs
 * over the whole graph when the executor is made, so every mistake is reported before anything
 * runs, naming the node after the kind of error: "graph error: node 7 'attn' (attention): takes
 * 3 to 4 operands, got 2", "dimension mismatch: node 3 'fc1' (linear): x [4, 8] and weight
 * [16, 9]: x's last dimension 8 differs from weight's K 9 (weight is [N, K])". An unknown
 * operation, a wrong operand count, a missing or mistyped param, a param the operation does not
 * take, an edge naming no node and a cycle are APH_ERR_GRAPH; shape and dtype errors keep the
 * operation's own status (APH_ERR_DIMENSION_MISMATCH, APH_ERR_INVALID_ARGUMENT, ...), and so do
 * errors while running (the node named the same way). f64 on a CUDA device is
 * APH_ERR_NOT_IMPLEMENTED when the executor is made ("not implemented: node 4 'r' (relu): f64
 * operations on CUDA (x)"), as the eager operations report it when called. Input, weight and
 * output nodes need distinct names (they are bound and read by name).
 *
 * Symbolic dimensions. An entry of an input node's shape may be a string, a symbol such as
 * "batch" or "seq" (letters, digits and underscores, not starting with a digit): that size is
 * given by the tensor bound to the input, and may change from run to run ("shape": ["batch",
 * "seq"]). Inputs that name the same symbol share its size. A reshape's shape may name the
 * symbols the inputs declare (["batch", "seq", 12, 32]), besides one -1. Weights, constants and
 * every other param are concrete (a symbol there is APH_ERR_GRAPH: "graph error: node 3 'w'
 * (weight): param 'shape' holds the string "batch"; expected integers (symbolic dimensions are
 * allowed in the shapes of input and reshape nodes only)"; a reshape naming a symbol no input
 * declares is APH_ERR_GRAPH too). What is checked when:
 * - aph_executor_create checks all it can with the sizes unknown: operations, operand counts,
 *   params, ranks, dtypes, and every relation the operations' rules make between sizes. It runs
 *   the same rules (there is one definition of each operation) with the symbols set to probe
 *   sizes: two assignments of distinct odd primes from 10007 and from 20011, one per symbol,
 *   that no other size of a graph should equal. So a relation that holds only for particular
 *   sizes of a symbol fails here, as a mistake of the graph: a symbol meeting a fixed size
 *   (x ["batch", 32] plus a weight [3, 32]), two symbols meeting each other, a reshape that
 *   needs an even size (["n"] to [-1, 2]). Messages write the probe sizes as the symbols they
 *   stand for, derived ones as products: "dimension mismatch: node 3 's' (add): shapes [batch,
 *   4] and [3, 4] do not broadcast (dimension 0: batch vs 3)", "shape mismatch: node 3 'r2'
 *   (reshape): cannot reshape [batch*seq, 32] to [-1, 5]". Broadcasting a symbol against 1, a
 *   -1 over symbolic sizes and symbols shared by inputs are fine. Limits: every value must stay
 *   under 2^63 bytes at the probe sizes, about 2·10^4 per symbol ([batch, seq, seq, 1024] f32
 *   does; a fourth symbolic size in one shape usually does not, and such a graph is refused with
 *   the size error), and a graph has at most 256 symbols.
 * - Binding an input checks its dtype, its rank and its fixed sizes (the rest is the symbols'),
 *   and that it gives each symbol the size the other inputs bound since the last run give it:
 *   APH_ERR_SHAPE_MISMATCH naming both inputs and the symbol otherwise ("shape mismatch: the
 *   inputs disagree on seq: input 'attention_mask' (node 2) [8, 30] has seq = 30, input
 *   'input_ids' (node 1) [8, 26], bound for the next run, has seq = 26"), and the binding is
 *   refused. So the inputs bound since the last run fix the symbols for the next one
 *   (aph_executor_symbol reads them); an input bound before and not since must agree with them
 *   when the run starts (the same error, the input said to be "bound before the last run").
 * - A run at sizes it has not seen infers the whole graph again at those sizes (an error names
 *   the node and the sizes: "... (at batch = 2, seq = 0)") and plans its memory (below);
 *   nothing is reloaded or copied: weights stay bound. The plans of the last max_plans size
 *   sets (an executor option, 8 by default) are kept, least recently used dropped first, so
 *   runs alternating between size sets plan nothing (aph_plan_info's plans_made counts the
 *   plans made).
 * Signatures (aph_value_info) give each symbolic size as -1 with its name: the symbol, a
 * product of symbols for a derived size ("batch*seq" after a reshape to [-1, 32]), or "?" for a
 * size that depends on the symbols otherwise (a slice stopping at a fixed index of a symbolic
 * dimension). aph_executor_plan_info and aph_executor_node_stats describe the plan of the
 * current size set: the one the bound inputs give (planned when asked, if no run has used it
 * yet), else the last run's.
 *
 * Memory planning: every value a node computes lives in one arena, at an offset chosen by
 * liveness: a value is live from the step that computes it to the last step that reads it (a
 * view keeps its base live), and values whose lifetimes do not overlap share memory (offsets
 * are given largest value first, each at the lowest 256-byte-aligned offset free during its
 * lifetime). Values read by output nodes get memory of their own, so outputs stay readable until
 * the next run (or are written into the caller's tensors: aph_executor_bind_output). Inputs
 * bound by the caller and weights are not in the plan. For a graph without symbols the plan is
 * made when the executor is, before any memory is allocated; with a tracker whose limit the
 * plan does not fit, aph_executor_create fails with APH_ERR_OUT_OF_MEMORY ("out of memory: the
 * memory plan needs {peak} bytes at its peak, over the budget of {limit} bytes ({current}
 * bytes already tracked)") and allocates nothing. Memory is allocated at the first run (and
 * charged to the tracker until the executor is released) and reused by every later run.
 * With symbolic dimensions there is one plan per size set, made by the first run (or
 * aph_executor_plan_info) at those sizes. The executor holds one arena and one block per output
 * value, each as large as the largest plan that ran needed: a run whose plan fits them
 * allocates nothing; one that needs more grows them first. The budget applies to every plan
 * before it allocates: when the grown memory would exceed the tracker's limit but the plan's
 * own peak would not, the memory is allocated again at exactly the plan's sizes; when the plan
 * alone does not fit, the run fails with APH_ERR_OUT_OF_MEMORY naming the sizes ("out of
 * memory: the memory plan for batch = 3, seq = 202 needs {peak} bytes at its peak, over the
 * budget of {limit} bytes ({other} bytes already tracked besides this executor's memory)"),
 * before anything is allocated or run: the memory stays as it was and smaller size sets still
 * run.
 *
 * Threads: an executor must be used by one thread at a time; separate executors (of the same
 * graph or not) may run at once on one device. The custom operation registry is thread-safe.
 * ========================================================================================== */

/** What a node of an operation is (the table's kind column). Open: a later version may add
 *  kinds; treat an unknown value as data. */
typedef APH_ENUM(aph_node_kind) {
    APH_NODE_INPUT = 0,    /* bound by the caller (aph_executor_set_input) */
    APH_NODE_WEIGHT = 1,   /* bound by the caller or from a safetensors file */
    APH_NODE_CONSTANT = 2, /* filled from its params at the first run */
    APH_NODE_OUTPUT = 3,   /* its operand's value, read by name after a run */
    APH_NODE_VIEW = 4,     /* a view of its operand: no copy, no memory */
    APH_NODE_COMPUTE = 5   /* computes a new value */
} aph_node_kind;

/** The type of an operation's param (the table's types). Open, like aph_node_kind. */
typedef APH_ENUM(aph_param_type) {
    APH_PARAM_INT = 0,      /* a JSON integer in the int64 range */
    APH_PARAM_FLOAT = 1,    /* any JSON number */
    APH_PARAM_BOOL = 2,     /* true or false */
    APH_PARAM_STRING = 3,   /* a JSON string; one of allowed_values when those are given */
    APH_PARAM_INT_LIST = 4, /* an array of integers */
    APH_PARAM_DTYPE = 5,    /* a string naming a dtype (as aph_dtype_from_name reads it) */
    APH_PARAM_NUMBERS = 6,  /* a number, or an array of numbers */
    APH_PARAM_SYMBOLIC_SHAPE = 7 /* an array of integers and symbol names (strings): a shape
                                    that may name symbolic dimensions (input, reshape) */
} aph_param_type;

/** A built-in operation: the table above as data. Every string and array is static (valid for
 *  the life of the process). */
typedef struct aph_op_schema {
    size_t struct_size;
    const char* name;                 /* the configuration name ("matmul") */
    aph_node_kind kind;
    size_t index;                     /* its index: for aph_op_get_schema, aph_op_get_param */
    size_t min_operands;
    size_t max_operands;
    const char* const* operand_names; /* max_operands names in operand order (the first
                                         min_operands required); NULL when max_operands is 0 */
    size_t param_count;               /* params, for aph_op_get_param */
} aph_op_schema;

/** One param of a built-in operation (static strings, as aph_op_schema's). */
typedef struct aph_op_param {
    size_t struct_size;
    const char* name;
    aph_param_type type;
    int required;                       /* 1: a node without it is APH_ERR_GRAPH; else 0 */
    const char* default_json;           /* the value a node without it gets, as JSON text ("1e-5",
                                           "\"f32\"", "false"); NULL when required, or when its
                                           absence means what the notes above say (weight's key,
                                           slice's stop, the scalar of add ... minimum) */
    const char* const* allowed_values;  /* an enumeration's strings (the n-th is the C enum's
                                           value n); NULL for any other param */
    size_t allowed_count;
} aph_op_param;

/** The number of built-in operations (the rows of the table above). Never fails; thread-safe,
 *  as every function of this group. */
APH_API size_t aph_op_schema_count(void);
/** Fills out with built-in operation index (0 to aph_op_schema_count() - 1, in the table's
 *  order). Set out->struct_size first: fields past it are not written; one too small for name is
 *  APH_ERR_INVALID_ARGUMENT. NULL out or an index out of range is APH_ERR_INVALID_ARGUMENT. */
APH_API aph_status aph_op_get_schema(size_t index, aph_op_schema* out);
/** Fills out with the built-in operation named name (as aph_op_get_schema). A name that is not
 *  a built-in operation (a registered custom operation is not) is APH_ERR_NOT_FOUND ("not found:
 *  built-in operation 'frobnicate'"); NULL arguments are APH_ERR_INVALID_ARGUMENT. */
APH_API aph_status aph_op_schema_find(const char* name, aph_op_schema* out);
/** Fills out with param param_index (0 to param_count - 1, in the table's order) of built-in
 *  operation op_index. struct_size as for aph_op_get_schema; an index out of range or NULL out
 *  is APH_ERR_INVALID_ARGUMENT. */
APH_API aph_status aph_op_get_param(size_t op_index, size_t param_index, aph_op_param* out);

/** A custom operation. infer computes the output dtype and shape from the operands' (the
 *  params are the node's params as compact JSON): it sets *out_dtype and *out_ndim and writes
 *  the ndim sizes into out_shape, which has room for out_shape_capacity values (at least
 *  APH_TENSOR_MAX_DIMS; a result with more dimensions than that is an error: return
 *  APH_ERR_INVALID_ARGUMENT then); cpu runs it on CPU tensors, cuda (may be
 *  NULL) on CUDA tensors, writing into out (allocated by the executor with the inferred dtype
 *  and shape; contiguous). stream is the stream to queue work on (NULL on the CPU). Each returns
 *  APH_OK or a failing status (with aph_set_last_error for the message). Dispatch is the
 *  built-in operations' (docs/compat.md section 8): a CUDA device runs cuda (without one,
 *  APH_ERR_NOT_IMPLEMENTED "not implemented: node 4 'n' (my_op): custom operation 'my_op' has
 *  no CUDA implementation"), the CPU runs cpu. The callbacks may run on any thread and
 *  several at once (one per executor running). */
typedef struct aph_custom_op {
    size_t struct_size;
    const char* name;
    aph_status (*infer)(void* user_data, const char* params_json, size_t n_inputs,
                        const aph_dtype* input_dtypes, const int64_t* const* input_shapes,
                        const size_t* input_ndims, aph_dtype* out_dtype, int64_t* out_shape,
                        size_t out_shape_capacity, size_t* out_ndim);
    aph_status (*cpu)(void* user_data, const char* params_json, size_t n_inputs,
                      const aph_tensor* const* inputs, aph_tensor* out);
    aph_status (*cuda)(void* user_data, const char* params_json, size_t n_inputs,
                       const aph_tensor* const* inputs, aph_tensor* out, aph_stream* stream);
    void* user_data;
    /* Called once with user_data when the registration is gone: unregistered or replaced, and
     * no executor uses it any more. May be NULL. */
    void (*destroy)(void* user_data);
} aph_custom_op;

/** Registers op under op->name (copied) for every executor made afterwards; registering a name
 *  again replaces it (executors already made keep the one they resolved). A built-in
 *  operation's name is APH_ERR_INVALID_ARGUMENT; name, infer and cpu are required
 *  (op->struct_size must cover them); cuda, user_data and destroy past struct_size are NULL. */
APH_API aph_status aph_custom_op_register(const aph_custom_op* op);
/** Removes a registration; an unknown name is APH_ERR_NOT_FOUND ("not found: no custom operation
 *  is registered as 'x'"). */
APH_API aph_status aph_custom_op_unregister(const char* name);

/** How an executor computes its linear layers (aph_executor_options::matmul_precision; also
 *  aph_model_options). F32 is f32 arithmetic on the weights' own values (the default); on the
 *  CPU a weight that cannot change (read-only: memory-mapped from a safetensors file, a read-only
 *  DLPack import) is copied once into the layout the fastest kernel reads, which sums in another
 *  order than aph_op_linear (differences of f32 rounding). The others apply to every
 *  `linear` node whose weight operand is a weight node and whose x is f32, on the CPU:
 *    BF16  weights converted once to bf16 (round to nearest even), x rounded to bf16 per run,
 *          products summed in f32 (AVX512_BF16);
 *    INT8  weights quantized once per output row (symmetric int8, scale max|w| / 127), x
 *          quantized per run per row (asymmetric u8 over [min(x, 0), max(x, 0)]), products
 *          summed in int32 and scaled back (AVX512_VNNI); the 4 weight columns of largest
 *          magnitude (with f32 weights) and each row's 8 entries of x of largest magnitude
 *          among the rest (with bf16 weights; K above 32) are computed in f32 instead
 *          (transformers' outlier channels): a row's result depends on that row alone; K at
 *          most 65536 (larger layers stay f32). The converted weights take about three
 *          quarters of the f32 weights' memory (int8 panels, a bf16 copy for the outliers).
 *  The bias and everything outside linear nodes stay f32. On all-MiniLM-L6-v2 (tests/test_model.c,
 *  the golden sentences against sentence-transformers' f32 embeddings) the worst cosine is above
 *  0.9999 with BF16 and above 0.999 with INT8. The converted weights are made at
 *  the first run after a weight is bound (aph_executor_set_weight, aph_executor_load_weights),
 *  kept by the executor (not charged to its tracker) and made again only when the weight is
 *  bound again: changing a bound weight's memory in place is not seen by these precisions. A
 *  linear node whose x cannot be read as rows (a non-contiguous view) runs in f32. Asking for
 *  BF16 or INT8 on a device other than the CPU, or on a processor without the instructions
 *  (or with APHELION_CPU_ISA below avx512), is APH_ERR_NOT_IMPLEMENTED when the executor is
 *  made, naming what is missing; a value outside the enum is APH_ERR_INVALID_ARGUMENT. */
typedef APH_ENUM(aph_matmul_precision) {
    APH_MATMUL_PRECISION_F32 = 0,
    APH_MATMUL_PRECISION_BF16 = 1,
    APH_MATMUL_PRECISION_INT8 = 2
} aph_matmul_precision;

struct aph_executor_options {
    size_t struct_size;
    /* Charged with the memory the executor holds for runs (arena, outputs, constants:
     * aph_plan_info's held_bytes) from the first run until the executor is released; its limit
     * is the budget of every plan. Copies of bound tensors (inputs on another device or not
     * contiguous, weights copied when bound) are not charged. NULL: none. */
    aph_tracker* tracker;
    /* Spans per executed node (category "node", with device and bytes) and per run. NULL: none. */
    aph_trace_sink* trace;
    /* Stream for the work (NULL: the device's default stream). */
    aph_stream* stream;
    /* Non-zero: after each node, count NaN and Inf in its output; the first node with any makes the run
     * fail with APH_ERR_KERNEL "kernel error: numerics check: node 5 'mlp_up' (linear)
     * produced 3 NaN and 1 Inf among 4096 values" (a debugging aid: it synchronises and reads
     * every output back). */
    int check_numerics;
    /* Non-zero: time every node (on CUDA it synchronises after each node), for aph_executor_node_stats
     * and the trace. Off by default: a run then does not wait for the device between nodes. */
    int profile;
    /* Worker threads of the CPU kernels during this executor's runs, the running thread
     * included (at most 1024, else APH_ERR_INVALID_ARGUMENT). 0 (the default, also when
     * struct_size ends before this field): the running thread's own setting
     * (aph_cpu_set_thread_limit), else the process default. It applies to the runs only, on the
     * thread that runs them, and changes no other thread's or executor's setting. */
    size_t cpu_threads;
    /* Graphs with symbolic dimensions: how many size sets' plans the executor keeps, the least
     * recently used dropped first (at most 4096, else APH_ERR_INVALID_ARGUMENT). 0 (the default,
     * also when struct_size ends before this field): 8. */
    size_t max_plans;
    /* Linear layers' arithmetic (aph_matmul_precision above). 0, also when struct_size ends
     * before this field: F32. */
    aph_matmul_precision matmul_precision;
};

/** Makes an executor for a copy of graph on device: checks the graph, infers every shape and
 *  dtype, resolves operations (custom ones from the registry) and plans memory (errors above).
 *  A graph with symbolic dimensions is checked with the symbols unknown and planned per size
 *  set at run time (Symbolic dimensions above). options may be NULL; options->struct_size must
 *  cover at least the tracker field. Nothing is allocated on the device yet. *out is a new
 *  executor with one reference. */
APH_API aph_status aph_executor_create(const aph_graph* graph, aph_device* device,
                                       const aph_executor_options* options, aph_executor** out);
/** Executors are reference counted (aph_build_context_executor hands out references too):
 *  retain adds a reference, release drops one (NULL: no-op); the last release frees the
 *  executor's memory, its bindings and its statistics. Both may be called from any thread,
 *  but not while another thread is using the executor through the reference released. */
APH_API void aph_executor_retain(aph_executor* executor);
APH_API void aph_executor_release(aph_executor* executor);

typedef struct aph_plan_info {
    size_t struct_size;
    uint64_t arena_bytes;      /* the arena holding every planned value */
    uint64_t live_peak_bytes;  /* the largest sum of live values at any step (<= arena_bytes:
                                  what liveness implies; the placement may need more) */
    uint64_t unshared_bytes;   /* the sum of all planned values: the arena without reuse */
    uint64_t output_bytes;     /* the values read by output nodes (memory of their own) */
    uint64_t constant_bytes;   /* constant nodes (bound weights and inputs are the caller's) */
    uint64_t total_bytes;      /* arena + outputs + constants: the plan's peak, what the first
                                  run allocates and charges to the tracker */
    uint64_t budget_bytes;     /* the tracker's limit (0: no limit or no tracker) */
    size_t buffers;            /* values placed in the arena */
    size_t steps;              /* nodes that run (inputs, weights, constants, outputs and views
                                  do not) */
    /* The executor rather than this plan (graphs with symbolic dimensions make one plan per
     * size set): */
    size_t plans_cached;       /* plans it keeps now (1 for a graph without symbols) */
    uint64_t plans_made;       /* plans it has made (inference and planning), the first
                                  included: a run at a size set whose plan is kept makes none */
    uint64_t arena_capacity_bytes; /* the arena it holds (>= arena_bytes once this plan ran; the
                                      largest arena a run needed; 0 before the first run) */
    uint64_t held_bytes;       /* all the memory it holds for runs (arena, outputs, constants):
                                  what the tracker is charged with; 0 before the first run */
} aph_plan_info;
/** Fills out with the executor's memory plan: for a graph with symbolic dimensions, the plan of
 *  the current size set, which is the one the bound inputs give (made now, with inference and
 *  planning but no allocation, when no run has used it yet: its inference errors come back
 *  here, as aph_executor_run would report them), else the last run's; before any input gives
 *  every symbol a size, APH_ERR_INVALID_STATE ("invalid state: the graph has symbolic
 *  dimensions (batch, seq): its plan depends on their sizes; bind inputs that give them
 *  first"). Output struct: struct_size must cover at least arena_bytes (else
 *  APH_ERR_INVALID_ARGUMENT); only the fields inside it are written. NULL arguments are
 *  APH_ERR_INVALID_ARGUMENT. */
APH_API aph_status aph_executor_plan_info(const aph_executor* executor, aph_plan_info* out);

/** Binds input node name to tensor (a reference is kept until rebound or the executor goes).
 *  A name that is no input node is APH_ERR_NOT_FOUND ("not found: the graph has no input node
 *  named 'x'"). Its dtype and shape must be the node's (APH_ERR_INVALID_ARGUMENT /
 *  APH_ERR_SHAPE_MISMATCH "shape mismatch: input 'x' (node 1): expected [batch, 16], got
 *  [2, 15]"), a symbolic dimension of any size that agrees with the other inputs bound since
 *  the last aph_executor_run (else APH_ERR_SHAPE_MISMATCH naming both inputs and the symbol;
 *  nothing is bound then). The executor only reads it: read-only tensors are accepted.
 *  It is used in place when it is a contiguous tensor on the executor's device; otherwise (another
 *  device, a strided view) it is copied into memory of the executor's at each run, before any
 *  node computes. A tensor from aph_executor_output of the same executor (a recurrent state fed
 *  back) is copied the same way, so the run that overwrites it reads the previous value. */
APH_API aph_status aph_executor_set_input(aph_executor* executor, const char* name,
                                          aph_tensor* tensor);
/** Binds weight node name to tensor (same rules, APH_ERR_NOT_FOUND for a name that is no weight
 *  node; a tensor on another device or not contiguous is copied once, here). */
APH_API aph_status aph_executor_set_weight(aph_executor* executor, const char* name,
                                           aph_tensor* tensor);
/** Binds every weight node from a safetensors file (section 21) by its key; a missing tensor is
 *  APH_ERR_NOT_FOUND ("not found: {path}: no tensor 'k' for weight node 3 'w'"), one whose dtype
 *  or shape differs from the node's APH_ERR_SERIALIZATION naming both; nothing is bound then.
 *  Tensors the graph does not use are ignored. On the CPU the weights are used in place from
 *  the memory-mapped file (no copy). */
APH_API aph_status aph_executor_load_weights(aph_executor* executor, const char* path);
/** Binds output node name to tensor, a tensor of the caller's that every later run writes the
 *  output's value into (ONNX Runtime's I/O binding); a reference is kept until unbound (tensor
 *  NULL), rebound or the executor goes. A name that is no output node is APH_ERR_NOT_FOUND. The
 *  tensor must have the output's dtype (else APH_ERR_INVALID_ARGUMENT) and shape (else
 *  APH_ERR_SHAPE_MISMATCH; with symbolic dimensions, its rank and fixed sizes here, and at each
 *  run the run's shape: a run whose output shape differs fails before anything runs, "shape
 *  mismatch: output 'y' (node 9) is [8, 384] at batch = 8, seq = 26; the tensor bound to it is
 *  [3, 384]"), live on the executor's device (else APH_ERR_DEVICE_MISMATCH) and be
 *  writable: not read-only, no broadcast (stride-0) dimension of size > 1, no memory shared
 *  with the tensor bound to another output, not memory of this executor (else
 *  APH_ERR_INVALID_ARGUMENT saying which); any strides. The run computes the value straight
 *  into a contiguous bound tensor when it can (no copy), else copies it in after the last node;
 *  either way the caller may bind an input of the same executor as an output's tensor (a state
 *  updated in place): the run reads every input before it writes a bound output that shares
 *  its memory. On CUDA the writes are queued on the executor's stream. A run that fails leaves
 *  the bound tensors' contents unspecified. */
APH_API aph_status aph_executor_bind_output(aph_executor* executor, const char* name,
                                            aph_tensor* tensor);
/** Runs the graph once: every input and weight must be bound (else APH_ERR_INVALID_STATE naming
 *  the first that is not, "invalid state: input node 1 'x' is not bound (aph_executor_set_input)").
 *  With symbolic dimensions, the inputs must agree on every symbol's size (else
 *  APH_ERR_SHAPE_MISMATCH naming both and the symbol); the plan of those sizes is made when no
 *  kept plan has them (inference errors name the node and the sizes), and memory is grown for
 *  it within the budget (else APH_ERR_OUT_OF_MEMORY naming the sizes): all before any node
 *  runs, leaving the last run's outputs readable. On CUDA it returns once the work is queued on
 *  the stream (profile and check_numerics make it wait); aph_executor_output's tensors are then
 *  ready in stream order. An error stops the run and names the node. The inputs bound since
 *  the last run no longer count as such afterwards, whether the run succeeded or not. */
APH_API aph_status aph_executor_run(aph_executor* executor);
/** The value of output node name after the last successful run, as a new reference (release
 *  it with aph_tensor_release):
 *  - an output bound with aph_executor_bind_output when that run started: the bound tensor;
 *  - otherwise (the default) a tensor over the executor's own memory for that output (or, for
 *    an output that reads an input or weight node, through views or not, the bound tensor or a
 *    view of it). Its contents are the last run's value until the next aph_executor_run of this
 *    executor starts, which writes the next value into the same memory: a tensor obtained before
 *    then shows the new value (copy it, or bind the output, to keep a value across runs). A run
 *    at other symbolic sizes writes it too where the memory suffices (the old tensor's shape
 *    then no longer describes it), or gives the output new memory, leaving the old value to the
 *    old tensor. The reference keeps the memory allocated, even after the executor is released.
 *  Before the first successful run APH_ERR_INVALID_STATE ("invalid state: output 'y' has no
 *  value: the executor has not run (successfully) yet"); a name that is no output node is
 *  APH_ERR_NOT_FOUND. */
APH_API aph_status aph_executor_output(const aph_executor* executor, const char* name,
                                       aph_tensor** out);

/** An input, weight or output of an executor (its signature, as ONNX Runtime's
 *  SessionGetInputTypeInfo gives it). Every pointer is borrowed from the executor and valid
 *  until its last reference is released. A dimension is either fixed (its size in shape,
 *  dim_names[i] NULL) or symbolic (shape[i] -1, dim_names[i] its name: the symbol, such as
 *  "batch", for inputs and for values of that size; a product such as "batch*seq" for a size
 *  derived from the symbols; "?" for a size that depends on them otherwise). Weights are always
 *  fixed. Output struct: struct_size must cover at least name; only the fields inside it are
 *  written. */
typedef struct aph_value_info {
    size_t struct_size;
    const char* name;              /* the node's name */
    uint64_t node_id;              /* the node's id in the graph */
    aph_dtype dtype;
    size_t ndim;
    const int64_t* shape;          /* ndim sizes (NULL when ndim is 0); -1 for a symbolic one */
    const char* const* dim_names;  /* ndim entries (NULL when ndim is 0): a symbolic dimension's
                                      name, NULL for a fixed one */
} aph_value_info;

/** The executor's inputs, weights and outputs, each list in graph order (node ids ascending):
 *  counts (0 for NULL), the index-th one's description (an index out of range is
 *  APH_ERR_INVALID_ARGUMENT and leaves out alone), and the index of the one named name
 *  (APH_ERR_NOT_FOUND "not found: the graph has no input node named 'x'" when there is none).
 *  Output names also come from aph_executor_output_name (borrowed like the info's strings). */
APH_API size_t aph_executor_input_count(const aph_executor* executor);
APH_API aph_status aph_executor_input_info(const aph_executor* executor, size_t index,
                                           aph_value_info* out);
APH_API aph_status aph_executor_find_input(const aph_executor* executor, const char* name,
                                           size_t* out_index);
APH_API size_t aph_executor_weight_count(const aph_executor* executor);
APH_API aph_status aph_executor_weight_info(const aph_executor* executor, size_t index,
                                            aph_value_info* out);
APH_API aph_status aph_executor_find_weight(const aph_executor* executor, const char* name,
                                            size_t* out_index);
APH_API size_t aph_executor_output_count(const aph_executor* executor);
APH_API const char* aph_executor_output_name(const aph_executor* executor, size_t index);
APH_API aph_status aph_executor_output_info(const aph_executor* executor, size_t index,
                                            aph_value_info* out);
APH_API aph_status aph_executor_find_output(const aph_executor* executor, const char* name,
                                            size_t* out_index);

/** Per-node facts, in execution order (every node of the graph, in topological order). The
 *  strings and shape are borrowed from the executor, valid until its last reference is
 *  released (with symbolic dimensions the sizes the shape points to follow the current plan,
 *  so copy them to keep them). Shapes, bytes and
 *  offsets are those of the current plan, as aph_executor_plan_info chooses it (and makes it,
 *  with its errors); before any size set, symbolic sizes are -1, bytes 0 and offsets
 *  UINT64_MAX. Output struct: struct_size must cover at least id; only the fields inside it are
 *  written. */
typedef struct aph_node_stats {
    size_t struct_size;
    uint64_t id;
    const char* name;
    const char* op;
    aph_dtype dtype;
    size_t ndim;
    const int64_t* shape;   /* ndim sizes of its output (NULL when ndim is 0) */
    uint64_t bytes;         /* of its output */
    uint64_t offset;        /* in the arena; UINT64_MAX when not in it */
    uint64_t last_ns;       /* duration in the last profiled run (0 when not profiled) */
    uint64_t total_ns;      /* summed over profiled runs */
} aph_node_stats;
APH_API size_t aph_executor_node_count(const aph_executor* executor);
APH_API aph_status aph_executor_node_stats(const aph_executor* executor, size_t index,
                                           aph_node_stats* out);
/** Number of completed runs. */
APH_API uint64_t aph_executor_run_count(const aph_executor* executor);

/** The symbolic dimensions of the executor's graph (the strings in its input nodes' shapes),
 *  in the order the input nodes (by id) first name them: their count (0 for a graph without
 *  them, and for NULL), and the index-th one's name (borrowed from the executor, valid until its
 *  last reference is released) and its size now: the size the bound inputs give it (inputs
 *  bound since the last aph_executor_run first), which the next run will use; -1 while no
 *  bound input has a dimension of that name. out_name and out_value may each be NULL (not
 *  written). An index out of range (or a NULL executor) is APH_ERR_INVALID_ARGUMENT. */
APH_API size_t aph_executor_symbol_count(const aph_executor* executor);
APH_API aph_status aph_executor_symbol(const aph_executor* executor, size_t index,
                                       const char** out_name, int64_t* out_value);

/* ============================================================================================
 * 21. safetensors files
 *
 * The format of Hugging Face's safetensors: an 8-byte little-endian header length N, N bytes
 * of JSON header {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 * "__metadata__": {string: string}}, then the data, each tensor row-major little-endian at
 * [begin, end) of the data section. Dtypes: F64 F32 F16 BF16 I64 I32 I16 I8 U8 U32 BOOL F8_E4M3
 * F8_E5M2. Files are memory-mapped; every offset, size and dtype is checked against the file
 * before anything is read, with the rules of the reference implementation (safetensors'
 * Metadata::validate): N is at most 100,000,000; the header is a UTF-8 JSON object; offsets
 * match dtype and shape exactly; sorted by offset, the tensors cover the data section to its
 * last byte without holes or overlaps. Stricter than the reference: a key given twice, more
 * than APH_TENSOR_MAX_DIMS dimensions, over INT64_MAX bytes, and the reference's dtypes that
 * libaphelion lacks (U16, U64, C64, F8_E8M0, ...) are errors too. A malformed file is
 * APH_ERR_SERIALIZATION with a precise message, "serialization error: {path}: {problem}"
 * ("serialization error: model.safetensors: tensor 'w1': data_offsets [0, 96] do not match
 * dtype F32 and shape [4, 8] (128 bytes)"), never a crash; an unreadable file is APH_ERR_IO
 * ("I/O error: {path}: No such file or directory"); one that cannot be mapped for lack of memory
 * or address space is APH_ERR_OUT_OF_MEMORY.
 *
 * Threads: an open file may be read from any number of threads.
 * ========================================================================================== */

typedef struct aph_safetensors aph_safetensors;

/** Opens and memory-maps the file at path and checks its header (errors above: APH_ERR_IO for an
 *  unreadable file, APH_ERR_SERIALIZATION for a malformed one). *out is the caller's, released
 *  with aph_safetensors_release. */
APH_API aph_status aph_safetensors_open(const char* path, aph_safetensors** out);
/** Releases the handle; tensors made from it keep the mapping alive. NULL is a no-op. */
APH_API void aph_safetensors_release(aph_safetensors* file);
/** Tensors in the file, in the order of their data offsets (zero-size tensors sharing an offset
 *  by name); names borrowed. 0 and NULL for a NULL file or an index out of range. */
APH_API size_t aph_safetensors_count(const aph_safetensors* file);
APH_API const char* aph_safetensors_name(const aph_safetensors* file, size_t index);
/** The __metadata__ object as compact JSON, keys sorted ("{}" when absent or null); free with
 *  aph_string_free. */
APH_API aph_status aph_safetensors_metadata(const aph_safetensors* file, char** out);
/** Dtype and shape of tensor name (a missing name is APH_ERR_NOT_FOUND "not found: {path}: no
 *  tensor named '{name}'"). out_shape has room for capacity values and receives the ndim sizes;
 *  a capacity under the tensor's ndim is APH_ERR_INVALID_ARGUMENT and writes nothing (call with
 *  out_shape NULL, which ignores capacity, to learn ndim first). Each out pointer may be NULL. */
APH_API aph_status aph_safetensors_info(const aph_safetensors* file, const char* name,
                                        aph_dtype* out_dtype, int64_t* out_shape,
                                        size_t capacity, size_t* out_ndim);
/** The tensor on device (a missing name is APH_ERR_NOT_FOUND): on the CPU a read-only view of
 *  the mapped file (no copy; aph_tensor_is_read_only gives 1, and every call that writes into
 *  it, aph_tensor_data_mut included, refuses it; it keeps the mapping alive, even after the file
 *  handle is released); elsewhere a writable copy. Data that is not
 *  aligned to its element size in the file (never in files written by this library or by the
 *  reference writer) is copied on the CPU too. */
APH_API aph_status aph_safetensors_tensor(const aph_safetensors* file, const char* name,
                                          aph_device* device, aph_tensor** out);
/** Writes count tensors (any devices and layouts) under names (distinct, non-empty, UTF-8, not
 *  "__metadata__"; else APH_ERR_INVALID_ARGUMENT naming the index) to path, with metadata_json
 *  (NULL: no __metadata__; else a JSON object of string values, keys written sorted; malformed
 *  JSON is APH_ERR_SERIALIZATION, another value APH_ERR_INVALID_ARGUMENT) as __metadata__.
 *  The layout is the reference writer's (safetensors' serialize_to_file, which its Python
 *  save_file calls): tensors sorted by dtype, largest alignment first (I64 F64 F32 U32 I32 BF16
 *  F16 I16 F8_E4M3 F8_E5M2 I8 U8 BOOL), then by name; the header lists __metadata__ and then the
 *  tensors in that order, compact, padded with spaces to a multiple of 8 bytes. So every
 *  tensor's data is aligned to its element size, and the bytes equal the reference's for the
 *  same tensors (and metadata of at most one key: the reference orders metadata at random).
 *  The file is written beside path and renamed over it: on failure (APH_ERR_IO "I/O error:
 *  {path}: {reason}") an existing file at path is left as it was. */
APH_API aph_status aph_safetensors_save(const char* path, const char* const* names,
                                        const aph_tensor* const* tensors, size_t count,
                                        const char* metadata_json);

/* ============================================================================================
 * 22. Tokenizers
 *
 * Text to token ids as a Hugging Face tokenizer.json describes it, with exactly the ids of the
 * Hugging Face `tokenizers` library (tested against it on thousands of strings: ASCII,
 * punctuation, accents, CJK, emoji, combining marks, control characters, every kind of
 * whitespace, very long words, text from every Unicode block). Supported is what BERT-family
 * encoders (all-MiniLM-L6-v2 and the like) use:
 *  - "model": WordPiece (the vocabulary, unk_token, continuing_subword_prefix "##",
 *    max_input_chars_per_word: a longer word is one unk_token; greedy longest match, and a word
 *    that cannot be covered is one unk_token);
 *  - "normalizer": BertNormalizer (clean_text: control characters, NUL and U+FFFD removed,
 *    whitespace made a space; handle_chinese_chars: spaces around CJK ideographs;
 *    strip_accents: NFD, then nonspacing marks removed, on when null and lowercase is on;
 *    lowercase: full Unicode lowercase, U+0130 giving "i" + U+0307), or null;
 *  - "pre_tokenizer": BertPreTokenizer (split on whitespace, each punctuation character a word
 *    of its own: Unicode P* categories and all ASCII punctuation), or null;
 *  - "post_processor": TemplateProcessing (its "single" template, e.g. [CLS] $A [SEP], with
 *    type ids) or BertProcessing, or null;
 *  - "added_tokens": found in the text before normalisation (or after it, for "normalized":
 *    true), leftmost-longest, with lstrip/rstrip; each is one token;
 *  - "truncation" and "padding": the defaults of aph_tokenizer_encode (see its options).
 * Anything else, another model (BPE, Unigram, ...), normaliser, pre-tokeniser or post-processor
 * type, or an added token with "single_word": true, is APH_ERR_NOT_IMPLEMENTED naming the field
 * and the value ("not implemented: tokenizer.json: model.type 'BPE' (supported: WordPiece)").
 * Malformed JSON, or a field of the wrong type, is APH_ERR_SERIALIZATION naming it
 * ("serialization error: tokenizer.json: padding.direction 'Up' is not Right or Left");
 * an unreadable file is APH_ERR_IO ("I/O error: {path}: No such file or directory").
 *
 * Unicode data: tables generated from Unicode 14.0.0 (Python's unicodedata) by
 * runtime/model/gen_unicode_tables.py, corrected to what the tokenizers library's Rust crates
 * use where they differ: their general categories are about Unicode 8.0 (so, for instance,
 * U+2E43 and later punctuation is not split off, and marks added since are not stripped),
 * their NFD about Unicode 9.0, their lowercase and whitespace those of a recent Rust (16.0).
 * The generated file lists every code point concerned.
 *
 * Texts are UTF-8, given with their byte lengths or NUL-terminated. A text that is not valid
 * UTF-8 (a stray or missing continuation byte, an overlong form, a surrogate, a code point past
 * U+10FFFF) is APH_ERR_INVALID_ARGUMENT naming its index and byte offset: the library has no
 * behaviour to match there (a Python str passed to it is always valid Unicode), and guessing
 * would change the ids silently.
 *
 * Deliberate differences from the library: a max_length smaller than the special tokens the
 * template adds is an error (the library then silently does not truncate); a text longer than a
 * fixed padding length is an error (the library returns a longer row, so the batch is no
 * longer a rectangle). Not provided: pairs of sequences, offsets, overflowing tokens, decoding.
 *
 * Threads: a tokenizer never changes once loaded; any number of threads may use it at once.
 * ========================================================================================== */

typedef struct aph_tokenizer aph_tokenizer;

/** Loads the tokenizer.json at path (errors above). Release it with aph_tokenizer_release. */
APH_API aph_status aph_tokenizer_load(const char* path, aph_tokenizer** out);
/** The same from the length bytes of a tokenizer.json held in memory (json need not be
 *  NUL-terminated; it is not kept after the call). Messages name it "tokenizer.json". */
APH_API aph_status aph_tokenizer_load_json(const char* json, size_t length, aph_tokenizer** out);
/** Frees the tokenizer. NULL is a no-op. Tensors made by it are independent of it. */
APH_API void aph_tokenizer_release(aph_tokenizer* tokenizer);

/** The number of tokens: the model's vocabulary plus the added tokens that are not in it (as
 *  the library's get_vocab_size(with_added_tokens=True)). 0 for NULL. */
APH_API size_t aph_tokenizer_vocab_size(const aph_tokenizer* tokenizer);
/** The id of token (exact text: no normalisation), an added token's first, then the
 *  vocabulary's; -1 when there is none, or for a NULL argument. */
APH_API int64_t aph_tokenizer_token_to_id(const aph_tokenizer* tokenizer, const char* token);
/** The token with id id (an added token's content as the file states it, then the
 *  vocabulary's), borrowed from the tokenizer (valid until it is released); NULL when no token
 *  has the id, or for a NULL tokenizer. (For an added token with "normalized": true the
 *  library's id_to_token gives the normalised form, "new word" for "New Word"; this gives
 *  what token_to_id accepts.) */
APH_API const char* aph_tokenizer_id_to_token(const aph_tokenizer* tokenizer, int64_t id);
/** The file's truncation max_length (128 for all-MiniLM-L6-v2's file); 0 when the file has no
 *  truncation, or for NULL. Model directories may state another maximum (sentence-transformers'
 *  max_seq_length is 256 for all-MiniLM-L6-v2): pass that as options.max_length. */
APH_API size_t aph_tokenizer_max_length(const aph_tokenizer* tokenizer);
/** How many special tokens the post-processor adds to each text (2 for [CLS] ... [SEP]); 0 for
 *  NULL or a file without post-processor. */
APH_API size_t aph_tokenizer_special_token_count(const aph_tokenizer* tokenizer);

/** Truncation of aph_tokenizer_encode. */
typedef APH_ENUM(aph_truncation) {
    /* The file's "truncation" (its max_length, direction and strategy); none when it is null. */
    APH_TRUNCATION_FROM_FILE = 0,
    /* No truncation. */
    APH_TRUNCATION_NONE = 1,
    /* At most options.max_length tokens per text, special tokens included; the file's
     * direction (right when it has no truncation). */
    APH_TRUNCATION_MAX_LENGTH = 2
} aph_truncation;

/** Padding of aph_tokenizer_encode (every row of the result has the same length). */
typedef APH_ENUM(aph_padding) {
    /* The file's "padding" ("BatchLongest" or {"Fixed": n}, direction, pad_to_multiple_of,
     * pad_id, pad_type_id); to the longest text with pad id 0 on the right when it is null. */
    APH_PADDING_FROM_FILE = 0,
    /* To the longest text of the batch. */
    APH_PADDING_LONGEST = 1,
    /* To options.pad_length tokens; a text longer than that (after truncation) is
     * APH_ERR_INVALID_ARGUMENT naming it. */
    APH_PADDING_FIXED = 2
} aph_padding;

/** Options of aph_tokenizer_encode. Zero-initialised (with struct_size set) or NULL, they are
 *  the file's settings with special tokens added, as the library's Tokenizer.from_file(path)
 *  .encode_batch(texts). Fields past struct_size take those defaults. */
typedef struct aph_tokenizer_encode_options {
    size_t struct_size;           /* sizeof(aph_tokenizer_encode_options) */
    aph_truncation truncation;    /* default APH_TRUNCATION_FROM_FILE */
    size_t max_length;            /* for APH_TRUNCATION_MAX_LENGTH: > 0 and at least the special
                                     token count when they are added */
    aph_padding padding;          /* default APH_PADDING_FROM_FILE */
    size_t pad_length;            /* for APH_PADDING_FIXED */
    size_t pad_to_multiple_of;    /* > 0: round the padded length up to a multiple of it;
                                     0: the file's pad_to_multiple_of (none when null) */
    int no_special_tokens;        /* non-zero: no post-processor template (no [CLS]/[SEP]) */
} aph_tokenizer_encode_options;

/** Tokenizes count texts (texts[i] is text_lengths[i] bytes of UTF-8, or NUL-terminated when
 *  text_lengths is NULL; a text may be NULL only when its length is 0) and gives the model
 *  inputs as new contiguous APH_DTYPE_I64 tensors of shape [count, padded length] on device:
 *  out_input_ids (the token ids, padding with the pad id), out_attention_mask (1 for tokens, 0
 *  for padding) and out_token_type_ids (the template's type ids, padding with the pad type
 *  id). Each out pointer may be NULL (that tensor is not made). out_lengths (may be NULL;
 *  else lengths_capacity must be at least count) receives each text's number of tokens,
 *  special tokens included and padding not. count may be 0 (tensors of shape [0, 0], or
 *  [0, pad_length] for fixed padding). The texts are encoded on several CPU threads (as many
 *  as the operations use) when the batch is large enough. Synchronous: on CUDA the tensors are ready when it returns.
 *  Errors: APH_ERR_INVALID_ARGUMENT for a NULL tokenizer, device or texts (count > 0), a NULL
 *  text with a non-zero length, an options value outside its enum, a max_length of 0 or below
 *  the special token count, an options struct_size below sizeof(size_t), a lengths_capacity
 *  below count, invalid UTF-8 ("texts[3] is not valid UTF-8 (at byte 17)"), a text longer than
 *  fixed padding; APH_ERR_INVALID_CONFIG for what the file gets wrong (its unk_token is not in
 *  the vocabulary and a word needs it; its truncation strategy OnlySecond when a text must be
 *  truncated, where the library fails too; its truncation max_length below the special token
 *  count); APH_ERR_OUT_OF_MEMORY. Nothing is written on failure. */
APH_API aph_status aph_tokenizer_encode(const aph_tokenizer* tokenizer, const char* const* texts,
                                        const size_t* text_lengths, size_t count,
                                        const aph_tokenizer_encode_options* options,
                                        aph_device* device, aph_tensor** out_input_ids,
                                        aph_tensor** out_attention_mask,
                                        aph_tensor** out_token_type_ids, size_t* out_lengths,
                                        size_t lengths_capacity);

/** One text's token ids into caller memory: the input_ids row aph_tokenizer_encode gives for a
 *  batch of one with the same options (so the file's {"Fixed": 128} padding of
 *  all-MiniLM-L6-v2 gives 128 ids, and APH_PADDING_LONGEST no pad ids at all). text is length
 *  bytes of UTF-8 (may be NULL when length is 0). *out_count receives the number of ids;
 *  out_ids receives them when capacity is at least that (out_ids may be NULL with capacity 0
 *  to ask for the count only). A capacity that is not 0 but too small is
 *  APH_ERR_INVALID_ARGUMENT ("capacity 4 is less than the 12 ids of the text") and writes
 *  nothing. Other errors as aph_tokenizer_encode. */
APH_API aph_status aph_tokenizer_encode_ids(const aph_tokenizer* tokenizer, const char* text,
                                            size_t length,
                                            const aph_tokenizer_encode_options* options,
                                            int64_t* out_ids, size_t capacity, size_t* out_count);

/* ============================================================================================
 * 23. Text encoders from Hugging Face directories
 *
 * A BERT-family sentence encoder (all-MiniLM-L6-v2 and the like) loaded from a Hugging Face
 * model directory, as sentence-transformers loads it, and run by the executor of section 20.
 * The directory holds:
 *  - config.json: model_type "bert", hidden_size, num_hidden_layers, num_attention_heads
 *    (dividing hidden_size), intermediate_size, hidden_act "gelu" (the exact, erf GELU),
 *    layer_norm_eps, max_position_embeddings, type_vocab_size, vocab_size and
 *    position_embedding_type "absolute" (or absent). Another value of model_type, hidden_act or
 *    position_embedding_type, or a missing or mistyped key, is APH_ERR_INVALID_CONFIG naming the
 *    file, the key and the value ("invalid configuration: {dir}/config.json: model_type 'gpt2' is
 *    not supported (supported: bert)").
 *  - model.safetensors: the weights, under the checkpoint's own keys
 *    ("embeddings.word_embeddings.weight", "encoder.layer.0.attention.self.query.weight", ...,
 *    with the "bert." prefix of BertModel checkpoints that have it), f32. They are the weight
 *    nodes' keys, so the file is used in place: memory-mapped and read where it lies on the CPU
 *    (no conversion, no copy), copied once to another device. A key the graph needs that the
 *    file lacks is APH_ERR_NOT_FOUND naming the file and the key; a tensor of another dtype or
 *    shape is APH_ERR_SERIALIZATION naming both.
 *  - tokenizer.json: the tokenizer (section 22).
 *  - for sentence-transformers directories (optional): modules.json (a
 *    sentence_transformers.models.Normalize module turns L2 normalisation on),
 *    1_Pooling/config.json (pooling_mode_mean_tokens or pooling_mode_cls_token; another mode is
 *    APH_ERR_INVALID_CONFIG naming it), sentence_bert_config.json (max_seq_length). Without
 *    them the pooling is the mean and nothing is normalised, as sentence-transformers does for
 *    a plain Hugging Face directory.
 * A missing required file is APH_ERR_IO naming it ("I/O error: {dir}/config.json: No such file
 * or directory").
 *
 * The graph the model builds (aph_model_graph) has inputs "input_ids" and "attention_mask", i64
 * ["batch", "seq"] (symbolic: one executor runs every batch size and sequence length, keeping
 * the plans of recent sizes), and one output "embeddings", f32 ["batch", dim]. It computes:
 * word embeddings + position embeddings (the `positions` of input_ids) + the first token-type
 * embedding (single texts: every token type id is 0), layer norm; per layer, self-attention
 * whose scores get (attention_mask - 1) * 1e30 added (padding keys weigh nothing), output
 * projection, residual and layer norm, then the feed-forward (linear, GELU, linear), residual
 * and layer norm (post-norm, eps from the configuration); then pooling: the mean of the hidden
 * states over the tokens the mask keeps (the count clamped to at least 1e-9, as
 * sentence-transformers does) or the first token's; then, when on, x / max(||x||, 1e-12).
 * Tokenisation is sentence-transformers': truncation to max_length tokens (special tokens
 * included; the max_seq_length of sentence_bert_config.json overrides tokenizer.json's own
 * truncation, 128 in all-MiniLM-L6-v2's file) and padding to the longest text of a batch.
 *
 * Threads: a model may be used by one thread at a time (it owns one executor); load one model
 * per thread to embed in parallel. aph_model_retain and aph_model_release may be called from
 * any thread.
 * ========================================================================================== */

typedef struct aph_model aph_model;

/** The pooling after the encoder: what 1_Pooling/config.json says for sentence-transformers
 *  directories (pooling_mode_mean_tokens / pooling_mode_cls_token); MEAN for a plain Hugging
 *  Face BERT directory (what sentence-transformers does when it loads one). */
typedef APH_ENUM(aph_pooling) {
    APH_POOLING_MEAN = 0, /* mean over the tokens the attention mask keeps */
    APH_POOLING_CLS = 1   /* the first token's ([CLS]) hidden state */
} aph_pooling;

/** Called by aph_model_embed after each batch, on the calling thread: done texts of total are
 *  embedded so far (done grows to total). It may not call functions of the model. */
typedef void (*aph_model_progress_fn)(void* user_data, size_t done, size_t total);

/** Options of aph_model_load. NULL means the directory's settings on the CPU; so does a struct
 *  zero-initialised with struct_size set (as everywhere in this header, 0 is the default), and
 *  so do fields past struct_size. */
typedef struct aph_model_options {
    size_t struct_size;   /* sizeof(aph_model_options) */
    aph_device* device;   /* NULL: the CPU (the model keeps its own reference) */
    size_t max_length;    /* tokens per text incl. [CLS]/[SEP]; 0: the directory's
                             (sentence_bert_config.json max_seq_length, else config.json
                             max_position_embeddings); more than max_position_embeddings, or
                             fewer than the tokenizer's special tokens:
                             APH_ERR_INVALID_ARGUMENT */
    size_t batch_size;    /* texts per executor run inside aph_model_embed; 0: 32 */
    int normalize;        /* 0: as the directory says (a Normalize module); > 0: always
                             L2-normalise; < 0: never */
    aph_model_progress_fn progress; /* NULL: none */
    void* progress_user_data;
    aph_matmul_precision matmul_precision; /* the encoder's linear layers (section 20's enum);
                                              0, also past struct_size: F32 */
} aph_model_options;

/** Loads the model directory dir (above) and builds its encoder graph and an executor on the
 *  device. *out is a new model with one reference (aph_model_release). Errors: APH_ERR_IO (a
 *  missing or unreadable file, naming it), APH_ERR_INVALID_CONFIG (model_type not bert,
 *  position_embedding_type not absolute, hidden_act not gelu, an unsupported pooling, a missing
 *  or mistyped key; naming the file, the key and the value), APH_ERR_SERIALIZATION (malformed
 *  JSON or safetensors), APH_ERR_NOT_FOUND (a weight key the graph needs that the checkpoint
 *  lacks, naming it and the file), APH_ERR_INVALID_ARGUMENT (NULL dir or out, an options
 *  struct_size below sizeof(size_t), an out-of-range max_length), APH_ERR_OUT_OF_MEMORY.
 *  Tokenizer errors as aph_tokenizer_load. */
APH_API aph_status aph_model_load(const char* dir, const aph_model_options* options,
                                  aph_model** out);
/** Models are reference counted: retain adds a reference, release drops one (NULL: no-op); the
 *  last release frees the executor, the tokenizer, the graph and the mapping of the weights. */
APH_API void aph_model_retain(aph_model* model);
APH_API void aph_model_release(aph_model* model);

/** The size of one embedding (hidden_size: 384 for all-MiniLM-L6-v2); 0 for NULL. */
APH_API size_t aph_model_embedding_dim(const aph_model* model);
/** The tokens per text after truncation, special tokens included (256 for all-MiniLM-L6-v2);
 *  0 for NULL. */
APH_API size_t aph_model_max_length(const aph_model* model);
/** The pooling (APH_POOLING_MEAN for NULL). */
APH_API aph_pooling aph_model_pooling(const aph_model* model);
/** 1 when the embeddings are L2-normalised, else 0 (also for NULL). */
APH_API int aph_model_normalizes(const aph_model* model);

/** Borrowed views of the model's parts, valid while the model lives (no new reference; NULL
 *  for a NULL model): the tokenizer, configured by the model (its file defaults
 *  APH_TRUNCATION_FROM_FILE and APH_PADDING_FROM_FILE are the model's: truncation to
 *  max_length, padding to the longest text); the graph (inputs "input_ids" and
 *  "attention_mask", i64 ["batch", "seq"]; output "embeddings", f32 ["batch", dim]; weight
 *  nodes named after the checkpoint's keys); the executor (weights bound; aph_model_embed
 *  rebinds its inputs on every batch, and calling it concurrently with aph_model_embed is the
 *  caller's race, as for any executor). */
APH_API const aph_tokenizer* aph_model_tokenizer(const aph_model* model);
APH_API const aph_graph* aph_model_graph(const aph_model* model);
APH_API aph_executor* aph_model_executor(aph_model* model);

/** Embeds count texts (UTF-8; texts[i] is text_lengths[i] bytes, or NUL-terminated when
 *  text_lengths is NULL; a text may be NULL only when its length is 0): tokenises them
 *  (truncating to max_length), sorts them by token count, runs the encoder in batches of
 *  batch_size texts padded to their longest, pools and normalises, and calls the progress
 *  callback after each batch. *out is a new contiguous f32 tensor [count, embedding_dim] on
 *  the CPU, row i for texts[i] ([0, dim] for count 0). Errors: APH_ERR_INVALID_ARGUMENT for a
 *  NULL model or out, NULL texts with count > 0, and the texts' errors of aph_tokenizer_encode
 *  (invalid UTF-8 naming texts[i]); the executor's otherwise (APH_ERR_OUT_OF_MEMORY, ...).
 *  Nothing is written on failure. Not thread-safe on one model. */
APH_API aph_status aph_model_embed(aph_model* model, const char* const* texts,
                                   const size_t* text_lengths, size_t count, aph_tensor** out);

/** The encoder on the caller's tokens: input_ids and attention_mask, i64 [batch, seq] of the
 *  same shape, seq at most max_position_embeddings (on any device: they are copied to the
 *  model's when elsewhere). *out is a new contiguous f32 tensor [batch, embedding_dim] on the
 *  CPU, pooled and normalised as aph_model_embed. Errors: APH_ERR_INVALID_ARGUMENT (NULL
 *  arguments, another dtype or rank, a token id outside the vocabulary), APH_ERR_SHAPE_MISMATCH
 *  (shapes that differ, seq over max_position_embeddings), the executor's otherwise. Nothing is
 *  written on failure. Not thread-safe on one model. */
APH_API aph_status aph_model_embed_tokens(aph_model* model, const aph_tensor* input_ids,
                                          const aph_tensor* attention_mask, aph_tensor** out);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* APHELION_H */
