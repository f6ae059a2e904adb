// Callbacks into C#: the managed objects travel as user_data (a GCHandle), the native function
// pointers are static delegates that live as long as the process, and no exception ever crosses
// into C. Hand-written.
using System;
using System.Runtime.InteropServices;
using Aphelion.Native;

namespace Aphelion
{
    /// <summary>What a callback that returns nothing (log, trace, progress, deleters) threw: it
    /// cannot become a failing status, so it is reported here (and otherwise written to stderr).</summary>
    public sealed class CallbackExceptionEventArgs : EventArgs
    {
        internal CallbackExceptionEventArgs(string where, Exception e) { Where = where; Exception = e; }
        public string Where { get; private set; }
        public Exception Exception { get; private set; }
    }

    static class Callbacks
    {
        /// <summary>Raised for exceptions of callbacks that cannot report a status.</summary>
        internal static event EventHandler<CallbackExceptionEventArgs> Unhandled;

        /// <summary>A new user_data keeping obj alive until Unregister (or the destroy callback).</summary>
        internal static IntPtr Register(object obj) { return GCHandle.ToIntPtr(GCHandle.Alloc(obj)); }
        internal static object Get(IntPtr key) { return key == IntPtr.Zero ? null : GCHandle.FromIntPtr(key).Target; }
        internal static void Unregister(IntPtr key) { if (key != IntPtr.Zero) GCHandle.FromIntPtr(key).Free(); }

        // The native entry points: static, so the delegates (and their thunks) are never collected.
        internal static readonly aph_destroy_fn Destroy = DestroyImpl;
        internal static readonly aph_deleter Deleter = DeleterImpl;

        static void DestroyImpl(IntPtr userData)
        {
            try { Unregister(userData); }
            catch (Exception e) { Report("destroy callback", e); }
        }

        // aph_tensor_from_blob's deleter: unpins the array and forgets it.
        static void DeleterImpl(IntPtr userData, IntPtr data)
        {
            try
            {
                var pin = (GCHandle)Get(userData);
                Unregister(userData);
                pin.Free();
            }
            catch (Exception e) { Report("tensor deleter", e); }
        }

        /// <summary>For callbacks that return a status: the exception becomes the calling thread's
        /// last error (its own status for an AphelionException, else APH_ERR_BACKEND, with the
        /// exception's type and message) and its status is returned to the library.</summary>
        internal static Status Fail(Exception e, string where)
        {
            try
            {
                Status s;
                string msg;
                var ae = e as AphelionException;
                if (ae != null && ae.Status != Status.Ok)
                {
                    s = ae.Status;
                    msg = ae.Message;
                    // The library prefixes the kind ("not found: "): give it the bare message.
                    NativeMethods.aph_set_last_error(s, Utf8.Z(""));
                    string prefix = Library.LastError();
                    if (prefix.Length > 0 && msg.StartsWith(prefix, StringComparison.Ordinal)) msg = msg.Substring(prefix.Length);
                }
                else
                {
                    s = Status.Backend;
                    msg = where + " threw " + e.GetType().FullName + ": " + e.Message;
                }
                NativeMethods.aph_set_last_error(s, Utf8.Z(msg.Replace('\0', ' ')));
                return s;
            }
            catch
            {
                return Status.Backend;
            }
        }

        /// <summary>For callbacks that return nothing.</summary>
        internal static void Report(string where, Exception e)
        {
            try
            {
                var h = Unhandled;
                if (h != null) h(null, new CallbackExceptionEventArgs(where, e));
                else Console.Error.WriteLine("aphelion: " + where + " threw " + e);
            }
            catch { }
        }
    }
}
