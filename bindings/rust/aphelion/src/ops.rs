//! Eager operations (header section 14). Inputs are `&Tensor`, the caller-made output is
//! `&mut Tensor` with the documented shape and dtype, and `stream` is the optional trailing
//! argument (`None`: the tensors' device's default stream). Each call holds the tensors'
//! borrow flags while it runs (see [`crate::tensor`]), so it never races a live slice.

use std::ptr;

use aphelion_sys as sys;

use crate::device::{stream_ptr, Stream};
use crate::error::{check, Result};
use crate::tensor::{Access, Tensor};
use crate::types::{Activation, BinaryOp, QuantScheme, ReduceOp, RopeLayout, UnaryOp};

fn opt(t: Option<&Tensor>) -> *const sys::aph_tensor {
    t.map_or(ptr::null(), |t| t.as_raw() as *const _)
}

/// `out = alpha · op(a) · op(b) + beta · out`.
#[allow(clippy::too_many_arguments)]
pub fn matmul(a: &Tensor, b: &Tensor, transpose_a: bool, transpose_b: bool, alpha: f64, beta: f64,
              out: &mut Tensor, stream: Option<&Stream>) -> Result<()> {
    // beta != 0 reads out: the exclusive borrow covers it.
    let _x = Access::new(&[Some(a), Some(b)], &[Some(out)])?;
    check(unsafe {
        sys::aph_op_matmul(a.as_raw(), b.as_raw(), transpose_a as i32, transpose_b as i32, alpha, beta,
                           out.as_raw(), stream_ptr(stream))
    })
}

/// `out = x · weightᵀ + bias`.
pub fn linear(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>, out: &mut Tensor, stream: Option<&Stream>) -> Result<()> {
    let _x = Access::new(&[Some(x), Some(weight), bias], &[Some(out)])?;
    check(unsafe { sys::aph_op_linear(x.as_raw(), weight.as_raw(), opt(bias), out.as_raw(), stream_ptr(stream)) })
}

/// `out = a (op) b` with numpy broadcasting.
pub fn binary(op: BinaryOp, a: &Tensor, b: &Tensor, out: &mut Tensor, stream: Option<&Stream>) -> Result<()> {
    let _x = Access::new(&[Some(a), Some(b)], &[Some(out)])?;
    check(unsafe { sys::aph_op_binary(op.raw(), a.as_raw(), b.as_raw(), out.as_raw(), stream_ptr(stream)) })
}

/// `out = a (op) scalar`.
pub fn binary_scalar(op: BinaryOp, a: &Tensor, scalar: f64, out: &mut Tensor, stream: Option<&Stream>) -> Result<()> {
    let _x = Access::new(&[Some(a)], &[Some(out)])?;
    check(unsafe { sys::aph_op_binary_scalar(op.raw(), a.as_raw(), scalar, out.as_raw(), stream_ptr(stream)) })
}

/// `x = x (op) scalar`, in place.
pub fn binary_scalar_(op: BinaryOp, x: &mut Tensor, scalar: f64, stream: Option<&Stream>) -> Result<()> {
    let _x = Access::new(&[], &[Some(x)])?;
    check(unsafe { sys::aph_op_binary_scalar(op.raw(), x.as_raw(), scalar, x.as_raw(), stream_ptr(stream)) })
}

macro_rules! binary_fns {
    ($($name:ident => $op:ident),*) => {$(
        #[doc = concat!("`out = a ", stringify!($name), " b` (see [`binary`]).")]
        pub fn $name(a: &Tensor, b: &Tensor, out: &mut Tensor, stream: Option<&Stream>) -> Result<()> {
            binary(BinaryOp::$op, a, b, out, stream)
        }
    )*};
}
binary_fns!(add => ADD, sub => SUB, mul => MUL, div => DIV, maximum => MAXIMUM, minimum => MINIMUM);

/// `out = op(x)`.
pub fn unary(op: UnaryOp, x: &Tensor, out: &mut Tensor, stream: Option<&Stream>) -> Result<()> {
    let _x = Access::new(&[Some(x)], &[Some(out)])?;
    check(unsafe { sys::aph_op_unary(op.raw(), x.as_raw(), out.as_raw(), stream_ptr(stream)) })
}

/// `x = op(x)`, in place.
pub fn unary_(op: UnaryOp, x: &mut Tensor, stream: Option<&Stream>) -> Result<()> {
    let _x = Access::new(&[], &[Some(x)])?;
    check(unsafe { sys::aph_op_unary(op.raw(), x.as_raw(), x.as_raw(), stream_ptr(stream)) })
}

macro_rules! unary_fns {
    ($($name:ident => $op:ident),*) => {$(
        #[doc = concat!("`out = ", stringify!($name), "(x)` (see [`unary`]).")]
        pub fn $name(x: &Tensor, out: &mut Tensor, stream: Option<&Stream>) -> Result<()> {
            unary(UnaryOp::$op, x, out, stream)
        }
    )*};
}
unary_fns!(relu => RELU, gelu => GELU, gelu_tanh => GELU_TANH, silu => SILU, tanh => TANH,
           sigmoid => SIGMOID, exp => EXP, log => LOG, neg => NEG, sqrt => SQRT, rsqrt => RSQRT,
           abs => ABS);

/// `out = act(x + bias)`.
pub fn bias_activation(x: &Tensor, bias: &Tensor, activation: Activation, out: &mut Tensor, stream: Option<&Stream>) -> Result<()> {
    let _x = Access::new(&[Some(x), Some(bias)], &[Some(out)])?;
    check(unsafe { sys::aph_op_bias_activation(x.as_raw(), bias.as_raw(), activation.raw(), out.as_raw(), stream_ptr(stream)) })
}

/// Softmax over the last dimension.
pub fn softmax(x: &Tensor, out: &mut Tensor, stream: Option<&Stream>) -> Result<()> {
    let _x = Access::new(&[Some(x)], &[Some(out)])?;
    check(unsafe { sys::aph_op_softmax(x.as_raw(), out.as_raw(), stream_ptr(stream)) })
}

/// log(softmax(x)) over the last dimension.
pub fn log_softmax(x: &Tensor, out: &mut Tensor, stream: Option<&Stream>) -> Result<()> {
    let _x = Access::new(&[Some(x)], &[Some(out)])?;
    check(unsafe { sys::aph_op_log_softmax(x.as_raw(), out.as_raw(), stream_ptr(stream)) })
}

/// Layer normalisation over the last dimension.
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>, eps: f64, out: &mut Tensor, stream: Option<&Stream>) -> Result<()> {
    let _x = Access::new(&[Some(x), Some(weight), bias], &[Some(out)])?;
    check(unsafe { sys::aph_op_layer_norm(x.as_raw(), weight.as_raw(), opt(bias), eps, out.as_raw(), stream_ptr(stream)) })
}

/// RMS normalisation over the last dimension.
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64, out: &mut Tensor, stream: Option<&Stream>) -> Result<()> {
    let _x = Access::new(&[Some(x), Some(weight)], &[Some(out)])?;
    check(unsafe { sys::aph_op_rms_norm(x.as_raw(), weight.as_raw(), eps, out.as_raw(), stream_ptr(stream)) })
}

/// Reduces `x` along `dim`.
pub fn reduce(op: ReduceOp, x: &Tensor, dim: i64, keepdim: bool, out: &mut Tensor, stream: Option<&Stream>) -> Result<()> {
    let _x = Access::new(&[Some(x)], &[Some(out)])?;
    check(unsafe { sys::aph_op_reduce(op.raw(), x.as_raw(), dim, keepdim as i32, out.as_raw(), stream_ptr(stream)) })
}

/// Sum along `dim` (see [`reduce`]).
pub fn sum(x: &Tensor, dim: i64, keepdim: bool, out: &mut Tensor, stream: Option<&Stream>) -> Result<()> {
    reduce(ReduceOp::SUM, x, dim, keepdim, out, stream)
}
/// Mean along `dim` (see [`reduce`]).
pub fn mean(x: &Tensor, dim: i64, keepdim: bool, out: &mut Tensor, stream: Option<&Stream>) -> Result<()> {
    reduce(ReduceOp::MEAN, x, dim, keepdim, out, stream)
}
/// Maximum along `dim` (see [`reduce`]).
pub fn max(x: &Tensor, dim: i64, keepdim: bool, out: &mut Tensor, stream: Option<&Stream>) -> Result<()> {
    reduce(ReduceOp::MAX, x, dim, keepdim, out, stream)
}

/// The index of the largest element along `dim` (out is i64).
pub fn argmax(x: &Tensor, dim: i64, keepdim: bool, out: &mut Tensor, stream: Option<&Stream>) -> Result<()> {
    let _x = Access::new(&[Some(x)], &[Some(out)])?;
    check(unsafe { sys::aph_op_argmax(x.as_raw(), dim, keepdim as i32, out.as_raw(), stream_ptr(stream)) })
}

/// Rotary position embedding.
pub fn rope(x: &Tensor, positions: &Tensor, theta: f64, layout: RopeLayout, out: &mut Tensor, stream: Option<&Stream>) -> Result<()> {
    let _x = Access::new(&[Some(x), Some(positions)], &[Some(out)])?;
    check(unsafe { sys::aph_op_rope(x.as_raw(), positions.as_raw(), theta, layout.raw(), out.as_raw(), stream_ptr(stream)) })
}

/// Embedding lookup: `out[..., :] = table[ids[...], :]`.
pub fn embedding(table: &Tensor, ids: &Tensor, out: &mut Tensor, stream: Option<&Stream>) -> Result<()> {
    let _x = Access::new(&[Some(table), Some(ids)], &[Some(out)])?;
    check(unsafe { sys::aph_op_embedding(table.as_raw(), ids.as_raw(), out.as_raw(), stream_ptr(stream)) })
}

/// The positions 0..n of dimension `dim` of `x` (out: i64 [n]).
pub fn positions(x: &Tensor, dim: i64, out: &mut Tensor, stream: Option<&Stream>) -> Result<()> {
    let _x = Access::new(&[], &[Some(out)])?; // x is only measured
    check(unsafe { sys::aph_op_positions(x.as_raw(), dim, out.as_raw(), stream_ptr(stream)) })
}

/// Converts `x` into `out`'s dtype.
pub fn cast(x: &Tensor, out: &mut Tensor, stream: Option<&Stream>) -> Result<()> {
    let _x = Access::new(&[Some(x)], &[Some(out)])?;
    check(unsafe { sys::aph_op_cast(x.as_raw(), out.as_raw(), stream_ptr(stream)) })
}

/// Scaled dot-product attention (FlashAttention style).
#[allow(clippy::too_many_arguments)]
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>, scale: f64, causal: bool,
                 out: &mut Tensor, stream: Option<&Stream>) -> Result<()> {
    let _x = Access::new(&[Some(q), Some(k), Some(v), mask], &[Some(out)])?;
    check(unsafe {
        sys::aph_op_attention(q.as_raw(), k.as_raw(), v.as_raw(), opt(mask), scale, causal as i32, out.as_raw(), stream_ptr(stream))
    })
}

/// Quantizes `x` into `out_q` and `out_scale`.
pub fn quantize(scheme: QuantScheme, x: &Tensor, axis: i64, out_q: &mut Tensor, out_scale: &mut Tensor, stream: Option<&Stream>) -> Result<()> {
    let _x = Access::new(&[Some(x)], &[Some(out_q), Some(out_scale)])?;
    check(unsafe { sys::aph_quantize(scheme.raw(), x.as_raw(), axis, out_q.as_raw(), out_scale.as_raw(), stream_ptr(stream)) })
}

/// The inverse of [`quantize`].
pub fn dequantize(scheme: QuantScheme, q: &Tensor, scale: &Tensor, axis: i64, out: &mut Tensor, stream: Option<&Stream>) -> Result<()> {
    let _x = Access::new(&[Some(q), Some(scale)], &[Some(out)])?;
    check(unsafe { sys::aph_dequantize(scheme.raw(), q.as_raw(), scale.as_raw(), axis, out.as_raw(), stream_ptr(stream)) })
}

/// `out = x · Wᵀ · scale` with packed ternary weights.
pub fn ternary_matmul(x: &Tensor, packed: &Tensor, scale: &Tensor, out: &mut Tensor, stream: Option<&Stream>) -> Result<()> {
    let _x = Access::new(&[Some(x), Some(packed), Some(scale)], &[Some(out)])?;
    check(unsafe { sys::aph_op_ternary_matmul(x.as_raw(), packed.as_raw(), scale.as_raw(), out.as_raw(), stream_ptr(stream)) })
}

/// One step of a GRU cell (PyTorch's nn.GRUCell).
#[allow(clippy::too_many_arguments)]
pub fn gru_cell(x: &Tensor, h: &Tensor, w_ih: &Tensor, w_hh: &Tensor, b_ih: Option<&Tensor>, b_hh: Option<&Tensor>,
                out: &mut Tensor, stream: Option<&Stream>) -> Result<()> {
    let _x = Access::new(&[Some(x), Some(h), Some(w_ih), Some(w_hh), b_ih, b_hh], &[Some(out)])?;
    check(unsafe {
        sys::aph_op_gru_cell(x.as_raw(), h.as_raw(), w_ih.as_raw(), w_hh.as_raw(), opt(b_ih), opt(b_hh), out.as_raw(), stream_ptr(stream))
    })
}
