// Library loading, errors, devices, tensors and data, disposal, graphs and executors.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Aphelion;
using Aphelion.Native;

namespace Aphelion.Tests
{
    [TestClass]
    public static class CoreTests
    {
        public static void TestVersion()
        {
            string v = Library.Version;
            Assert.True(v.StartsWith("0.2."), "library version " + v + " is 0.2.x");
            Assert.Equal("0.2.0", Library.BindingVersion, "binding version");
        }

        public static void TestErrorsOnePerStatus()
        {
            using (var t = Tensor.Zeros(DType.F32, new long[] { 2, 3 }))
            {
                var e = Assert.Throws<ShapeMismatchException>(() => t.Reshape(4, 2).Dispose(), "reshape to another numel");
                Assert.Equal(Status.ShapeMismatch, e.Status, "status");
                Assert.Equal("APH_ERR_SHAPE_MISMATCH", e.StatusName, "status name");
                Assert.True(e.Message.StartsWith("shape mismatch: "), "message: " + e.Message);
                var a = Assert.Throws<InvalidArgumentException>(() => t.Transpose(0, 5).Dispose(), "dim out of range");
                Assert.True(a.Message.Contains("dim"), "message names the dim: " + a.Message);
                Assert.True(a is AphelionException, "subclass of AphelionException");
            }
            Assert.Throws<NotFoundException>(() => Pipeline.Preset("no-such-preset").Dispose(), "unknown preset");
            Assert.Throws<AphelionNotImplementedException>(() => { throw AphelionException.Create(Status.NotImplemented, "x"); }, "not implemented");
            // Every known status maps to its own subclass; an unknown one to the base class.
            var seen = new HashSet<Type>();
            foreach (Status s in Enum.GetValues(typeof(Status)))
            {
                if (s == Status.Ok) continue;
                var ex = AphelionException.Create(s, "m");
                Assert.True(ex.GetType() != typeof(AphelionException), s + " has a subclass");
                Assert.True(seen.Add(ex.GetType()), s + " has its own subclass");
                Assert.Equal(s, ex.Status, "status of " + ex.GetType().Name);
                Assert.Equal("APH_ERR_" + ToUpperSnake(s.ToString()), ex.StatusName, "name of " + s);
            }
            var unknown = AphelionException.Create((Status)4242, "future");
            Assert.Equal(typeof(AphelionException), unknown.GetType(), "unknown status -> base class");
            Assert.Equal((Status)4242, unknown.Status, "unknown status kept as data");
            Assert.Equal("APH_ERR_UNKNOWN", unknown.StatusName, "unknown status name");
        }

        static string ToUpperSnake(string pascal)
        {
            var b = new System.Text.StringBuilder();
            for (int i = 0; i < pascal.Length; i++)
            {
                if (i > 0 && char.IsUpper(pascal[i])) b.Append('_');
                b.Append(char.ToUpperInvariant(pascal[i]));
            }
            return b.ToString();
        }

        public static void TestDevices()
        {
            using (var cpu = Device.Open("cpu"))
            {
                Assert.Equal(DeviceKind.Cpu, cpu.Kind, "kind");
                Assert.Equal("cpu", cpu.Label, "label");
                Assert.True(cpu.LogicalCores >= 1, "logical cores");
                ulong free, total;
                cpu.MemoryInfo(out free, out total);
                Assert.True(total > 0 && free <= total, "memory info");
                using (var s = cpu.DefaultStream) using (var d = s.Device) Assert.Equal("cpu", d.Label, "stream's device");
                var stats = cpu.MemoryStats();
                Assert.True(stats.struct_size != UIntPtr.Zero, "memory stats");
            }
            Assert.Equal(1, Device.Count(DeviceKind.Cpu), "one CPU");
            var info = Device.CudaInfo();
            Assert.True(info.DeviceCount >= 0 && info.Reason != null, "cuda info");
            if (Device.Count(DeviceKind.Cuda) == 0)
                Assert.Throws<DeviceNotAvailableException>(() => Device.Open("cuda:0").Dispose(), "no CUDA device");
            Assert.Throws<ArgumentException>(() => Device.Open("tpu"), "unknown device spec");
            using (var cfg = new DeviceConfig())
            {
                cfg.ForceCpu = true;
                cfg.Component = "csharp-tests";
                Assert.True(cfg.ForceCpu, "force cpu");
                Assert.Equal("csharp-tests", cfg.Component, "component");
                using (var d = Device.Select(cfg)) Assert.Equal(DeviceKind.Cpu, d.Kind, "forced CPU");
            }
        }

        public static void TestTrackerAndDtypes()
        {
            using (var t = new Tracker(100))
            {
                t.Allocate(60);
                Assert.Equal(60UL, t.AllocatedBytes, "allocated");
                Assert.True(!t.WouldFit(50), "would not fit");
                var e = Assert.Throws<AphelionOutOfMemoryException>(() => t.Allocate(50), "over budget");
                Assert.Equal(Status.OutOfMemory, e.Status, "OOM status");
                t.Deallocate(60);
                Assert.Equal(60UL, t.PeakBytes, "peak");
                Assert.Equal(100UL, t.LimitBytes, "limit");
            }
            Assert.Equal(4L, DType.F32.Size(), "f32 size");
            Assert.Equal("bf16", DType.BF16.Name(), "bf16 name");
            Assert.Equal(DType.I64, DTypes.Parse("i64"), "parse");
            Assert.True(DType.F16.IsHalfPrecision() && !DType.I32.IsFloatingPoint(), "dtype predicates");
            Assert.Equal(24UL, DTypes.EstimateTensorBytes(DType.F32, 2, 3), "estimate");
            Assert.Equal(DType.BF16, PrecisionMode.BF16.ComputeDType(), "precision");
            // An enum value the library returns that this binding has no name for stays data.
            Assert.Equal("13", ((DType)13).ToString(), "open enum");
        }

        public static void TestTensorArraysAndViews()
        {
            var data = Enumerable.Range(0, 6).Select(i => (float)i).ToArray();
            using (var t = Tensor.FromArray(data, new long[] { 2, 3 }))
            {
                Assert.Equal(DType.F32, t.DType, "dtype");
                Assert.SeqEqual(new long[] { 2, 3 }, t.Shape, "shape");
                Assert.SeqEqual(new long[] { 3, 1 }, t.Strides, "strides");
                Assert.Equal(6L, t.Numel, "numel");
                Assert.Equal(24L, t.NBytes, "nbytes");
                Assert.SeqEqual(data, t.ToFloatArray(), "round trip");
                using (var tt = t.Transpose(0, 1))
                {
                    Assert.True(!tt.IsContiguous && tt.SharesStorage(t), "transpose is a view");
                    Assert.SeqEqual(new float[] { 0, 3, 1, 4, 2, 5 }, tt.ToFloatArray(), "transposed elements");
                    Assert.Throws<InvalidOperationException>(() => tt.AsReadOnlySpan<float>(), "span of a non-contiguous tensor");
                    using (var c = tt.Contiguous()) Assert.SeqEqual(new float[] { 0, 3, 1, 4, 2, 5 }, c.AsReadOnlySpan<float>().ToArray(), "contiguous");
                }
                using (var row = t.Select(0, 1)) Assert.SeqEqual(new float[] { 3, 4, 5 }, row.ToFloatArray(), "select");
                using (var sl = t.Slice(1, 0, 3, 2)) Assert.SeqEqual(new float[] { 0, 2, 3, 5 }, sl.ToFloatArray(), "slice step 2");
                using (var nw = t.Narrow(-1, 1, 2)) Assert.SeqEqual(new float[] { 1, 2, 4, 5 }, nw.ToFloatArray(), "narrow");
                using (var r = t.Reshape(3, -1)) Assert.SeqEqual(new long[] { 3, 2 }, r.Shape, "reshape -1");
                using (var p = t.Permute(1, 0)) Assert.SeqEqual(new long[] { 3, 2 }, p.Shape, "permute");
                using (var one = Tensor.FromArray(new float[] { 7 }, new long[] { 1, 1 }))
                using (var ex = one.Expand(2, 3)) Assert.SeqEqual(Enumerable.Repeat(7f, 6), ex.ToFloatArray(), "expand");
                // Spans write the tensor's own memory, no copy.
                var span = t.AsSpan<float>();
                span[4] = 40;
                Assert.Equal(40f, t.ToFloatArray()[4], "span writes through");
                Assert.Throws<InvalidOperationException>(() => t.AsSpan<double>(), "span of another element size");
                t.CopyFrom(new float[] { 9, 8, 7, 6, 5, 4 });
                Assert.Equal(9f, t.AsReadOnlySpan<float>()[0], "copy from array");
                Assert.Throws<ShapeMismatchException>(() => t.CopyFrom(new float[5]), "copy of another size");
                Assert.Throws<InvalidOperationException>(() => t.ToInt64Array(), "typed copy of another dtype");
            }
            using (var z = Tensor.Zeros(DType.I64, new long[] { 4 }))
                Assert.SeqEqual(new long[4], z.ToInt64Array(), "zeros");
            using (var z = Tensor.Zeros(DType.F32, new long[] { 0, 3 }))
                Assert.Equal(0, z.AsReadOnlySpan<float>().Length, "zero-size span");
            using (var s = Tensor.FromArray(new double[] { 2.5 }, new long[0]))
                Assert.Equal(0, s.NDim, "0-d tensor");
        }

        public static void TestBorrowedArrayWithoutCopy()
        {
            var data = new float[] { 1, 2, 3, 4 };
            var t = Tensor.Borrow(data, new long[] { 2, 2 });
            var view = t.Transpose(0, 1);
            t.Dispose();
            // The view keeps the borrowed memory alive; it is the array itself.
            data[1] = 20;
            Assert.SeqEqual(new float[] { 1, 3, 20, 4 }, view.ToFloatArray(), "view of the borrowed array");
            using (var d = view.Contiguous()) { var ds = d.AsSpan<float>(); ds[0] = 100; }
            view.Dispose();
            // The deleter has unpinned the array: collecting now must not crash.
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        public static void TestDisposal()
        {
            var d = Device.Cpu();
            var t = Tensor.Zeros(DType.F32, new long[] { 2 }, d);
            // Releasing in any order: the tensor keeps its device alive.
            d.Dispose();
            Assert.Throws<ObjectDisposedException>(() => { var k = d.Kind; }, "device after Dispose");
            d.Dispose(); // a second Dispose does nothing
            using (var dev = t.Device) Assert.Equal("cpu", dev.Label, "tensor's device after its wrapper was disposed");
            t.Dispose();
            Assert.True(t.IsDisposed, "IsDisposed");
            Assert.Throws<ObjectDisposedException>(() => t.ToFloatArray(), "tensor after Dispose");
            Assert.Throws<ObjectDisposedException>(() => { var s = t.Shape; }, "shape after Dispose");
            t.Dispose();
            Assert.Equal("Tensor(disposed)", t.ToString(), "ToString after Dispose");
            // Undisposed wrappers are released by their finalisers.
            for (int i = 0; i < 1000; i++) Tensor.Zeros(DType.F32, new long[] { 16 });
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        internal static Graph Small() { return Graph.Load(Env.Path("bench", "ffi", "small.json")); }

        public static void TestGraphAndExecutor()
        {
            using (var g = Small())
            {
                Assert.Equal(3, g.NodeCount, "nodes");
                Assert.Equal(2, g.EdgeCount, "edges");
                Assert.Equal(64, g.StableHash().Length, "hash");
                Assert.True(!g.HasCycle, "no cycle");
                Assert.SeqEqual(new ulong[] { 1, 2, 3 }, g.TopologicalSort(), "topological order");
                ModelConfig cfg;
                Assert.Equal("act", g.Node(2, out cfg), "node name");
                using (cfg) Assert.Equal("relu", cfg.Name, "node op");
                Assert.Equal(2UL, g.FindNode("act"), "find node");
                Assert.Throws<NotFoundException>(() => g.FindNode("nope"), "missing node");
                using (var g2 = Graph.FromJson(g.ToJson())) Assert.Equal(g.StableHash(), g2.StableHash(), "JSON round trip");
                Assert.True(g.ToDot().Contains("digraph"), "dot");
                using (var ex = new Executor(g))
                {
                    Assert.Equal("x", ex.Inputs[0].Name, "input name");
                    Assert.SeqEqual(new long[] { 1, 16 }, ex.Inputs[0].Shape, "input shape");
                    Assert.SeqEqual(new[] { "y" }, ex.OutputNames, "outputs");
                    Assert.Throws<InvalidStateException>(() => ex.Output("y").Dispose(), "output before run");
                    Assert.Throws<NotFoundException>(() => ex.SetInput("nope", Tensor.Zeros(DType.F32, new long[] { 1, 16 })), "unknown input");
                    var x = Enumerable.Range(0, 16).Select(i => (float)(i - 8)).ToArray();
                    using (var xt = Tensor.FromArray(x, new long[] { 1, 16 }))
                    {
                        var outs = ex.Run(new Dictionary<string, Tensor> { { "x", xt } });
                        using (var y = outs["y"])
                            Assert.SeqEqual(x.Select(v => Math.Max(v, 0f)), y.ToFloatArray(), "relu");
                    }
                    Assert.Equal(1UL, ex.RunCount, "run count");
                    var plan = ex.PlanInfo();
                    Assert.True(plan.total_bytes > 0, "plan info");
                    Assert.True(ex.NodeStats().Length == 3, "node stats");
                }
            }
        }

        public static void TestModelConfig()
        {
            using (var c = new ModelConfig("encoder", "1.0.0"))
            {
                c.Set("layers", 6L);
                c.Set("lr", 0.5);
                c.Set("name", "é-ü"); // UTF-8 both ways
                c.Set("flag", true);
                c.SetJson("shape", "[1, 2]");
                Assert.Equal(6L, c.GetInt("layers"), "int");
                Assert.Equal(0.5, c.GetFloat("lr"), "float");
                Assert.Equal("é-ü", c.GetString("name"), "string");
                Assert.True(c.GetBool("flag"), "bool");
                Assert.Equal("[1,2]", c.GetJson("shape"), "json");
                Assert.SeqEqual(new[] { "flag", "layers", "lr", "name", "shape" }, c.Keys, "sorted keys");
                var e = Assert.Throws<InvalidConfigException>(() => c.GetInt("missing"), "missing key");
                Assert.True(e.Message.Contains("missing"), e.Message);
                using (var d = ModelConfig.FromJson(c.ToJson())) Assert.Equal(c.ToJson(), d.ToJson(), "JSON round trip");
                c.Validate();
            }
            Assert.Throws<ArgumentException>(() => new ModelConfig("a\0b"), "embedded NUL");
        }

        public static void TestSafetensors()
        {
            string path = Path.Combine(Path.GetTempPath(), "aph-cs-" + Guid.NewGuid().ToString("N") + ".safetensors");
            try
            {
                using (var a = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, new long[] { 2, 3 }))
                using (var b = Tensor.FromArray(new long[] { 7, 8 }))
                    SafetensorsFile.Save(path, new Dictionary<string, Tensor> { { "a", a }, { "b", b } }, "{\"k\":\"v\"}");
                Tensor ta;
                using (var f = SafetensorsFile.Open(path))
                {
                    Assert.SeqEqual(new[] { "a", "b" }, f.Names.OrderBy(n => n), "names");
                    Assert.Equal("{\"k\":\"v\"}", f.Metadata, "metadata");
                    DType dt;
                    Assert.SeqEqual(new long[] { 2, 3 }, f.Info("a", out dt), "info shape");
                    Assert.Equal(DType.F32, dt, "info dtype");
                    Assert.Throws<NotFoundException>(() => f.Info("zz", out dt), "missing tensor");
                    ta = f.Tensor("a");
                }
                // The mapped tensor outlives the file handle, and is read-only.
                using (ta)
                {
                    Assert.True(ta.IsReadOnly, "mapped tensor is read-only");
                    Assert.SeqEqual(new float[] { 1, 2, 3, 4, 5, 6 }, ta.AsReadOnlySpan<float>().ToArray(), "read-only span");
                    Assert.Throws<InvalidArgumentException>(() => ta.AsSpan<float>(), "no writable span of a read-only tensor");
                    Assert.Throws<InvalidArgumentException>(() => ta.CopyFrom(new float[6]), "no writes into a read-only tensor");
                }
            }
            finally { File.Delete(path); }
        }
    }
}
