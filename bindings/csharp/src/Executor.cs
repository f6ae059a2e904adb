// Executors: a graph planned and run on a device, with inputs, weights and outputs by name. Hand-written.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using Aphelion.Native;

namespace Aphelion
{
    /// <summary>aph_executor_options (every field optional).</summary>
    public sealed class ExecutorOptions
    {
        public Tracker Tracker { get; set; }
        public TraceSink Trace { get; set; }
        public Stream Stream { get; set; }
        public bool CheckNumerics { get; set; }
        public bool Profile { get; set; }
        /// <summary>CPU worker threads for this executor's runs (0: the running thread's setting).</summary>
        public int CpuThreads { get; set; }
        /// <summary>Plans kept for graphs with symbolic dimensions (0: 8).</summary>
        public int MaxPlans { get; set; }
        /// <summary>The linear layers' arithmetic (F32 by default; BF16 and INT8 on a CPU with
        /// AVX512_BF16 / AVX512_VNNI, else AphelionNotImplementedException).</summary>
        public MatmulPrecision MatmulPrecision { get; set; }

        // The handles' raw pointers; the caller keeps `o` alive across the call (GC.KeepAlive).
        internal static aph_executor_options Raw(ExecutorOptions o)
        {
            var r = new aph_executor_options { struct_size = (UIntPtr)(uint)Marshal.SizeOf(typeof(aph_executor_options)) };
            if (o == null) return r;
            r.tracker = o.Tracker == null ? IntPtr.Zero : o.Tracker.Raw;
            r.trace = o.Trace == null ? IntPtr.Zero : o.Trace.Raw;
            r.stream = o.Stream == null ? IntPtr.Zero : o.Stream.Raw;
            r.check_numerics = o.CheckNumerics ? 1 : 0;
            r.profile = o.Profile ? 1 : 0;
            r.cpu_threads = Check.Size(o.CpuThreads);
            r.max_plans = Check.Size(o.MaxPlans);
            r.matmul_precision = o.MatmulPrecision;
            return r;
        }
    }

    /// <summary>An input, weight or output of an executor (aph_value_info).</summary>
    public sealed class ValueInfo
    {
        public string Name { get; internal set; }
        public ulong NodeId { get; internal set; }
        public DType DType { get; internal set; }
        /// <summary>Sizes; -1 for a symbolic dimension.</summary>
        public long[] Shape { get; internal set; }
        /// <summary>A symbolic dimension's name, null for a fixed one.</summary>
        public string[] DimNames { get; internal set; }

        internal static ValueInfo From(ref aph_value_info v)
        {
            int n = (int)(ulong)v.ndim;
            var shape = new long[n];
            var names = new string[n];
            if (n > 0)
            {
                Marshal.Copy(v.shape, shape, 0, n);
                var ptrs = new IntPtr[n];
                Marshal.Copy(v.dim_names, ptrs, 0, n);
                for (int i = 0; i < n; i++) names[i] = Utf8.From(ptrs[i]);
            }
            return new ValueInfo { Name = Utf8.From(v.name), NodeId = v.node_id, DType = v.dtype, Shape = shape, DimNames = names };
        }
        public override string ToString() { return Name + ": " + DType.Name() + " [" + string.Join(", ", Shape) + "]"; }
    }

    /// <summary>A node's statistics (aph_node_stats).</summary>
    public sealed class NodeStats
    {
        public ulong Id { get; internal set; }
        public string Name { get; internal set; }
        public string Op { get; internal set; }
        public DType DType { get; internal set; }
        public long[] Shape { get; internal set; }
        public ulong Bytes { get; internal set; }
        /// <summary>Offset in the arena; ulong.MaxValue when not in it.</summary>
        public ulong Offset { get; internal set; }
        public ulong LastNs { get; internal set; }
        public ulong TotalNs { get; internal set; }
    }

    /// <summary>An executable graph on a device (aph_executor). Binding and running must be done by
    /// one thread at a time per executor (the library's rule); separate executors run in parallel.</summary>
    public sealed class Executor : NativeObject<ExecutorHandle>
    {
        internal Executor(ExecutorHandle h) : base(h) { }
        internal Executor(ExecutorHandle h, SafeHandle owner) : base(h, owner) { }
        internal static Executor Borrowed(IntPtr p) { var h = ExecutorHandle.Retain(p); return h == null ? null : new Executor(h); }

        /// <summary>Plans graph for device (null: the CPU) with options (aph_executor_create).</summary>
        public Executor(Graph graph, Device device = null, ExecutorOptions options = null) : base(Create(graph, device, options)) { }
        static ExecutorHandle Create(Graph g, Device d, ExecutorOptions options)
        {
            Check.NotNull(g, "graph");
            bool owned = d == null;
            if (owned) d = Device.Cpu();
            try
            {
                var o = ExecutorOptions.Raw(options);
                ExecutorHandle h;
                Check.S(NativeMethods.aph_executor_create(g.Handle, d.Handle, ref o, out h));
                GC.KeepAlive(options);
                return h;
            }
            finally { if (owned) d.Dispose(); }
        }

        public void SetInput(string name, Tensor tensor) { Check.S(NativeMethods.aph_executor_set_input(Handle, Utf8.Z(name), Check.NotNull(tensor, "tensor").Handle)); }
        public void SetWeight(string name, Tensor tensor) { Check.S(NativeMethods.aph_executor_set_weight(Handle, Utf8.Z(name), Check.NotNull(tensor, "tensor").Handle)); }
        /// <summary>Binds every weight node from a safetensors file.</summary>
        public void LoadWeights(string path) { Check.S(NativeMethods.aph_executor_load_weights(Handle, Utf8.Z(path))); }
        /// <summary>Makes runs write output name into tensor.</summary>
        public void BindOutput(string name, Tensor tensor) { Check.S(NativeMethods.aph_executor_bind_output(Handle, Utf8.Z(name), Check.NotNull(tensor, "tensor").Handle)); }
        public void Run() { Check.S(NativeMethods.aph_executor_run(Handle)); }

        /// <summary>Binds inputs by name, runs, and returns every output by name (tensors over the
        /// executor's memory: the next run overwrites them; copy what you keep).</summary>
        public Dictionary<string, Tensor> Run(IDictionary<string, Tensor> inputs)
        {
            if (inputs != null) foreach (var kv in inputs) SetInput(kv.Key, kv.Value);
            Run();
            var r = new Dictionary<string, Tensor>();
            foreach (var name in OutputNames) r[name] = Output(name);
            return r;
        }

        /// <summary>The last run's value of output name (InvalidStateException before a run).</summary>
        public Tensor Output(string name) { TensorHandle h; Check.S(NativeMethods.aph_executor_output(Handle, Utf8.Z(name), out h)); return new Tensor(h); }

        delegate Status InfoFn(ExecutorHandle e, UIntPtr i, ref aph_value_info v);

        ValueInfo[] Infos(int n, InfoFn fn)
        {
            var r = new ValueInfo[n];
            for (int i = 0; i < n; i++)
            {
                var v = new aph_value_info { struct_size = (UIntPtr)(uint)Marshal.SizeOf(typeof(aph_value_info)) };
                Check.S(fn(Handle, Check.Size(i), ref v));
                r[i] = ValueInfo.From(ref v);
            }
            GC.KeepAlive(this);
            return r;
        }

        public ValueInfo[] Inputs { get { return Infos((int)(ulong)NativeMethods.aph_executor_input_count(Handle), NativeMethods.aph_executor_input_info); } }
        public ValueInfo[] Weights { get { return Infos((int)(ulong)NativeMethods.aph_executor_weight_count(Handle), NativeMethods.aph_executor_weight_info); } }
        public ValueInfo[] Outputs { get { return Infos((int)(ulong)NativeMethods.aph_executor_output_count(Handle), NativeMethods.aph_executor_output_info); } }

        public string[] OutputNames
        {
            get
            {
                int n = (int)(ulong)NativeMethods.aph_executor_output_count(Handle);
                var r = new string[n];
                for (int i = 0; i < n; i++) r[i] = Utf8.From(NativeMethods.aph_executor_output_name(Handle, Check.Size(i)));
                GC.KeepAlive(this);
                return r;
            }
        }

        public int FindInput(string name) { UIntPtr i; Check.S(NativeMethods.aph_executor_find_input(Handle, Utf8.Z(name), out i)); return (int)(ulong)i; }
        public int FindWeight(string name) { UIntPtr i; Check.S(NativeMethods.aph_executor_find_weight(Handle, Utf8.Z(name), out i)); return (int)(ulong)i; }
        public int FindOutput(string name) { UIntPtr i; Check.S(NativeMethods.aph_executor_find_output(Handle, Utf8.Z(name), out i)); return (int)(ulong)i; }

        /// <summary>The memory plan (aph_plan_info).</summary>
        public aph_plan_info PlanInfo()
        {
            var p = new aph_plan_info { struct_size = (UIntPtr)(uint)Marshal.SizeOf(typeof(aph_plan_info)) };
            Check.S(NativeMethods.aph_executor_plan_info(Handle, ref p));
            return p;
        }

        public NodeStats[] NodeStats()
        {
            int n = (int)(ulong)NativeMethods.aph_executor_node_count(Handle);
            var r = new NodeStats[n];
            for (int i = 0; i < n; i++)
            {
                var s = new aph_node_stats { struct_size = (UIntPtr)(uint)Marshal.SizeOf(typeof(aph_node_stats)) };
                Check.S(NativeMethods.aph_executor_node_stats(Handle, Check.Size(i), ref s));
                int nd = (int)(ulong)s.ndim;
                var shape = new long[nd];
                if (nd > 0) Marshal.Copy(s.shape, shape, 0, nd);
                r[i] = new NodeStats
                {
                    Id = s.id, Name = Utf8.From(s.name), Op = Utf8.From(s.op), DType = s.dtype, Shape = shape,
                    Bytes = s.bytes, Offset = s.offset, LastNs = s.last_ns, TotalNs = s.total_ns,
                };
            }
            GC.KeepAlive(this);
            return r;
        }

        public ulong RunCount { get { return NativeMethods.aph_executor_run_count(Handle); } }

        /// <summary>The symbolic dimensions and their sizes now (-1 while unbound).</summary>
        public KeyValuePair<string, long>[] Symbols
        {
            get
            {
                int n = (int)(ulong)NativeMethods.aph_executor_symbol_count(Handle);
                var r = new KeyValuePair<string, long>[n];
                for (int i = 0; i < n; i++)
                {
                    IntPtr name; long v;
                    Check.S(NativeMethods.aph_executor_symbol(Handle, Check.Size(i), out name, out v));
                    r[i] = new KeyValuePair<string, long>(Utf8.From(name), v);
                }
                GC.KeepAlive(this);
                return r;
            }
        }
    }
}
