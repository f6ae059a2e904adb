// Devices, device configurations, trackers, streams, events and CUDA information. Hand-written.
using System;
using Aphelion.Native;

namespace Aphelion
{
    /// <summary>A compute device (aph_device): the CPU or a CUDA GPU. Thread-safe.</summary>
    public sealed class Device : NativeObject<DeviceHandle>
    {
        internal Device(DeviceHandle h) : base(h) { }

        /// <summary>Wraps a borrowed aph_device* with a new reference (null for NULL).</summary>
        internal static Device Borrowed(IntPtr p) { var h = DeviceHandle.Retain(p); return h == null ? null : new Device(h); }

        /// <summary>Opens "cpu", "cuda" (ordinal 0) or "cuda:N".</summary>
        public static Device Open(string spec)
        {
            Check.NotNull(spec, "spec");
            string s = spec.Trim().ToLowerInvariant();
            if (s == "cpu") return Open(DeviceKind.Cpu, 0);
            if (s == "cuda") return Open(DeviceKind.Cuda, 0);
            int n;
            if (s.StartsWith("cuda:") && int.TryParse(s.Substring(5), out n)) return Open(DeviceKind.Cuda, n);
            if (s.StartsWith("cpu:") && int.TryParse(s.Substring(4), out n)) return Open(DeviceKind.Cpu, n);
            throw new ArgumentException("device \"" + spec + "\": expected cpu, cuda or cuda:N", "spec");
        }

        /// <summary>aph_device_open.</summary>
        public static Device Open(DeviceKind kind, int ordinal = 0)
        {
            DeviceHandle h;
            Check.S(NativeMethods.aph_device_open(kind, ordinal, out h));
            return new Device(h);
        }

        /// <summary>The CPU device.</summary>
        public static Device Cpu() { return Open(DeviceKind.Cpu, 0); }

        /// <summary>aph_device_select: the device a configuration (default: the environment's)
        /// picks: CUDA when available, else the CPU with a warning.</summary>
        public static Device Select(DeviceConfig config = null)
        {
            DeviceHandle h;
            if (config != null) Check.S(NativeMethods.aph_device_select(config.Handle, out h));
            else
            {
                using (var c = DeviceConfig.FromEnvironment()) Check.S(NativeMethods.aph_device_select(c.Handle, out h));
            }
            return new Device(h);
        }

        /// <summary>Number of devices of a kind (aph_device_count).</summary>
        public static int Count(DeviceKind kind)
        {
            int n;
            Check.S(NativeMethods.aph_device_count(kind, out n));
            return n;
        }

        public DeviceKind Kind { get { return NativeMethods.aph_device_get_kind(Handle); } }
        public int Ordinal { get { return NativeMethods.aph_device_ordinal(Handle); } }
        /// <summary>"cpu", "cuda:0".</summary>
        public string Label { get { return Utf8.From(NativeMethods.aph_device_label(Handle)); } }
        /// <summary>The hardware name.</summary>
        public string Name { get { return Utf8.From(NativeMethods.aph_device_name(Handle)); } }
        public ulong TotalMemory { get { return NativeMethods.aph_device_total_memory(Handle); } }
        public int MultiprocessorCount { get { return NativeMethods.aph_device_multiprocessor_count(Handle); } }
        public int LogicalCores { get { return NativeMethods.aph_device_logical_cores(Handle); } }

        /// <summary>(free, total) bytes now.</summary>
        public void MemoryInfo(out ulong free, out ulong total)
        {
            Check.S(NativeMethods.aph_device_memory_info(Handle, out free, out total));
        }

        /// <summary>CUDA compute capability (major, minor).</summary>
        public void ComputeCapability(out int major, out int minor)
        {
            Check.S(NativeMethods.aph_device_compute_capability(Handle, out major, out minor));
        }

        /// <summary>Logs the CPU-fallback warning once when this is the CPU (aph_warn_if_cpu).</summary>
        public void WarnIfCpu(string component) { NativeMethods.aph_warn_if_cpu(Handle, Utf8.Z(component)); }

        /// <summary>The device's default stream (a new reference).</summary>
        public Stream DefaultStream { get { return Stream.Borrowed(NativeMethods.aph_device_default_stream(Handle)); } }

        public void Synchronize() { Check.S(NativeMethods.aph_device_synchronize(Handle)); }

        /// <summary>Allocator statistics (aph_device_memory_stats).</summary>
        public aph_memory_stats MemoryStats()
        {
            var s = new aph_memory_stats();
            s.struct_size = (UIntPtr)(uint)System.Runtime.InteropServices.Marshal.SizeOf(typeof(aph_memory_stats));
            Check.S(NativeMethods.aph_device_memory_stats(Handle, ref s));
            return s;
        }

        public void ResetPeakStats() { Check.S(NativeMethods.aph_device_reset_peak_stats(Handle)); }
        public void EmptyCache() { Check.S(NativeMethods.aph_device_empty_cache(Handle)); }

        /// <summary>The tracker charged with this device's allocations (null: none).</summary>
        public Tracker Tracker
        {
            get
            {
                TrackerHandle h;
                Check.S(NativeMethods.aph_device_tracker(Handle, out h));
                if (h.IsInvalid) { h.Dispose(); return null; }
                return new Tracker(h);
            }
            set { Check.S(NativeMethods.aph_device_set_tracker(Handle, value == null ? TrackerHandle.Null : value.Handle)); }
        }

        /// <summary>Raw device memory (aph_device_allocate); give it back with Free.</summary>
        public IntPtr Allocate(long bytes, Stream stream = null)
        {
            IntPtr p;
            Check.S(NativeMethods.aph_device_allocate(Handle, Check.Size(bytes), Stream.H(stream), out p));
            return p;
        }

        public void Free(IntPtr ptr) { Check.S(NativeMethods.aph_device_free(Handle, ptr)); }

        public void RecordStream(IntPtr ptr, Stream stream) { Check.S(NativeMethods.aph_device_record_stream(Handle, ptr, Stream.H(stream))); }

        public override string ToString() { return IsDisposed ? "Device(disposed)" : "Device(" + Label + ")"; }

        /// <summary>The CUDA support of this process (aph_cuda_get_info).</summary>
        public static CudaInfo CudaInfo()
        {
            var i = new aph_cuda_info();
            i.struct_size = (UIntPtr)(uint)System.Runtime.InteropServices.Marshal.SizeOf(typeof(aph_cuda_info));
            Check.S(NativeMethods.aph_cuda_get_info(ref i));
            return new CudaInfo(i);
        }

        /// <summary>The calling thread's CPU worker-thread limit for eager operations (0: the default).</summary>
        public static long CpuThreadLimit
        {
            get { return (long)(ulong)NativeMethods.aph_cpu_get_thread_limit(); }
            set { Check.S(NativeMethods.aph_cpu_set_thread_limit(Check.Size(value))); }
        }

        /// <summary>The worker threads this thread's eager operations use.</summary>
        public static long CpuThreadCount { get { return (long)(ulong)NativeMethods.aph_cpu_thread_count(); } }
    }

    /// <summary>aph_cuda_info, with strings decoded.</summary>
    public sealed class CudaInfo
    {
        internal CudaInfo(aph_cuda_info i)
        {
            ModuleBuilt = i.module_built != 0; ModuleLoaded = i.module_loaded != 0;
            ModulePath = Utf8.From(i.module_path); DriverPresent = i.driver_present != 0;
            DriverVersion = i.driver_version; RuntimeVersion = i.runtime_version;
            DeviceCount = i.device_count; Reason = Utf8.From(i.reason);
        }
        public bool ModuleBuilt { get; private set; }
        public bool ModuleLoaded { get; private set; }
        public string ModulePath { get; private set; }
        public bool DriverPresent { get; private set; }
        public int DriverVersion { get; private set; }
        public int RuntimeVersion { get; private set; }
        public int DeviceCount { get; private set; }
        public string Reason { get; private set; }
    }

    /// <summary>A device selection configuration (aph_device_config). One thread at a time.</summary>
    public sealed class DeviceConfig : NativeObject<DeviceConfigHandle>
    {
        DeviceConfig(DeviceConfigHandle h) : base(h) { }

        public DeviceConfig() : this(Create()) { }
        static DeviceConfigHandle Create()
        {
            DeviceConfigHandle h;
            Check.S(NativeMethods.aph_device_config_create(out h));
            return h;
        }

        /// <summary>From APHELION_FORCE_CPU / APHELION_CUDA_DEVICE (and their legacy names).</summary>
        public static DeviceConfig FromEnvironment()
        {
            DeviceConfigHandle h;
            Check.S(NativeMethods.aph_device_config_from_env(out h));
            return new DeviceConfig(h);
        }

        public int CudaDevice
        {
            get { return NativeMethods.aph_device_config_cuda_device(Handle); }
            set { Check.S(NativeMethods.aph_device_config_set_cuda_device(Handle, value)); }
        }
        public bool ForceCpu
        {
            get { return NativeMethods.aph_device_config_force_cpu(Handle) != 0; }
            set { Check.S(NativeMethods.aph_device_config_set_force_cpu(Handle, value ? 1 : 0)); }
        }
        public string Component
        {
            get { return Utf8.From(NativeMethods.aph_device_config_component(Handle)); }
            set { Check.S(NativeMethods.aph_device_config_set_component(Handle, Utf8.Z(value))); }
        }
    }

    /// <summary>A memory tracker with an optional limit (aph_tracker). Thread-safe.</summary>
    public sealed class Tracker : NativeObject<TrackerHandle>
    {
        internal Tracker(TrackerHandle h) : base(h) { }
        internal static Tracker Borrowed(IntPtr p) { var h = TrackerHandle.Retain(p); return h == null ? null : new Tracker(h); }
        internal static TrackerHandle H(Tracker t) { return t == null ? TrackerHandle.Null : t.Handle; }

        /// <summary>A tracker; limitBytes 0: no limit.</summary>
        public Tracker(ulong limitBytes = 0) : base(Create(limitBytes)) { }
        static TrackerHandle Create(ulong limit)
        {
            TrackerHandle h;
            Check.S(NativeMethods.aph_tracker_create(limit, out h));
            return h;
        }

        public double OverheadFactor
        {
            get { return NativeMethods.aph_tracker_overhead_factor(Handle); }
            set { Check.S(NativeMethods.aph_tracker_set_overhead_factor(Handle, value)); }
        }
        /// <summary>Charges bytes; AphelionOutOfMemoryException past the limit.</summary>
        public void Allocate(ulong bytes) { Check.S(NativeMethods.aph_tracker_allocate(Handle, bytes)); }
        public void Deallocate(ulong bytes) { Check.S(NativeMethods.aph_tracker_deallocate(Handle, bytes)); }
        public bool WouldFit(ulong bytes) { return NativeMethods.aph_tracker_would_fit(Handle, bytes) != 0; }
        public ulong AllocatedBytes { get { return NativeMethods.aph_tracker_allocated_bytes(Handle); } }
        public ulong PeakBytes { get { return NativeMethods.aph_tracker_peak_bytes(Handle); } }
        public ulong LimitBytes { get { return NativeMethods.aph_tracker_limit_bytes(Handle); } }
        public void Reset() { NativeMethods.aph_tracker_reset(Handle); }
        public ulong EstimateWithOverhead(DType dtype, params long[] shape)
        {
            ulong b;
            Check.S(NativeMethods.aph_tracker_estimate_with_overhead(Handle, shape, Check.Size(shape.Length), dtype, out b));
            return b;
        }
    }

    /// <summary>A stream of device work (aph_stream). Thread-safe.</summary>
    public sealed class Stream : NativeObject<StreamHandle>
    {
        internal Stream(StreamHandle h) : base(h) { }
        internal static Stream Borrowed(IntPtr p) { var h = StreamHandle.Retain(p); return h == null ? null : new Stream(h); }
        internal static StreamHandle H(Stream s) { return s == null ? StreamHandle.Null : s.Handle; }

        /// <summary>A new stream on device (aph_stream_create).</summary>
        public Stream(Device device) : base(Create(device)) { }
        static StreamHandle Create(Device d)
        {
            StreamHandle h;
            Check.S(NativeMethods.aph_stream_create(Check.NotNull(d, "device").Handle, out h));
            return h;
        }

        /// <summary>Wraps a cudaStream_t the caller owns (aph_stream_wrap_cuda).</summary>
        public static Stream WrapCuda(Device device, IntPtr cudaStream)
        {
            StreamHandle h;
            Check.S(NativeMethods.aph_stream_wrap_cuda(Check.NotNull(device, "device").Handle, cudaStream, out h));
            return new Stream(h);
        }

        public Device Device { get { return Device.Borrowed(NativeMethods.aph_stream_device(Handle)); } }
        /// <summary>The cudaStream_t (IntPtr.Zero on the CPU).</summary>
        public IntPtr CudaHandle { get { return NativeMethods.aph_stream_cuda_handle(Handle); } }
        public void Synchronize() { Check.S(NativeMethods.aph_stream_synchronize(Handle)); }
        /// <summary>True when all queued work is done (does not wait).</summary>
        public bool Query() { int idle; Check.S(NativeMethods.aph_stream_query(Handle, out idle)); return idle != 0; }
        public void WaitEvent(Event e) { Check.S(NativeMethods.aph_stream_wait_event(Handle, Check.NotNull(e, "e").Handle)); }
    }

    /// <summary>A device event (aph_event).</summary>
    public sealed class Event : NativeObject<EventHandle>
    {
        public Event(Device device) : base(Create(device)) { }
        static EventHandle Create(Device d)
        {
            EventHandle h;
            Check.S(NativeMethods.aph_event_create(Check.NotNull(d, "device").Handle, out h));
            return h;
        }
        public void Record(Stream stream = null) { Check.S(NativeMethods.aph_event_record(Handle, Stream.H(stream))); }
        public void Synchronize() { Check.S(NativeMethods.aph_event_synchronize(Handle)); }
        public bool Query() { int done; Check.S(NativeMethods.aph_event_query(Handle, out done)); return done != 0; }
    }
}
