package aphelion

/*
#include "calls_generated.h"
*/
import "C"

// Operations (header section 14). Every operation writes into out, a tensor the caller made
// with the exact shape and dtype the header documents for it, on the inputs' device; stream nil
// means the device's default stream. Operations may be called from many goroutines at once;
// two calls writing the same memory at once race, as in C. Optional tensor arguments (bias,
// mask) may be nil.

// op locks the tensors and the stream for one C call.
func op(stream *Stream, tensors []*Tensor, names []string, optional []bool,
	f func(ts []*C.aph_tensor, s *C.aph_stream, cerr **C.char) C.aph_status) error {
	var ps pins
	defer ps.release()
	ptrs := make([]*C.aph_tensor, len(tensors))
	for i, t := range tensors {
		p, err := ps.tensor(t, names[i], optional != nil && optional[i])
		if err != nil {
			return err
		}
		ptrs[i] = p
	}
	sp, err := ps.stream(stream)
	if err != nil {
		return err
	}
	var cerr *C.char
	return check(f(ptrs, sp, &cerr), cerr)
}

// Matmul: out = alpha · op(a) · op(b) + beta · out (op transposes the last two dimensions when
// asked); batch dimensions broadcast.
func Matmul(a, b *Tensor, transposeA, transposeB bool, alpha, beta float64, out *Tensor, stream *Stream) error {
	return op(stream, []*Tensor{a, b, out}, []string{"a", "b", "out"}, nil,
		func(t []*C.aph_tensor, s *C.aph_stream, cerr **C.char) C.aph_status {
			return C.go_aph_op_matmul(t[0], t[1], cbool(transposeA), cbool(transposeB), C.double(alpha), C.double(beta), t[2], s, cerr)
		})
}

// Linear: out = x · weightᵀ + bias (bias may be nil).
func Linear(x, weight, bias, out *Tensor, stream *Stream) error {
	return op(stream, []*Tensor{x, weight, bias, out}, []string{"x", "weight", "bias", "out"}, []bool{false, false, true, false},
		func(t []*C.aph_tensor, s *C.aph_stream, cerr **C.char) C.aph_status {
			return C.go_aph_op_linear(t[0], t[1], t[2], t[3], s, cerr)
		})
}

// Binary: out = a (op) b elementwise, numpy broadcasting.
func Binary(o BinaryOp, a, b, out *Tensor, stream *Stream) error {
	return op(stream, []*Tensor{a, b, out}, []string{"a", "b", "out"}, nil,
		func(t []*C.aph_tensor, s *C.aph_stream, cerr **C.char) C.aph_status {
			return C.go_aph_op_binary(C.aph_binary_op(o), t[0], t[1], t[2], s, cerr)
		})
}

// BinaryScalar: out = a (op) scalar elementwise (out may be a).
func BinaryScalar(o BinaryOp, a *Tensor, scalar float64, out *Tensor, stream *Stream) error {
	return op(stream, []*Tensor{a, out}, []string{"a", "out"}, nil,
		func(t []*C.aph_tensor, s *C.aph_stream, cerr **C.char) C.aph_status {
			return C.go_aph_op_binary_scalar(C.aph_binary_op(o), t[0], C.double(scalar), t[1], s, cerr)
		})
}

// Add, Sub, Mul, Div, Maximum and Minimum are Binary with that operation.
func Add(a, b, out *Tensor, stream *Stream) error { return Binary(BinaryOpAdd, a, b, out, stream) }
func Sub(a, b, out *Tensor, stream *Stream) error { return Binary(BinaryOpSub, a, b, out, stream) }
func Mul(a, b, out *Tensor, stream *Stream) error { return Binary(BinaryOpMul, a, b, out, stream) }
func Div(a, b, out *Tensor, stream *Stream) error { return Binary(BinaryOpDiv, a, b, out, stream) }
func Maximum(a, b, out *Tensor, stream *Stream) error {
	return Binary(BinaryOpMaximum, a, b, out, stream)
}
func Minimum(a, b, out *Tensor, stream *Stream) error {
	return Binary(BinaryOpMinimum, a, b, out, stream)
}

// Unary: out = op(x) elementwise (out may be x).
func Unary(o UnaryOp, x, out *Tensor, stream *Stream) error {
	return op(stream, []*Tensor{x, out}, []string{"x", "out"}, nil,
		func(t []*C.aph_tensor, s *C.aph_stream, cerr **C.char) C.aph_status {
			return C.go_aph_op_unary(C.aph_unary_op(o), t[0], t[1], s, cerr)
		})
}

// Relu, Gelu, ... are Unary with that operation.
func Relu(x, out *Tensor, stream *Stream) error    { return Unary(UnaryOpRelu, x, out, stream) }
func Gelu(x, out *Tensor, stream *Stream) error    { return Unary(UnaryOpGelu, x, out, stream) }
func Silu(x, out *Tensor, stream *Stream) error    { return Unary(UnaryOpSilu, x, out, stream) }
func Tanh(x, out *Tensor, stream *Stream) error    { return Unary(UnaryOpTanh, x, out, stream) }
func Sigmoid(x, out *Tensor, stream *Stream) error { return Unary(UnaryOpSigmoid, x, out, stream) }
func Exp(x, out *Tensor, stream *Stream) error     { return Unary(UnaryOpExp, x, out, stream) }

// BiasActivation: out = activation(x + bias) (bias may be nil).
func BiasActivation(x, bias *Tensor, activation Activation, out *Tensor, stream *Stream) error {
	return op(stream, []*Tensor{x, bias, out}, []string{"x", "bias", "out"}, []bool{false, true, false},
		func(t []*C.aph_tensor, s *C.aph_stream, cerr **C.char) C.aph_status {
			return C.go_aph_op_bias_activation(t[0], t[1], C.aph_activation(activation), t[2], s, cerr)
		})
}

// Softmax over the last dimension.
func Softmax(x, out *Tensor, stream *Stream) error {
	return op(stream, []*Tensor{x, out}, []string{"x", "out"}, nil,
		func(t []*C.aph_tensor, s *C.aph_stream, cerr **C.char) C.aph_status {
			return C.go_aph_op_softmax(t[0], t[1], s, cerr)
		})
}

// LogSoftmax over the last dimension.
func LogSoftmax(x, out *Tensor, stream *Stream) error {
	return op(stream, []*Tensor{x, out}, []string{"x", "out"}, nil,
		func(t []*C.aph_tensor, s *C.aph_stream, cerr **C.char) C.aph_status {
			return C.go_aph_op_log_softmax(t[0], t[1], s, cerr)
		})
}

// LayerNorm over the last dimension (weight and bias may be nil).
func LayerNorm(x, weight, bias *Tensor, eps float64, out *Tensor, stream *Stream) error {
	return op(stream, []*Tensor{x, weight, bias, out}, []string{"x", "weight", "bias", "out"}, []bool{false, true, true, false},
		func(t []*C.aph_tensor, s *C.aph_stream, cerr **C.char) C.aph_status {
			return C.go_aph_op_layer_norm(t[0], t[1], t[2], C.double(eps), t[3], s, cerr)
		})
}

// RMSNorm over the last dimension (weight may be nil).
func RMSNorm(x, weight *Tensor, eps float64, out *Tensor, stream *Stream) error {
	return op(stream, []*Tensor{x, weight, out}, []string{"x", "weight", "out"}, []bool{false, true, false},
		func(t []*C.aph_tensor, s *C.aph_stream, cerr **C.char) C.aph_status {
			return C.go_aph_op_rms_norm(t[0], t[1], C.double(eps), t[2], s, cerr)
		})
}

// Reduce (sum, mean, max) along dim.
func Reduce(o ReduceOp, x *Tensor, dim int64, keepdim bool, out *Tensor, stream *Stream) error {
	return op(stream, []*Tensor{x, out}, []string{"x", "out"}, nil,
		func(t []*C.aph_tensor, s *C.aph_stream, cerr **C.char) C.aph_status {
			return C.go_aph_op_reduce(C.aph_reduce_op(o), t[0], C.int64_t(dim), cbool(keepdim), t[1], s, cerr)
		})
}

// Argmax along dim (out is i64).
func Argmax(x *Tensor, dim int64, keepdim bool, out *Tensor, stream *Stream) error {
	return op(stream, []*Tensor{x, out}, []string{"x", "out"}, nil,
		func(t []*C.aph_tensor, s *C.aph_stream, cerr **C.char) C.aph_status {
			return C.go_aph_op_argmax(t[0], C.int64_t(dim), cbool(keepdim), t[1], s, cerr)
		})
}

// Rope applies rotary position embeddings (positions may be nil: 0, 1, 2, ...).
func Rope(x, positions *Tensor, theta float64, layout RopeLayout, out *Tensor, stream *Stream) error {
	return op(stream, []*Tensor{x, positions, out}, []string{"x", "positions", "out"}, []bool{false, true, false},
		func(t []*C.aph_tensor, s *C.aph_stream, cerr **C.char) C.aph_status {
			return C.go_aph_op_rope(t[0], t[1], C.double(theta), C.aph_rope_layout(layout), t[2], s, cerr)
		})
}

// Embedding looks up ids' rows of table.
func Embedding(table, ids, out *Tensor, stream *Stream) error {
	return op(stream, []*Tensor{table, ids, out}, []string{"table", "ids", "out"}, nil,
		func(t []*C.aph_tensor, s *C.aph_stream, cerr **C.char) C.aph_status {
			return C.go_aph_op_embedding(t[0], t[1], t[2], s, cerr)
		})
}

// Positions writes each element's index along dim.
func Positions(x *Tensor, dim int64, out *Tensor, stream *Stream) error {
	return op(stream, []*Tensor{x, out}, []string{"x", "out"}, nil,
		func(t []*C.aph_tensor, s *C.aph_stream, cerr **C.char) C.aph_status {
			return C.go_aph_op_positions(t[0], C.int64_t(dim), t[1], s, cerr)
		})
}

// Cast converts x to out's dtype.
func Cast(x, out *Tensor, stream *Stream) error {
	return op(stream, []*Tensor{x, out}, []string{"x", "out"}, nil,
		func(t []*C.aph_tensor, s *C.aph_stream, cerr **C.char) C.aph_status {
			return C.go_aph_op_cast(t[0], t[1], s, cerr)
		})
}

// Attention is scaled dot-product attention (mask may be nil).
func Attention(q, k, v, mask *Tensor, scale float64, causal bool, out *Tensor, stream *Stream) error {
	return op(stream, []*Tensor{q, k, v, mask, out}, []string{"q", "k", "v", "mask", "out"}, []bool{false, false, false, true, false},
		func(t []*C.aph_tensor, s *C.aph_stream, cerr **C.char) C.aph_status {
			return C.go_aph_op_attention(t[0], t[1], t[2], t[3], C.double(scale), cbool(causal), t[4], s, cerr)
		})
}

// Quantize x with scheme into q and its scales (axis < 0: per-tensor scales).
func Quantize(scheme QuantScheme, x *Tensor, axis int64, q, scale *Tensor, stream *Stream) error {
	return op(stream, []*Tensor{x, q, scale}, []string{"x", "q", "scale"}, nil,
		func(t []*C.aph_tensor, s *C.aph_stream, cerr **C.char) C.aph_status {
			return C.go_aph_quantize(C.aph_quant_scheme(scheme), t[0], C.int64_t(axis), t[1], t[2], s, cerr)
		})
}

// Dequantize q with its scales into out.
func Dequantize(scheme QuantScheme, q, scale *Tensor, axis int64, out *Tensor, stream *Stream) error {
	return op(stream, []*Tensor{q, scale, out}, []string{"q", "scale", "out"}, nil,
		func(t []*C.aph_tensor, s *C.aph_stream, cerr **C.char) C.aph_status {
			return C.go_aph_dequantize(C.aph_quant_scheme(scheme), t[0], t[1], C.int64_t(axis), t[2], s, cerr)
		})
}

// TernaryMatmul multiplies x by packed ternary weights with their scales.
func TernaryMatmul(x, packed, scale, out *Tensor, stream *Stream) error {
	return op(stream, []*Tensor{x, packed, scale, out}, []string{"x", "packed", "scale", "out"}, nil,
		func(t []*C.aph_tensor, s *C.aph_stream, cerr **C.char) C.aph_status {
			return C.go_aph_op_ternary_matmul(t[0], t[1], t[2], t[3], s, cerr)
		})
}

// GRUCell computes one GRU step (the biases may be nil).
func GRUCell(x, h, wIH, wHH, bIH, bHH, out *Tensor, stream *Stream) error {
	return op(stream, []*Tensor{x, h, wIH, wHH, bIH, bHH, out}, []string{"x", "h", "w_ih", "w_hh", "b_ih", "b_hh", "out"},
		[]bool{false, false, false, false, true, true, false},
		func(t []*C.aph_tensor, s *C.aph_stream, cerr **C.char) C.aph_status {
			return C.go_aph_op_gru_cell(t[0], t[1], t[2], t[3], t[4], t[5], t[6], s, cerr)
		})
}
