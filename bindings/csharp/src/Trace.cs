// Trace sinks: in-memory, filtering, fan-out, and C# callbacks. Hand-written.
using System;
using System.Runtime.InteropServices;
using Aphelion.Native;

namespace Aphelion
{
    /// <summary>A trace event (aph_trace_event), with strings decoded.</summary>
    public sealed class TraceEvent
    {
        public string Id { get; set; }
        public string Message { get; set; }
        /// <summary>Seconds since the Unix epoch.</summary>
        public double Timestamp { get; set; }
        public TraceLevel Level { get; set; }
        public string SpanId { get; set; }
        public string TraceId { get; set; }

        internal static TraceEvent From(ref aph_trace_event e)
        {
            return new TraceEvent
            {
                Id = Utf8.From(e.id), Message = Utf8.From(e.message), Timestamp = e.timestamp,
                Level = e.level, SpanId = Utf8.From(e.span_id), TraceId = Utf8.From(e.trace_id),
            };
        }
    }

    /// <summary>A timed span (aph_trace_span), with strings decoded.</summary>
    public sealed class TraceSpan
    {
        public string Name { get; set; }
        public string Category { get; set; }
        public ulong StartNs { get; set; }
        public ulong DurationNs { get; set; }
        public string Device { get; set; }
        public ulong Bytes { get; set; }
        /// <summary>A JSON object, or null.</summary>
        public string ArgsJson { get; set; }

        internal static TraceSpan From(ref aph_trace_span s)
        {
            return new TraceSpan
            {
                Name = Utf8.From(s.name), Category = Utf8.From(s.category), StartNs = s.start_ns,
                DurationNs = s.duration_ns, Device = Utf8.From(s.device), Bytes = s.bytes, ArgsJson = Utf8.From(s.args_json),
            };
        }
    }

    /// <summary>A trace sink (aph_trace_sink). Thread-safe.</summary>
    public sealed class TraceSink : NativeObject<TraceSinkHandle>
    {
        internal TraceSink(TraceSinkHandle h) : base(h) { }
        internal static TraceSink Borrowed(IntPtr p) { var h = TraceSinkHandle.Retain(p); return h == null ? null : new TraceSink(h); }
        internal static TraceSinkHandle H(TraceSink s) { return s == null ? TraceSinkHandle.Null : s.Handle; }

        /// <summary>An in-memory sink (keeps events and spans for Events, Spans and the exporters).</summary>
        public static TraceSink Memory() { TraceSinkHandle h; Check.S(NativeMethods.aph_trace_sink_memory(out h)); return new TraceSink(h); }

        /// <summary>Passes on only events at minLevel or above.</summary>
        public static TraceSink Filter(TraceSink inner, TraceLevel minLevel)
        {
            TraceSinkHandle h;
            Check.S(NativeMethods.aph_trace_sink_filter(Check.NotNull(inner, "inner").Handle, minLevel, out h));
            return new TraceSink(h);
        }

        /// <summary>Passes everything to each sink in order.</summary>
        public static TraceSink Fanout(params TraceSink[] sinks)
        {
            Check.NotNull(sinks, "sinks");
            var ptrs = new IntPtr[sinks.Length];
            for (int i = 0; i < sinks.Length; i++) ptrs[i] = Check.NotNull(sinks[i], "sinks[" + i + "]").Raw;
            TraceSinkHandle h;
            Check.S(NativeMethods.aph_trace_sink_fanout(ptrs, Check.Size(ptrs.Length), out h));
            GC.KeepAlive(sinks);
            return new TraceSink(h);
        }

        sealed class Pair { internal Action<TraceEvent> OnEvent; internal Action<TraceSpan> OnSpan; }
        static readonly aph_trace_event_fn eventFn = EventImpl;
        static readonly aph_trace_span_fn spanFn = SpanImpl;

        static void EventImpl(IntPtr userData, IntPtr ev)
        {
            try
            {
                var p = (Pair)Callbacks.Get(userData);
                var e = (aph_trace_event)Marshal.PtrToStructure(ev, typeof(aph_trace_event));
                p.OnEvent(TraceEvent.From(ref e));
            }
            catch (Exception e) { Callbacks.Report("trace event callback", e); }
        }

        static void SpanImpl(IntPtr userData, IntPtr sp)
        {
            try
            {
                var p = (Pair)Callbacks.Get(userData);
                var s = (aph_trace_span)Marshal.PtrToStructure(sp, typeof(aph_trace_span));
                p.OnSpan(TraceSpan.From(ref s));
            }
            catch (Exception e) { Callbacks.Report("trace span callback", e); }
        }

        /// <summary>Calls onEvent (required) and onSpan (null: spans dropped) from the recording
        /// thread, concurrently when several threads record. The delegates stay alive as long as the
        /// sink (or a filter or fan-out over it) does. An exception they throw is reported through
        /// Log.CallbackException.</summary>
        public static TraceSink Callback(Action<TraceEvent> onEvent, Action<TraceSpan> onSpan = null)
        {
            Check.NotNull(onEvent, "onEvent");
            IntPtr key = Callbacks.Register(new Pair { OnEvent = onEvent, OnSpan = onSpan });
            TraceSinkHandle h;
            Status s = NativeMethods.aph_trace_sink_callback(eventFn, onSpan == null ? null : spanFn, key, Callbacks.Destroy, out h);
            // On failure destroy is not run and user_data stays ours.
            if (s != Status.Ok) { var ex = AphelionException.Create(s, Library.LastError()); Callbacks.Unregister(key); throw ex; }
            return new TraceSink(h);
        }

        public void Record(TraceEvent e)
        {
            Check.NotNull(e, "e");
            byte[] id = Utf8.Z(e.Id), msg = Utf8.Z(e.Message), span = Utf8.Z(e.SpanId), trace = Utf8.Z(e.TraceId);
            var pins = new[] { Pin(id), Pin(msg), Pin(span), Pin(trace) };
            try
            {
                var r = new aph_trace_event
                {
                    struct_size = (UIntPtr)(uint)Marshal.SizeOf(typeof(aph_trace_event)),
                    id = Addr(pins[0]), message = Addr(pins[1]), timestamp = e.Timestamp, level = e.Level,
                    span_id = Addr(pins[2]), trace_id = Addr(pins[3]),
                };
                Check.S(NativeMethods.aph_trace_sink_record(Handle, ref r));
            }
            finally { foreach (var p in pins) if (p.IsAllocated) p.Free(); }
        }

        public void RecordSpan(TraceSpan s)
        {
            Check.NotNull(s, "s");
            var pins = new[] { Pin(Utf8.Z(s.Name)), Pin(Utf8.Z(s.Category)), Pin(Utf8.Z(s.Device)), Pin(Utf8.Z(s.ArgsJson)) };
            try
            {
                var r = new aph_trace_span
                {
                    struct_size = (UIntPtr)(uint)Marshal.SizeOf(typeof(aph_trace_span)),
                    name = Addr(pins[0]), category = Addr(pins[1]), start_ns = s.StartNs, duration_ns = s.DurationNs,
                    device = Addr(pins[2]), bytes = s.Bytes, args_json = Addr(pins[3]),
                };
                Check.S(NativeMethods.aph_trace_sink_record_span(Handle, ref r));
            }
            finally { foreach (var p in pins) if (p.IsAllocated) p.Free(); }
        }

        static GCHandle Pin(byte[] b) { return b == null ? default(GCHandle) : GCHandle.Alloc(b, GCHandleType.Pinned); }
        static IntPtr Addr(GCHandle h) { return h.IsAllocated ? h.AddrOfPinnedObject() : IntPtr.Zero; }

        /// <summary>The events of an in-memory sink (InvalidArgumentException for other sinks).</summary>
        public TraceEvent[] Events
        {
            get
            {
                int n = (int)(ulong)NativeMethods.aph_trace_sink_event_count(Handle);
                var r = new TraceEvent[n];
                for (int i = 0; i < n; i++)
                {
                    var e = new aph_trace_event { struct_size = (UIntPtr)(uint)Marshal.SizeOf(typeof(aph_trace_event)) };
                    Check.S(NativeMethods.aph_trace_sink_event(Handle, Check.Size(i), ref e));
                    r[i] = TraceEvent.From(ref e);
                }
                return r;
            }
        }

        /// <summary>The spans of an in-memory sink.</summary>
        public TraceSpan[] Spans
        {
            get
            {
                int n = (int)(ulong)NativeMethods.aph_trace_sink_span_count(Handle);
                var r = new TraceSpan[n];
                for (int i = 0; i < n; i++)
                {
                    var s = new aph_trace_span { struct_size = (UIntPtr)(uint)Marshal.SizeOf(typeof(aph_trace_span)) };
                    Check.S(NativeMethods.aph_trace_sink_span(Handle, Check.Size(i), ref s));
                    r[i] = TraceSpan.From(ref s);
                }
                return r;
            }
        }

        public void Clear() { Check.S(NativeMethods.aph_trace_sink_clear(Handle)); }
        /// <summary>aphelion-core's JSON export of the events.</summary>
        public string ExportJson() { IntPtr s; Check.S(NativeMethods.aph_trace_export_json(Handle, out s)); return Utf8.Take(s); }
        /// <summary>Chrome trace-event JSON of the spans and events.</summary>
        public string ExportChrome() { IntPtr s; Check.S(NativeMethods.aph_trace_export_chrome(Handle, out s)); return Utf8.Take(s); }
    }
}
