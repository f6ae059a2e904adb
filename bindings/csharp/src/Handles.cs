// The base of every public wrapper: one SafeHandle, released exactly once (Dispose, or the
// SafeHandle's finaliser when the wrapper is dropped undisposed). Hand-written.
using System;
using System.Runtime.InteropServices;

namespace Aphelion
{
    /// <summary>A wrapper around one C handle. Dispose releases the reference once (a second
    /// Dispose does nothing); any use after Dispose throws ObjectDisposedException. An undisposed
    /// wrapper is released by its SafeHandle's finaliser, so the order in which the garbage
    /// collector drops objects never matters: every handle holds its own references to what it
    /// needs (a tensor keeps its device alive, an executor its graph's data, ...).</summary>
    public abstract class NativeObject<THandle> : IDisposable where THandle : SafeHandle
    {
        readonly THandle handle;
        // For views of borrowed pointers (a model's tokenizer, graph): a reference to the object
        // that owns the pointer, released with this wrapper (its own SafeHandle finaliser releases
        // it when the wrapper is dropped undisposed).
        readonly SafeHandle owner;

        internal NativeObject(THandle handle) : this(handle, null) { }

        internal NativeObject(THandle handle, SafeHandle owner)
        {
            if (handle == null || handle.IsInvalid)
                throw new ArgumentException("NULL " + GetType().Name + " handle");
            this.handle = handle;
            this.owner = owner;
        }

        /// <summary>The SafeHandle, for calls into Aphelion.Native.NativeMethods.</summary>
        public THandle Handle
        {
            get
            {
                if (handle.IsClosed) throw new ObjectDisposedException(GetType().Name);
                return handle;
            }
        }

        /// <summary>The raw pointer (valid while this object is not disposed).</summary>
        internal IntPtr Raw { get { return Handle.DangerousGetHandle(); } }

        /// <summary>True once Dispose has run.</summary>
        public bool IsDisposed { get { return handle.IsClosed; } }

        /// <summary>Releases this wrapper's reference (once; later calls do nothing).</summary>
        public void Dispose()
        {
            handle.Dispose();
            if (owner != null) owner.Dispose();
            OnDisposed();
            GC.SuppressFinalize(this);
        }

        /// <summary>Runs after Dispose released the handle (for wrappers holding more than it).</summary>
        protected virtual void OnDisposed() { }
    }
}
