// Logging: the library's one process-wide logger routed into a C# delegate. Hand-written.
using System;
using Aphelion.Native;

namespace Aphelion
{
    /// <summary>A log record: level, target ("aphelion::device") and message.</summary>
    public delegate void LogHandler(LogLevel level, string target, string message);

    /// <summary>The library's logger (one per process; thread-safe).</summary>
    public static class Log
    {
        static readonly object gate = new object();
        static volatile LogHandler handler;
        static readonly aph_log_callback trampoline = Trampoline;

        static void Trampoline(IntPtr userData, LogLevel level, IntPtr target, IntPtr message)
        {
            var h = handler;
            if (h == null) return;
            try { h(level, Utf8.From(target), Utf8.From(message)); }
            catch (Exception e) { Callbacks.Report("log handler", e); }
        }

        /// <summary>Routes every record into handler (called from any thread, never under a library
        /// lock); null restores the library's default (stderr). An exception thrown by the handler
        /// is caught and reported through CallbackException.</summary>
        public static void SetHandler(LogHandler value)
        {
            lock (gate)
            {
                if (value != null) handler = value;
                Check.S(NativeMethods.aph_log_set_callback(value == null ? null : trampoline, IntPtr.Zero));
                if (value == null) handler = null;
            }
        }

        public static LogLevel Level
        {
            get { return NativeMethods.aph_log_get_level(); }
            set { Check.S(NativeMethods.aph_log_set_level(value)); }
        }

        public static string LevelName(LogLevel level) { return Utf8.From(NativeMethods.aph_log_level_name(level)); }

        /// <summary>Writes a record through the library's logger.</summary>
        public static void Write(LogLevel level, string target, string message)
        {
            Check.S(NativeMethods.aph_log_write(level, Utf8.Z(target), Utf8.Z(message)));
        }

        public static void ApplyPreset(LogPreset preset) { Check.S(NativeMethods.aph_log_apply_preset(preset)); }
        public static void TrainingStep(ulong step, ulong totalSteps, double loss, double lr) { Check.S(NativeMethods.aph_log_training_step(step, totalSteps, loss, lr)); }
        public static void MemoryUsage(ulong allocatedBytes, ulong peakBytes, string context) { Check.S(NativeMethods.aph_log_memory_usage(allocatedBytes, peakBytes, Utf8.Z(context))); }

        /// <summary>Exceptions thrown by callbacks that cannot return a status (log handler, trace
        /// callbacks, progress, deleters); without a subscriber they are written to stderr.</summary>
        public static event EventHandler<CallbackExceptionEventArgs> CallbackException
        {
            add { Callbacks.Unhandled += value; }
            remove { Callbacks.Unhandled -= value; }
        }
    }
}
