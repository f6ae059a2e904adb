// Build contexts and pipelines: built-in stages, C# stages and hooks, progress. Hand-written.
using System;
using Aphelion.Native;

namespace Aphelion
{
    /// <summary>What a pipeline runs with (aph_build_context): a device, a trace sink, a tracker,
    /// inputs and weights for the execute stage, and the executor the plan stage makes. One thread
    /// at a time.</summary>
    public sealed class BuildContext : NativeObject<BuildContextHandle>
    {
        internal BuildContext(BuildContextHandle h) : base(h) { }

        /// <summary>device null: the one aph_device_select picks; sink null: events dropped;
        /// tracker null: none.</summary>
        public BuildContext(Device device = null, TraceSink sink = null, Tracker tracker = null)
            : base(Create(device, sink, tracker)) { }
        static BuildContextHandle Create(Device d, TraceSink s, Tracker t)
        {
            BuildContextHandle h;
            Check.S(NativeMethods.aph_build_context_create(d == null ? DeviceHandle.Null : d.Handle, TraceSink.H(s), Tracker.H(t), out h));
            return h;
        }

        public Device Device { get { return Device.Borrowed(NativeMethods.aph_build_context_device(Handle)); } }
        public TraceSink Sink { get { return TraceSink.Borrowed(NativeMethods.aph_build_context_sink(Handle)); } }
        public Tracker Tracker { get { return Tracker.Borrowed(NativeMethods.aph_build_context_tracker(Handle)); } }

        public void Trace(TraceLevel level, string id, string message) { Check.S(NativeMethods.aph_build_context_trace(Handle, level, Utf8.Z(id), Utf8.Z(message))); }
        /// <summary>Charges bytes to the context's tracker (AphelionOutOfMemoryException past its limit).</summary>
        public void Allocate(ulong bytes) { Check.S(NativeMethods.aph_build_context_allocate(Handle, bytes)); }
        public void SetInput(string name, Tensor tensor) { Check.S(NativeMethods.aph_build_context_set_input(Handle, Utf8.Z(name), Check.NotNull(tensor, "tensor").Handle)); }
        public void SetWeightsFile(string path) { Check.S(NativeMethods.aph_build_context_set_weights_file(Handle, Utf8.Z(path))); }
        public void SetExecutorOptions(ExecutorOptions options)
        {
            var o = ExecutorOptions.Raw(options);
            Check.S(NativeMethods.aph_build_context_set_executor_options(Handle, ref o));
            GC.KeepAlive(options);
        }
        /// <summary>The executor the last plan stage made (InvalidStateException before one ran).</summary>
        public Executor Executor { get { ExecutorHandle h; Check.S(NativeMethods.aph_build_context_executor(Handle, out h)); return new Executor(h); } }
    }

    /// <summary>A stage: may change the graph. Throw to fail the run (an AphelionException keeps its
    /// status; any other exception becomes a BackendException naming it).</summary>
    public delegate void Stage(BuildContext context, Graph graph);
    /// <summary>A hook: sees the graph (it must not change it). Throw to fail the run.</summary>
    public delegate void Hook(BuildContext context, Graph graph);
    /// <summary>Progress: the stage about to run, its index and the stage count.</summary>
    public delegate void Progress(string stage, int index, int total);

    /// <summary>A pipeline of stages (aph_pipeline). One thread at a time. C# stages, hooks and the
    /// progress callback stay alive as long as the pipeline.</summary>
    public sealed class Pipeline : NativeObject<PipelineHandle>
    {
        IntPtr progressKey;

        Pipeline(PipelineHandle h) : base(h) { }
        public Pipeline() : base(Create()) { }
        static PipelineHandle Create() { PipelineHandle h; Check.S(NativeMethods.aph_pipeline_create(out h)); return h; }

        /// <summary>"standard", "for_training", "for_inference" or "run" (NotFoundException otherwise).</summary>
        public static Pipeline Preset(string name) { PipelineHandle h; Check.S(NativeMethods.aph_pipeline_preset(Utf8.Z(name), out h)); return new Pipeline(h); }

        ~Pipeline() { FreeProgress(); }

        void FreeProgress()
        {
            IntPtr k = progressKey;
            progressKey = IntPtr.Zero;
            Callbacks.Unregister(k);
        }

        /// <summary>Appends a built-in stage ("validation", "hashing", "check", "plan", "execute").</summary>
        public Pipeline AddBuiltin(string stage) { Check.S(NativeMethods.aph_pipeline_add_builtin(Handle, Utf8.Z(stage))); return this; }

        static readonly aph_stage_fn stageFn = StageImpl;
        static readonly aph_hook_fn hookFn = HookImpl;
        static readonly aph_progress_fn progressFn = ProgressImpl;

        static Status StageImpl(IntPtr userData, IntPtr ctx, IntPtr graph)
        {
            try
            {
                var st = (Stage)Callbacks.Get(userData);
                using (var c = new BuildContext(new BuildContextHandle(ctx, false)))
                using (var g = new Graph(new GraphHandle(graph, false)))
                    st(c, g);
                return Status.Ok;
            }
            catch (Exception e) { return Callbacks.Fail(e, "stage"); }
        }

        static Status HookImpl(IntPtr userData, IntPtr ctx, IntPtr graph)
        {
            try
            {
                var hk = (Hook)Callbacks.Get(userData);
                using (var c = new BuildContext(new BuildContextHandle(ctx, false)))
                using (var g = new Graph(new GraphHandle(graph, false)))
                    hk(c, g);
                return Status.Ok;
            }
            catch (Exception e) { return Callbacks.Fail(e, "hook"); }
        }

        static void ProgressImpl(IntPtr userData, IntPtr stage, UIntPtr index, UIntPtr total)
        {
            try { ((Progress)Callbacks.Get(userData))(Utf8.From(stage), (int)(ulong)index, (int)(ulong)total); }
            catch (Exception e) { Callbacks.Report("pipeline progress", e); }
        }

        delegate Status Adder(IntPtr key);

        Pipeline Add(object fn, Adder add)
        {
            IntPtr key = Callbacks.Register(fn);
            Status s = add(key);
            if (s != Status.Ok)
            {
                var ex = AphelionException.Create(s, Library.LastError());
                Callbacks.Unregister(key); // not run on failure: user_data stays ours
                throw ex;
            }
            return this;
        }

        /// <summary>Appends a C# stage.</summary>
        public Pipeline AddStage(string name, Stage stage)
        {
            Check.NotNull(stage, "stage");
            var h = Handle;
            byte[] n = Utf8.Z(name);
            return Add(stage, k => NativeMethods.aph_pipeline_add_stage(h, n, stageFn, k, Callbacks.Destroy));
        }

        public Pipeline AddPreHook(Hook hook)
        {
            Check.NotNull(hook, "hook");
            var h = Handle;
            return Add(hook, k => NativeMethods.aph_pipeline_add_pre_hook(h, hookFn, k, Callbacks.Destroy));
        }

        public Pipeline AddPostHook(Hook hook)
        {
            Check.NotNull(hook, "hook");
            var h = Handle;
            return Add(hook, k => NativeMethods.aph_pipeline_add_post_hook(h, hookFn, k, Callbacks.Destroy));
        }

        public Pipeline Skip(string stage) { Check.S(NativeMethods.aph_pipeline_skip(Handle, Utf8.Z(stage))); return this; }

        /// <summary>Sets (null: clears) the progress callback.</summary>
        public void OnProgress(Progress progress)
        {
            IntPtr key = progress == null ? IntPtr.Zero : Callbacks.Register(progress);
            Status s = NativeMethods.aph_pipeline_set_progress(Handle, progress == null ? null : progressFn, key);
            if (s != Status.Ok)
            {
                var ex = AphelionException.Create(s, Library.LastError());
                Callbacks.Unregister(key);
                throw ex;
            }
            FreeProgress();
            progressKey = key;
        }

        public string[] StageNames
        {
            get
            {
                int n = (int)(ulong)NativeMethods.aph_pipeline_stage_count(Handle);
                var r = new string[n];
                for (int i = 0; i < n; i++) r[i] = Utf8.From(NativeMethods.aph_pipeline_stage_name(Handle, Check.Size(i)));
                return r;
            }
        }

        /// <summary>Runs the stages over graph.</summary>
        public void Run(BuildContext context, Graph graph)
        {
            Check.S(NativeMethods.aph_pipeline_run(Handle, Check.NotNull(context, "context").Handle, Check.NotNull(graph, "graph").Handle));
            GC.KeepAlive(this); // the progress callback's delegate lives as long as this object
        }

        /// <summary>After the pipeline is released (its stages' delegates go with it): the progress callback.</summary>
        protected override void OnDisposed() { FreeProgress(); }
    }
}
