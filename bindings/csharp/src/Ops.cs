// The eager operations of header section 14: each takes its inputs, an optional out (made by the
// binding with the documented shape and dtype on the input's device when null) and an optional
// stream (null: the device's default stream). Hand-written.
using System;
using System.Linq;
using Aphelion.Native;

namespace Aphelion
{
    /// <summary>Eager operations on tensors (any device; results on the inputs' device).</summary>
    public static class Ops
    {
        static Tensor Make(Tensor like, DType dtype, long[] shape)
        {
            using (var d = like.Device) return Tensor.Create(dtype, shape, d);
        }

        // Runs a call that fills out; disposes a tensor this function made when the call fails.
        static Tensor Fill(Tensor given, Func<Tensor> make, Func<Tensor, Status> call)
        {
            Tensor o = given ?? make();
            try { Check.S(call(o)); }
            catch { if (given == null) o.Dispose(); throw; }
            return o;
        }

        static StreamHandle S(Stream s) { return Stream.H(s); }
        static TensorHandle H(Tensor t) { return Tensor.H(t); }

        static long[] Broadcast(long[] a, long[] b)
        {
            int n = Math.Max(a.Length, b.Length);
            var r = new long[n];
            for (int i = 0; i < n; i++)
            {
                long x = i < n - a.Length ? 1 : a[i - (n - a.Length)];
                long y = i < n - b.Length ? 1 : b[i - (n - b.Length)];
                r[i] = x == 1 ? y : x; // a mismatch is the library's DIMENSION_MISMATCH
            }
            return r;
        }

        /// <summary>out = alpha · op(a) · op(b) + beta · out (batched, broadcast).</summary>
        public static Tensor Matmul(Tensor a, Tensor b, bool transposeA = false, bool transposeB = false,
                                    double alpha = 1, double beta = 0, Tensor @out = null, Stream stream = null)
        {
            Check.NotNull(a, "a"); Check.NotNull(b, "b");
            return Fill(@out, () =>
            {
                long[] sa = a.Shape, sb = b.Shape;
                if (sa.Length < 2 || sb.Length < 2) throw new ArgumentException("matmul needs at least 2 dimensions");
                long m = transposeA ? sa[sa.Length - 1] : sa[sa.Length - 2];
                long n = transposeB ? sb[sb.Length - 2] : sb[sb.Length - 1];
                var batch = Broadcast(sa.Take(sa.Length - 2).ToArray(), sb.Take(sb.Length - 2).ToArray());
                return Make(a, a.DType, batch.Concat(new[] { m, n }).ToArray());
            }, o => NativeMethods.aph_op_matmul(a.Handle, b.Handle, transposeA ? 1 : 0, transposeB ? 1 : 0, alpha, beta, o.Handle, S(stream)));
        }

        /// <summary>out = x · weightᵀ + bias (weight [N, K], PyTorch's layout).</summary>
        public static Tensor Linear(Tensor x, Tensor weight, Tensor bias = null, Tensor @out = null, Stream stream = null)
        {
            Check.NotNull(x, "x"); Check.NotNull(weight, "weight");
            return Fill(@out, () =>
            {
                var s = x.Shape;
                s[s.Length - 1] = weight.Shape[0];
                return Make(x, x.DType, s);
            }, o => NativeMethods.aph_op_linear(x.Handle, weight.Handle, H(bias), o.Handle, S(stream)));
        }

        /// <summary>a (op) b elementwise with numpy broadcasting.</summary>
        public static Tensor Binary(BinaryOp op, Tensor a, Tensor b, Tensor @out = null, Stream stream = null)
        {
            Check.NotNull(a, "a"); Check.NotNull(b, "b");
            return Fill(@out, () => Make(a, a.DType, Broadcast(a.Shape, b.Shape)),
                o => NativeMethods.aph_op_binary(op, a.Handle, b.Handle, o.Handle, S(stream)));
        }

        /// <summary>a (op) scalar elementwise.</summary>
        public static Tensor Binary(BinaryOp op, Tensor a, double scalar, Tensor @out = null, Stream stream = null)
        {
            Check.NotNull(a, "a");
            return Fill(@out, () => Make(a, a.DType, a.Shape),
                o => NativeMethods.aph_op_binary_scalar(op, a.Handle, scalar, o.Handle, S(stream)));
        }

        public static Tensor Add(Tensor a, Tensor b, Tensor @out = null, Stream stream = null) { return Binary(BinaryOp.Add, a, b, @out, stream); }
        public static Tensor Sub(Tensor a, Tensor b, Tensor @out = null, Stream stream = null) { return Binary(BinaryOp.Sub, a, b, @out, stream); }
        public static Tensor Mul(Tensor a, Tensor b, Tensor @out = null, Stream stream = null) { return Binary(BinaryOp.Mul, a, b, @out, stream); }
        public static Tensor Div(Tensor a, Tensor b, Tensor @out = null, Stream stream = null) { return Binary(BinaryOp.Div, a, b, @out, stream); }
        public static Tensor Maximum(Tensor a, Tensor b, Tensor @out = null, Stream stream = null) { return Binary(BinaryOp.Maximum, a, b, @out, stream); }
        public static Tensor Minimum(Tensor a, Tensor b, Tensor @out = null, Stream stream = null) { return Binary(BinaryOp.Minimum, a, b, @out, stream); }
        public static Tensor Add(Tensor a, double s, Tensor @out = null, Stream stream = null) { return Binary(BinaryOp.Add, a, s, @out, stream); }
        public static Tensor Mul(Tensor a, double s, Tensor @out = null, Stream stream = null) { return Binary(BinaryOp.Mul, a, s, @out, stream); }

        /// <summary>op(x) elementwise.</summary>
        public static Tensor Unary(UnaryOp op, Tensor x, Tensor @out = null, Stream stream = null)
        {
            Check.NotNull(x, "x");
            return Fill(@out, () => Make(x, x.DType, x.Shape), o => NativeMethods.aph_op_unary(op, x.Handle, o.Handle, S(stream)));
        }

        public static Tensor Relu(Tensor x, Tensor @out = null, Stream stream = null) { return Unary(UnaryOp.Relu, x, @out, stream); }
        public static Tensor Gelu(Tensor x, Tensor @out = null, Stream stream = null) { return Unary(UnaryOp.Gelu, x, @out, stream); }
        public static Tensor Silu(Tensor x, Tensor @out = null, Stream stream = null) { return Unary(UnaryOp.Silu, x, @out, stream); }
        public static Tensor Tanh(Tensor x, Tensor @out = null, Stream stream = null) { return Unary(UnaryOp.Tanh, x, @out, stream); }
        public static Tensor Sigmoid(Tensor x, Tensor @out = null, Stream stream = null) { return Unary(UnaryOp.Sigmoid, x, @out, stream); }
        public static Tensor Exp(Tensor x, Tensor @out = null, Stream stream = null) { return Unary(UnaryOp.Exp, x, @out, stream); }

        /// <summary>act(x + bias), bias [N].</summary>
        public static Tensor BiasActivation(Tensor x, Tensor bias, Activation activation, Tensor @out = null, Stream stream = null)
        {
            Check.NotNull(x, "x"); Check.NotNull(bias, "bias");
            return Fill(@out, () => Make(x, x.DType, x.Shape), o => NativeMethods.aph_op_bias_activation(x.Handle, bias.Handle, activation, o.Handle, S(stream)));
        }

        /// <summary>Softmax over the last dimension.</summary>
        public static Tensor Softmax(Tensor x, Tensor @out = null, Stream stream = null)
        {
            Check.NotNull(x, "x");
            return Fill(@out, () => Make(x, x.DType, x.Shape), o => NativeMethods.aph_op_softmax(x.Handle, o.Handle, S(stream)));
        }

        public static Tensor LogSoftmax(Tensor x, Tensor @out = null, Stream stream = null)
        {
            Check.NotNull(x, "x");
            return Fill(@out, () => Make(x, x.DType, x.Shape), o => NativeMethods.aph_op_log_softmax(x.Handle, o.Handle, S(stream)));
        }

        public static Tensor LayerNorm(Tensor x, Tensor weight, Tensor bias = null, double eps = 1e-5, Tensor @out = null, Stream stream = null)
        {
            Check.NotNull(x, "x"); Check.NotNull(weight, "weight");
            return Fill(@out, () => Make(x, x.DType, x.Shape), o => NativeMethods.aph_op_layer_norm(x.Handle, weight.Handle, H(bias), eps, o.Handle, S(stream)));
        }

        public static Tensor RmsNorm(Tensor x, Tensor weight, double eps = 1e-6, Tensor @out = null, Stream stream = null)
        {
            Check.NotNull(x, "x"); Check.NotNull(weight, "weight");
            return Fill(@out, () => Make(x, x.DType, x.Shape), o => NativeMethods.aph_op_rms_norm(x.Handle, weight.Handle, eps, o.Handle, S(stream)));
        }

        static long[] Reduced(long[] s, long dim, bool keepdim)
        {
            long d = dim < 0 ? dim + s.Length : dim;
            if (d < 0 || d >= s.Length) return s; // the library names the bad dim
            if (keepdim) { var r = (long[])s.Clone(); r[d] = 1; return r; }
            return s.Where((v, i) => i != d).ToArray();
        }

        /// <summary>Sum, mean or max over dimension dim.</summary>
        public static Tensor Reduce(ReduceOp op, Tensor x, long dim, bool keepdim = false, Tensor @out = null, Stream stream = null)
        {
            Check.NotNull(x, "x");
            return Fill(@out, () => Make(x, x.DType, Reduced(x.Shape, dim, keepdim)),
                o => NativeMethods.aph_op_reduce(op, x.Handle, dim, keepdim ? 1 : 0, o.Handle, S(stream)));
        }

        public static Tensor Sum(Tensor x, long dim, bool keepdim = false) { return Reduce(ReduceOp.Sum, x, dim, keepdim); }
        public static Tensor Mean(Tensor x, long dim, bool keepdim = false) { return Reduce(ReduceOp.Mean, x, dim, keepdim); }
        public static Tensor Max(Tensor x, long dim, bool keepdim = false) { return Reduce(ReduceOp.Max, x, dim, keepdim); }

        /// <summary>Indices (i64) of the largest values along dim.</summary>
        public static Tensor Argmax(Tensor x, long dim, bool keepdim = false, Tensor @out = null, Stream stream = null)
        {
            Check.NotNull(x, "x");
            return Fill(@out, () => Make(x, DType.I64, Reduced(x.Shape, dim, keepdim)),
                o => NativeMethods.aph_op_argmax(x.Handle, dim, keepdim ? 1 : 0, o.Handle, S(stream)));
        }

        /// <summary>Rotary position embedding of x [batch, seq, heads, head_dim].</summary>
        public static Tensor Rope(Tensor x, Tensor positions, double theta = 10000, RopeLayout layout = RopeLayout.Half, Tensor @out = null, Stream stream = null)
        {
            Check.NotNull(x, "x"); Check.NotNull(positions, "positions");
            return Fill(@out, () => Make(x, x.DType, x.Shape), o => NativeMethods.aph_op_rope(x.Handle, positions.Handle, theta, layout, o.Handle, S(stream)));
        }

        /// <summary>table[ids] (out [ids shape..., dim]).</summary>
        public static Tensor Embedding(Tensor table, Tensor ids, Tensor @out = null, Stream stream = null)
        {
            Check.NotNull(table, "table"); Check.NotNull(ids, "ids");
            return Fill(@out, () => Make(table, table.DType, ids.Shape.Concat(new[] { table.Shape[table.Shape.Length - 1] }).ToArray()),
                o => NativeMethods.aph_op_embedding(table.Handle, ids.Handle, o.Handle, S(stream)));
        }

        /// <summary>0, 1, ..., n - 1 (i64 [n]) for x's size n along dim.</summary>
        public static Tensor Positions(Tensor x, long dim, Tensor @out = null, Stream stream = null)
        {
            Check.NotNull(x, "x");
            return Fill(@out, () =>
            {
                var s = x.Shape;
                long d = dim < 0 ? dim + s.Length : dim;
                return Make(x, DType.I64, new[] { d >= 0 && d < s.Length ? s[d] : 0 });
            }, o => NativeMethods.aph_op_positions(x.Handle, dim, o.Handle, S(stream)));
        }

        /// <summary>x converted to dtype.</summary>
        public static Tensor Cast(Tensor x, DType dtype, Stream stream = null)
        {
            Check.NotNull(x, "x");
            return Fill(null, () => Make(x, dtype, x.Shape), o => NativeMethods.aph_op_cast(x.Handle, o.Handle, S(stream)));
        }

        /// <summary>x converted into out's dtype.</summary>
        public static Tensor Cast(Tensor x, Tensor @out, Stream stream = null)
        {
            Check.NotNull(x, "x"); Check.NotNull(@out, "out");
            return Fill(@out, null, o => NativeMethods.aph_op_cast(x.Handle, o.Handle, S(stream)));
        }

        /// <summary>Scaled dot-product attention; q [batch, seq_q, heads_q, head_dim], k and v
        /// [batch, seq_k, heads_kv, head_dim]; out has q's shape.</summary>
        public static Tensor Attention(Tensor q, Tensor k, Tensor v, Tensor mask = null, double scale = 0, bool causal = false, Tensor @out = null, Stream stream = null)
        {
            Check.NotNull(q, "q"); Check.NotNull(k, "k"); Check.NotNull(v, "v");
            return Fill(@out, () => Make(q, q.DType, q.Shape),
                o => NativeMethods.aph_op_attention(q.Handle, k.Handle, v.Handle, H(mask), scale, causal ? 1 : 0, o.Handle, S(stream)));
        }

        /// <summary>Quantizes x into outQ and outScale (made by the caller: their shapes and dtypes
        /// depend on the scheme, see aph_quant_scheme).</summary>
        public static void Quantize(QuantScheme scheme, Tensor x, long axis, Tensor outQ, Tensor outScale, Stream stream = null)
        {
            Check.S(NativeMethods.aph_quantize(scheme, Check.NotNull(x, "x").Handle, axis, Check.NotNull(outQ, "outQ").Handle, Check.NotNull(outScale, "outScale").Handle, S(stream)));
        }

        /// <summary>Dequantizes q with scale into out (made by the caller, x's shape and dtype).</summary>
        public static Tensor Dequantize(QuantScheme scheme, Tensor q, Tensor scale, long axis, Tensor @out, Stream stream = null)
        {
            Check.NotNull(q, "q"); Check.NotNull(scale, "scale"); Check.NotNull(@out, "out");
            return Fill(@out, null, o => NativeMethods.aph_dequantize(scheme, q.Handle, scale.Handle, axis, o.Handle, S(stream)));
        }

        /// <summary>x · Wᵀ · scale with packed ternary W [N, ceil(K/4)] (out [..., N]).</summary>
        public static Tensor TernaryMatmul(Tensor x, Tensor packed, Tensor scale, Tensor @out = null, Stream stream = null)
        {
            Check.NotNull(x, "x"); Check.NotNull(packed, "packed"); Check.NotNull(scale, "scale");
            return Fill(@out, () =>
            {
                var s = x.Shape;
                s[s.Length - 1] = packed.Shape[0];
                return Make(x, x.DType, s);
            }, o => NativeMethods.aph_op_ternary_matmul(x.Handle, packed.Handle, scale.Handle, o.Handle, S(stream)));
        }

        /// <summary>One GRU step (out [batch, hidden], h's shape).</summary>
        public static Tensor GruCell(Tensor x, Tensor h, Tensor wIh, Tensor wHh, Tensor bIh = null, Tensor bHh = null, Tensor @out = null, Stream stream = null)
        {
            Check.NotNull(x, "x"); Check.NotNull(h, "h"); Check.NotNull(wIh, "wIh"); Check.NotNull(wHh, "wHh");
            return Fill(@out, () => Make(h, h.DType, h.Shape),
                o => NativeMethods.aph_op_gru_cell(x.Handle, h.Handle, wIh.Handle, wHh.Handle, H(bIh), H(bHh), o.Handle, S(stream)));
        }
    }
}
