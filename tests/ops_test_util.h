/* Helpers for the operation tests (test_ops_*.c): the device under test, fresh random inputs,
 * tensors in any float dtype built from double values, poisoned outputs, and comparison against
 * float64 references with per-dtype tolerances.
 *
 * The device: APH_TEST_DEVICE=cuda runs every test on cuda:0 (exit 77, skipped, when there is
 * none: a real GPU, or the simulated module when APHELION_CUDA_MODULE points at it); anything
 * else runs on the CPU. Inputs are drawn from a generator seeded from the clock (printed, and
 * fixed by APH_TEST_SEED=n to replay a failure). */
#ifndef APH_OPS_TEST_UTIL_H
#define APH_OPS_TEST_UTIL_H

#include "test_util.h"

#include <math.h>

/* Opens the device under test (exits 77 when CUDA is asked for and absent) and seeds the
 * generator. Call first in main(). */
void ot_init(void);
aph_device* ot_device(void);
int ot_is_cuda(void);
/* Releases the device (call at the end of main). */
void ot_fini(void);

/* Uniform in [lo, hi), never exactly 0. */
double ot_uniform(double lo, double hi);
void ot_fill(double* x, size_t n, double lo, double hi);
/* Uniform integer in [lo, hi]. */
int64_t ot_int(int64_t lo, int64_t hi);

/* The float dtypes of the device under test: f32, f16, bf16, plus f64 on the CPU. */
size_t ot_float_dtypes(aph_dtype out[4]);

/* v rounded to dtype (float dtypes; integers truncate), as the tensor would store it. */
double ot_round(aph_dtype dtype, double v);
/* Rounds n values in place (so references are computed from the exact stored inputs). */
void ot_round_all(aph_dtype dtype, double* x, size_t n);

/* A contiguous tensor on the device under test holding values (n = numel) converted to dtype
 * (floats, i32, i64, i8, u8). values may be NULL: uninitialised. */
aph_tensor* ot_tensor(aph_dtype dtype, const int64_t* shape, size_t ndim, const double* values);
/* The same values in a non-contiguous view: the storage has the last dimension doubled and the
 * view takes every other element (for ndim >= 1; a 0-dim tensor is returned contiguous). */
aph_tensor* ot_tensor_strided(aph_dtype dtype, const int64_t* shape, size_t ndim, const double* values);
/* A contiguous tensor whose every byte is 0xFF (NaN in every float dtype; -1 in integers). */
aph_tensor* ot_poisoned(aph_dtype dtype, const int64_t* shape, size_t ndim);
/* Reads any tensor (any strides) back as numel doubles (row-major); synchronous. Caller frees. */
double* ot_read(const aph_tensor* t);

/* The tolerance |got - want| <= atol + rtol·|want| for dtype, both scaled by `scale`
 * (1 for plain elementwise results; larger for long accumulations). */
void ot_tolerance(aph_dtype dtype, double scale, double* atol, double* rtol);
/* Fails (printing the first bad index, values, dtype, seed and what) unless every got[i] is
 * within the tolerance of want[i]; NaN matches only NaN, infinities only themselves. */
void ot_assert_close(const double* got, const double* want, size_t n, aph_dtype dtype, double scale, const char* what);

/* numel of a shape. */
int64_t ot_numel(const int64_t* shape, size_t ndim);

/* The seed in use (printed by ot_init). */
uint64_t ot_seed(void);

#endif
