// Threads: what the header calls thread-safe (trackers, devices, tensors' metadata, separate
// executors, tokenizers, the logger) used from several threads at once; error messages stay
// with the thread that made the failing call; Dispose racing with use never crashes.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Aphelion;

namespace Aphelion.Tests
{
    [TestClass]
    public static class ThreadTests
    {
        static void Parallel(int n, Action<int> body)
        {
            var errors = new List<Exception>();
            var threads = Enumerable.Range(0, n).Select(i => new Thread(() =>
            {
                try { body(i); }
                catch (Exception e) { lock (errors) errors.Add(e); }
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            if (errors.Count > 0) throw new AggregateException(errors);
        }

        public static void TestExecutorsTrackerAndErrorsAcrossThreads()
        {
            using (var tracker = new Tracker(0))
            using (var shared = Tensor.FromArray(Enumerable.Range(0, 16).Select(i => (float)i - 8).ToArray(), new long[] { 1, 16 }))
            {
                Parallel(8, t =>
                {
                    using (var g = CoreTests.Small())
                    using (var ex = new Executor(g, null, new ExecutorOptions { CpuThreads = 1 }))
                    using (var x = Tensor.FromArray(Enumerable.Range(0, 16).Select(i => (float)(i * (t + 1)) - 8).ToArray(), new long[] { 1, 16 }))
                    {
                        for (int r = 0; r < 200; r++)
                        {
                            tracker.Allocate(10);
                            ex.SetInput("x", x);
                            ex.Run();
                            using (var y = ex.Output("y"))
                            {
                                var v = y.AsReadOnlySpan<float>();
                                for (int i = 0; i < 16; i++)
                                    if (v[i] != Math.Max(i * (t + 1) - 8, 0)) throw new Exception("thread " + t + " got a wrong value");
                            }
                            // The message of a failing call belongs to the thread that made it.
                            string name = "missing-" + t + "-" + r;
                            var e = Assert.Throws<NotFoundException>(() => g.FindNode(name), "find node");
                            if (!e.Message.Contains(name)) throw new Exception("thread " + t + " read another thread's message: " + e.Message);
                            if (shared.Shape[1] != 16 || shared.ToFloatArray()[15] != 7) throw new Exception("shared tensor");
                            tracker.Deallocate(10);
                        }
                    }
                });
                Assert.Equal(0UL, tracker.AllocatedBytes, "tracker balanced");
                Assert.True(tracker.PeakBytes >= 10, "tracker peak");
            }
        }

        public static void TestDisposeRacingWithUse()
        {
            for (int round = 0; round < 20; round++)
            {
                var t = Tensor.Zeros(DType.F32, new long[] { 64 });
                int ok = 0, disposed = 0;
                Parallel(4, i =>
                {
                    if (i == 0) { Thread.Sleep(1); t.Dispose(); return; }
                    for (int k = 0; k < 200; k++)
                    {
                        try { if (t.ToFloatArray().Length == 64) Interlocked.Increment(ref ok); }
                        catch (ObjectDisposedException) { Interlocked.Increment(ref disposed); }
                    }
                });
                Assert.True(t.IsDisposed && ok + disposed == 600, "every use either worked or saw ObjectDisposedException");
            }
        }

        public static void TestLogFromThreads()
        {
            int count = 0;
            var old = Log.Level;
            Log.Level = LogLevel.Info;
            Log.SetHandler((l, tg, m) => { if (tg == "aphelion::threads") Interlocked.Increment(ref count); });
            try { Parallel(4, i => { for (int k = 0; k < 100; k++) Log.Write(LogLevel.Info, "aphelion::threads", "m" + k); }); }
            finally { Log.SetHandler(null); Log.Level = old; }
            Assert.Equal(400, count, "every record delivered");
        }
    }
}
