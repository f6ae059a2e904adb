// Callbacks into C#: log, trace, pipeline stages, hooks and progress, custom operations, tensor
// deleters. They work, an exception inside one never crosses into C (it becomes a failing
// status with its message), and nothing the C side still holds is collected.
using System;
using System.Collections.Generic;
using System.Linq;
using Aphelion;

namespace Aphelion.Tests
{
    [TestClass]
    public static class CallbackTests
    {
        public static void TestLogHandler()
        {
            var got = new List<string>();
            var old = Log.Level;
            try
            {
                Log.Level = LogLevel.Trace;
                Log.SetHandler((level, target, message) => { lock (got) got.Add(level + "|" + target + "|" + message); });
                Log.Write(LogLevel.Warn, "aphelion::csharp", "héllo wörld");
                GC.Collect(); GC.WaitForPendingFinalizers(); // the handler stays alive while set
                Log.Write(LogLevel.Info, "aphelion::csharp", "second");
                lock (got)
                {
                    Assert.True(got.Contains("Warn|aphelion::csharp|héllo wörld"), "UTF-8 record: " + string.Join("; ", got));
                    Assert.True(got.Contains("Info|aphelion::csharp|second"), "second record");
                }
                // A handler that throws: the exception is reported, never crosses into C.
                var reported = new List<Exception>();
                EventHandler<CallbackExceptionEventArgs> onEx = (s, e) => { lock (reported) reported.Add(e.Exception); };
                Log.CallbackException += onEx;
                try
                {
                    Log.SetHandler((l, t, m) => { throw new InvalidOperationException("handler failed"); });
                    Log.Write(LogLevel.Error, "aphelion::csharp", "boom");
                    lock (reported) Assert.True(reported.Any(e => e.Message == "handler failed"), "exception reported");
                }
                finally { Log.CallbackException -= onEx; }
            }
            finally
            {
                Log.SetHandler(null);
                Log.Level = old;
            }
            Assert.Equal("warn", Log.LevelName(LogLevel.Warn), "level name");
        }

        public static void TestTraceSinks()
        {
            var events = new List<TraceEvent>();
            var spans = new List<TraceSpan>();
            using (var mem = TraceSink.Memory())
            using (var cb = TraceSink.Callback(e => { lock (events) events.Add(e); }, s => { lock (spans) spans.Add(s); }))
            using (var filtered = TraceSink.Filter(cb, TraceLevel.Info))
            using (var fan = TraceSink.Fanout(mem, filtered))
            {
                GC.Collect(); GC.WaitForPendingFinalizers();
                fan.Record(new TraceEvent { Id = "a.debug", Message = "dropped by the filter", Level = TraceLevel.Debug, Timestamp = 1700000000.5 });
                fan.Record(new TraceEvent { Id = "a.info", Message = "kept ✓", Level = TraceLevel.Info, Timestamp = 1700000001 });
                fan.RecordSpan(new TraceSpan { Name = "work", Category = "test", StartNs = 10, DurationNs = 5, Bytes = 64, ArgsJson = "{\"k\":1}" });
                Assert.Equal(2, mem.Events.Length, "memory sink has both");
                Assert.Equal("kept ✓", mem.Events[1].Message, "UTF-8 message");
                Assert.Equal(1, mem.Spans.Length, "span");
                Assert.True(mem.ExportJson().Contains("\"a.info\""), "json export");
                Assert.True(mem.ExportChrome().Contains("traceEvents"), "chrome export");
                lock (events) Assert.SeqEqual(new[] { "a.info" }, events.Select(e => e.Id), "callback got the filtered events");
                lock (spans) Assert.Equal("work", spans.Single().Name, "callback got the span");
                Assert.Equal(0, cb.Events.Length, "a non-memory sink keeps no events");
                mem.Clear();
                Assert.Equal(0, mem.Events.Length, "cleared");
            }
        }

        static Graph Relu()
        {
            return CoreTests.Small();
        }

        public static void TestPipelineStagesHooksProgress()
        {
            var seen = new List<string>();
            using (var sink = TraceSink.Memory())
            using (var ctx = new BuildContext(Device.Cpu(), sink, new Tracker(1 << 30)))
            using (var g = Relu())
            using (var p = Pipeline.Preset("run"))
            using (var x = Tensor.FromArray(new float[] { -1, 2, -3, 4, -5, 6, -7, 8, -9, 10, -11, 12, -13, 14, -15, 16 }, new long[] { 1, 16 }))
            {
                p.AddStage("mine", (c, gr) => { seen.Add("stage:" + gr.NodeCount); c.Trace(TraceLevel.Info, "mine", "ran"); });
                p.AddPreHook((c, gr) => seen.Add("pre"));
                p.AddPostHook((c, gr) => seen.Add("post"));
                p.OnProgress((stage, i, n) => seen.Add("progress:" + stage + ":" + i + "/" + n));
                GC.Collect(); GC.WaitForPendingFinalizers(); // registered delegates are kept alive
                ctx.SetInput("x", x);
                p.Run(ctx, g);
                Assert.True(seen.Contains("pre") && seen.Contains("post") && seen.Contains("stage:3"), string.Join(", ", seen));
                Assert.True(seen.Contains("progress:mine:6/6"), "progress: " + string.Join(", ", seen));
                Assert.SeqEqual(new[] { "validation", "check", "hashing", "plan", "execute", "mine" }, p.StageNames, "stages");
                using (var ex = ctx.Executor)
                using (var y = ex.Output("y"))
                    Assert.Equal(16f, y.ToFloatArray()[15], "execute stage ran the graph");
                Assert.True(sink.Events.Any(e => e.Id == "mine"), "stage traced through the context");
            }
        }

        public static void TestStageExceptionsBecomeStatuses()
        {
            using (var ctx = new BuildContext(Device.Cpu()))
            using (var g = Relu())
            {
                using (var p = new Pipeline())
                {
                    p.AddStage("thrower", (c, gr) => { throw new InvalidOperationException("my stage broke"); });
                    var e = Assert.Throws<BackendException>(() => p.Run(ctx, g), "plain exception -> backend error");
                    Assert.True(e.Message.Contains("my stage broke") && e.Message.Contains("InvalidOperationException"), e.Message);
                }
                using (var p = new Pipeline())
                {
                    p.AddPreHook((c, gr) => { throw new NotFoundException("not found: the thing 'q'"); });
                    var e = Assert.Throws<NotFoundException>(() => p.Run(ctx, g), "AphelionException keeps its status");
                    Assert.True(e.Message.Contains("the thing 'q'"), e.Message);
                    Assert.True(!e.Message.Contains("not found: not found"), "prefix not doubled: " + e.Message);
                }
                using (var p = new Pipeline())
                {
                    // An exception in the progress callback cannot fail the run: it is reported.
                    var reported = 0;
                    EventHandler<CallbackExceptionEventArgs> onEx = (s, a) => reported++;
                    Log.CallbackException += onEx;
                    try
                    {
                        p.AddBuiltin("validation");
                        p.OnProgress((s, i, n) => { throw new Exception("progress broke"); });
                        p.Run(ctx, g);
                    }
                    finally { Log.CallbackException -= onEx; }
                    Assert.Equal(1, reported, "progress exception reported");
                }
            }
        }

        internal static Graph CustomGraph(string op, string paramsJson)
        {
            var g = new Graph();
            using (var inCfg = new ModelConfig("input"))
            using (var opCfg = ModelConfig.FromJson("{\"name\":\"" + op + "\",\"version\":\"1.0.0\",\"params\":" + paramsJson + "}"))
            using (var outCfg = new ModelConfig("output"))
            {
                inCfg.Set("dtype", "f32");
                inCfg.SetJson("shape", "[2, 3]");
                ulong x = g.AddNode("x", inCfg), n = g.AddNode("n", opCfg), y = g.AddNode("y", outCfg);
                g.AddEdge(x, n);
                g.AddEdge(n, y);
            }
            return g;
        }

        public static void TestCustomOperation()
        {
            int calls = 0;
            CustomOps.Register("cs_scale_t",
                (string p, DType[] dts, long[][] shapes, out long[] shape) =>
                {
                    Assert.Equal(1, dts.Length, "one operand");
                    shape = new[] { shapes[0][1], shapes[0][0] }; // transposed
                    return dts[0];
                },
                (p, inputs, output, stream) =>
                {
                    calls++;
                    double factor = double.Parse(p.Split(':')[1].TrimEnd('}'), System.Globalization.CultureInfo.InvariantCulture);
                    var a = inputs[0].ToFloatArray();
                    var s = inputs[0].Shape;
                    var o = output.AsSpan<float>();
                    for (int i = 0; i < s[0]; i++)
                        for (int j = 0; j < s[1]; j++) o[(int)(j * s[0] + i)] = (float)(a[i * s[1] + j] * factor);
                });
            try
            {
                GC.Collect(); GC.WaitForPendingFinalizers();
                using (var g = CustomGraph("cs_scale_t", "{\"factor\":3.0}"))
                using (var ex = new Executor(g))
                using (var x = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, new long[] { 2, 3 }))
                {
                    ex.SetInput("x", x);
                    ex.Run();
                    using (var y = ex.Output("y"))
                    {
                        Assert.SeqEqual(new long[] { 3, 2 }, y.Shape, "inferred shape");
                        Assert.SeqEqual(new float[] { 3, 12, 6, 15, 9, 18 }, y.ToFloatArray(), "custom kernel result");
                    }
                    Assert.Equal(1, calls, "kernel calls");
                }
                // A kernel that throws fails the run with its message; nothing crosses into C.
                CustomOps.Register("cs_scale_t",
                    (string p, DType[] dts, long[][] shapes, out long[] shape) => { shape = shapes[0]; return dts[0]; },
                    (p, inputs, output, stream) => { throw new DivideByZeroException("kernel exploded"); });
                using (var g = CustomGraph("cs_scale_t", "{}"))
                using (var ex = new Executor(g))
                using (var x = Tensor.Zeros(DType.F32, new long[] { 2, 3 }))
                {
                    ex.SetInput("x", x);
                    var e = Assert.Throws<AphelionException>(() => ex.Run(), "kernel exception");
                    Assert.True(e.Message.Contains("kernel exploded") && e.Message.Contains("DivideByZeroException"), e.Message);
                }
                // Inference that throws an AphelionException: the executor cannot be made.
                CustomOps.Register("cs_scale_t",
                    (string p, DType[] dts, long[][] shapes, out long[] shape) => { throw new ShapeMismatchException("shape mismatch: nope"); },
                    (p, inputs, output, stream) => { });
                using (var g = CustomGraph("cs_scale_t", "{}"))
                {
                    var e = Assert.Throws<AphelionException>(() => new Executor(g).Dispose(), "infer exception");
                    Assert.True(e.Message.Contains("nope"), e.Message);
                }
            }
            finally { CustomOps.Unregister("cs_scale_t"); }
            Assert.Throws<NotFoundException>(() => CustomOps.Unregister("cs_scale_t"), "already unregistered");
            Assert.Throws<InvalidArgumentException>(() => CustomOps.Register("matmul",
                (string p, DType[] d, long[][] s, out long[] o) => { o = null; return DType.F32; }, (p, i, o, s) => { }), "built-in name");
        }

        public static void TestOpSchemas()
        {
            var all = OpSchema.All();
            Assert.True(all.Length > 20, "operations: " + all.Length);
            var mm = OpSchema.Find("matmul");
            Assert.Equal(NodeKind.Compute, mm.Kind, "matmul kind");
            Assert.True(mm.MinOperands == 2 && mm.OperandNames.Length == mm.MaxOperands, "operands");
            Assert.True(all.Any(s => s.Params.Any(p => p.AllowedValues != null)), "some enumeration param");
            Assert.Throws<NotFoundException>(() => OpSchema.Find("frobnicate"), "unknown operation");
        }
    }
}
