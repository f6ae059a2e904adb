#!/usr/bin/env bash
# bench/ffi row of the C# binding (Mono): one JSON line {"language": "csharp", "trivial_ns",
# "run_ns"} for c_baseline.c's two workloads, medians of 7 repetitions: aph_tracker_allocated_bytes
# through the generated P/Invoke (SafeHandle argument; "trivial_wrapped_ns": through
# Tracker.AllocatedBytes), and Executor.SetInput("x") + Executor.Run() on bench/ffi/small.json.
# Needs the build's bindings/csharp/Aphelion.dll (cmake builds it when mcs is found); exit 77
# without mcs/mono.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build}
command -v mcs >/dev/null && command -v mono >/dev/null || { echo "csharp.sh: mcs/mono not found" >&2; exit 77; }
out=$BUILD_DIR/bindings/csharp
[ -f "$out/Aphelion.dll" ] || { echo "csharp.sh: $out/Aphelion.dll missing (build with mcs installed)" >&2; exit 77; }
cat > "$out/bench_ffi.cs" <<'CS'
using System;
using System.Diagnostics;
using System.Linq;
using Aphelion;
using Aphelion.Native;
static class BenchFfi
{
    static double Median(double[] v) { var s = v.OrderBy(x => x).ToArray(); return s[s.Length / 2]; }
    static double Ns(Stopwatch sw, int n) { return sw.Elapsed.TotalMilliseconds * 1e6 / n; }
    static int Main(string[] args)
    {
        const int Reps = 7, N = 10000000, M = 20000;
        using (var tracker = new Tracker(0))
        using (var graph = Graph.Load(args[0]))
        using (var cpu = Device.Cpu())
        using (var ex = new Executor(graph, cpu))
        using (var x = Tensor.Create(DType.F32, new long[] { 1, 16 }, cpu))
        {
            var h = tracker.Handle;
            double[] trivial = new double[Reps], wrapped = new double[Reps], run = new double[Reps];
            ulong sink = 0;
            for (int r = 0; r < Reps; r++)
            {
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < N; i++) sink += NativeMethods.aph_tracker_allocated_bytes(h);
                trivial[r] = Ns(sw, N);
                sw = Stopwatch.StartNew();
                for (int i = 0; i < N; i++) sink += tracker.AllocatedBytes;
                wrapped[r] = Ns(sw, N);
                sw = Stopwatch.StartNew();
                for (int i = 0; i < M; i++) { ex.SetInput("x", x); ex.Run(); }
                run[r] = Ns(sw, M);
            }
            Console.WriteLine(string.Format(System.Globalization.CultureInfo.InvariantCulture,
                "{{\"language\": \"csharp\", \"trivial_ns\": {0:F2}, \"run_ns\": {1:F1}, \"trivial_wrapped_ns\": {2:F2}, \"runtime\": \"mono {3}\"}}",
                Median(trivial), Median(run), Median(wrapped), Environment.Version) + (sink == 1 ? " " : ""));
        }
        return 0;
    }
}
CS
mcs -langversion:7.2 -optimize+ -nologo -r:"$out/Aphelion.dll" -out:"$out/bench_ffi.exe" "$out/bench_ffi.cs" >&2
APHELION_LIBRARY=${APHELION_LIBRARY:-$(readlink -f "$BUILD_DIR/lib/libaphelion.so.0")} APHELION_FORCE_CPU=1 \
    mono "$out/bench_ffi.exe" bench/ffi/small.json
