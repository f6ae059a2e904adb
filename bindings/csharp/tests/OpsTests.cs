// Eager operations through the binding, against float64 references on fresh random inputs.
using System;
using System.Linq;
using Aphelion;

namespace Aphelion.Tests
{
    [TestClass]
    public static class OpsTests
    {
        static float[] Random(Random r, int n) { return Enumerable.Range(0, n).Select(i => (float)(r.NextDouble() * 4 - 2)).ToArray(); }

        public static void TestMatmulLinearSoftmaxAgainstFloat64()
        {
            var rng = new Random(Environment.TickCount);
            int m = 3, k = 5, n = 4;
            var a = Random(rng, m * k);
            var b = Random(rng, k * n);
            var bias = Random(rng, n);
            using (var ta = Tensor.FromArray(a, new long[] { m, k }))
            using (var tb = Tensor.FromArray(b, new long[] { k, n }))
            using (var tbias = Tensor.FromArray(bias))
            {
                using (var c = Ops.Matmul(ta, tb))
                {
                    Assert.SeqEqual(new long[] { m, n }, c.Shape, "matmul shape");
                    var cv = c.ToFloatArray();
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < n; j++)
                        {
                            double s = 0;
                            for (int q = 0; q < k; q++) s += (double)a[i * k + q] * b[q * n + j];
                            Assert.Close(s, cv[i * n + j], 1e-4, "matmul[" + i + "," + j + "]");
                        }
                }
                using (var bt = tb.Transpose(0, 1)) using (var w = bt.Contiguous())
                using (var l = Ops.Linear(ta, w, tbias))
                using (var c = Ops.Matmul(ta, tb))
                using (var c2 = Ops.Add(c, tbias))
                {
                    var lv = l.ToFloatArray(); var cv = c2.ToFloatArray();
                    for (int i = 0; i < lv.Length; i++) Assert.Close(cv[i], lv[i], 1e-4, "linear == matmul + bias");
                }
                using (var sm = Ops.Softmax(ta))
                {
                    var v = sm.ToFloatArray();
                    for (int i = 0; i < m; i++)
                    {
                        double max = Enumerable.Range(0, k).Max(q => (double)a[i * k + q]);
                        double z = Enumerable.Range(0, k).Sum(q => Math.Exp(a[i * k + q] - max));
                        for (int q = 0; q < k; q++) Assert.Close(Math.Exp(a[i * k + q] - max) / z, v[i * k + q], 1e-6, "softmax");
                    }
                }
                using (var s = Ops.Sum(ta, -1)) using (var am = Ops.Argmax(ta, 1))
                {
                    Assert.SeqEqual(new long[] { m }, s.Shape, "sum shape");
                    for (int i = 0; i < m; i++)
                    {
                        Assert.Close(Enumerable.Range(0, k).Sum(q => (double)a[i * k + q]), s.ToFloatArray()[i], 1e-5, "sum");
                        var row = a.Skip(i * k).Take(k).ToList();
                        Assert.Equal((long)row.IndexOf(row.Max()), am.ToInt64Array()[i], "argmax");
                    }
                }
                // A given out of the wrong shape is the library's error; in place works.
                using (var bad = Tensor.Zeros(DType.F32, new long[] { 2, 2 }))
                    Assert.Throws<ShapeMismatchException>(() => Ops.Matmul(ta, tb, @out: bad), "wrong out shape");
                using (var x = Tensor.FromArray(new float[] { -1, 2 }))
                {
                    Ops.Relu(x, x);
                    Assert.SeqEqual(new float[] { 0, 2 }, x.ToFloatArray(), "in place");
                    using (var h = Ops.Cast(x, DType.F64)) Assert.SeqEqual(new double[] { 0, 2 }, h.ToDoubleArray(), "cast");
                }
            }
        }
    }
}
