package aphelion

/*
#include "calls_generated.h"
*/
import "C"

import "encoding/json"

// Size is the dtype's size in bytes (0 for an invalid value).
func (d DType) Size() int { return int(C.aph_dtype_size(C.aph_dtype(d))) }

// Name is the library's canonical name ("f32", ...; "invalid" outside the enum).
func (d DType) Name() string { return C.GoString(C.aph_dtype_name(C.aph_dtype(d))) }

// IsFloatingPoint reports f16, bf16, f32, f64 and the fp8 dtypes.
func (d DType) IsFloatingPoint() bool { return C.aph_dtype_is_floating_point(C.aph_dtype(d)) != 0 }

// IsHalfPrecision reports f16 and bf16.
func (d DType) IsHalfPrecision() bool { return C.aph_dtype_is_half_precision(C.aph_dtype(d)) != 0 }

// IsTraining reports the dtypes weights are trained in (f16, bf16, f32).
func (d DType) IsTraining() bool { return C.aph_dtype_is_training(C.aph_dtype(d)) != 0 }

// IsInteger reports u8, u32, i8, i16, i32, i64.
func (d DType) IsInteger() bool { return C.aph_dtype_is_integer(C.aph_dtype(d)) != 0 }

// Accumulator is the dtype sums of d accumulate in.
func (d DType) Accumulator() DType { return DType(C.aph_dtype_accumulator(C.aph_dtype(d))) }

// ParseDType parses a canonical name or an alias ("float32", "bfloat16", ...).
func ParseDType(name string) (DType, error) {
	cn := cstr(name)
	var out C.aph_dtype
	var cerr *C.char
	err := check(C.go_aph_dtype_from_name(cn, &out, &cerr), cerr)
	return DType(out), err
}

// ComputeDType is the dtype a precision mode computes in.
func (m PrecisionMode) ComputeDType() DType {
	return DType(C.aph_precision_compute_dtype(C.aph_precision_mode(m)))
}

// MasterWeightDType is the dtype a precision mode keeps master weights in.
func (m PrecisionMode) MasterWeightDType() DType {
	return DType(C.aph_precision_master_weight_dtype(C.aph_precision_mode(m)))
}

// RequiresLossScaling reports whether a precision mode needs loss scaling.
func (m PrecisionMode) RequiresLossScaling() bool {
	return C.aph_precision_requires_loss_scaling(C.aph_precision_mode(m)) != 0
}

// EstimateTensorBytes is product(shape) × dtype size.
func EstimateTensorBytes(shape []int64, dtype DType) (uint64, error) {
	var out C.uint64_t
	var cerr *C.char
	err := check(C.go_aph_estimate_tensor_bytes(shapePtr(shape), C.size_t(len(shape)), C.aph_dtype(dtype), &out, &cerr), cerr)
	return uint64(out), err
}

// EstimateAttentionBytes is the memory of a naive attention forward pass.
func EstimateAttentionBytes(batch, heads, seqLen, headDim uint64, dtype DType) (uint64, error) {
	var out C.uint64_t
	var cerr *C.char
	err := check(C.go_aph_estimate_attention_bytes(C.uint64_t(batch), C.uint64_t(heads), C.uint64_t(seqLen),
		C.uint64_t(headDim), C.aph_dtype(dtype), &out, &cerr), cerr)
	return uint64(out), err
}

// jsonObject writes a map of strings as a JSON object (encoding/json sorts the keys).
func jsonObject(m map[string]string) string {
	b, _ := json.Marshal(m) // a map[string]string always marshals
	return string(b)
}
