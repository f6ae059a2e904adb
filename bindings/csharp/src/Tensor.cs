// Tensors: creation, metadata, views, copies and data access (arrays that copy, spans that do
// not). Hand-written.
using System;
using System.Runtime.InteropServices;
using Aphelion.Native;

namespace Aphelion
{
    /// <summary>dtype helpers (section 4).</summary>
    public static class DTypes
    {
        /// <summary>Bytes per element (0 for an unknown dtype).</summary>
        public static long Size(this DType d) { return (long)(ulong)NativeMethods.aph_dtype_size(d); }
        /// <summary>"f32", "bf16", ...</summary>
        public static string Name(this DType d) { return Utf8.From(NativeMethods.aph_dtype_name(d)); }
        public static bool IsFloatingPoint(this DType d) { return NativeMethods.aph_dtype_is_floating_point(d) != 0; }
        public static bool IsHalfPrecision(this DType d) { return NativeMethods.aph_dtype_is_half_precision(d) != 0; }
        public static bool IsTraining(this DType d) { return NativeMethods.aph_dtype_is_training(d) != 0; }
        public static bool IsInteger(this DType d) { return NativeMethods.aph_dtype_is_integer(d) != 0; }
        public static DType Accumulator(this DType d) { return NativeMethods.aph_dtype_accumulator(d); }
        /// <summary>Parses "f32", "float32", ... (aph_dtype_from_name).</summary>
        public static DType Parse(string name)
        {
            DType d;
            Check.S(NativeMethods.aph_dtype_from_name(Utf8.Z(name), out d));
            return d;
        }
        public static DType ComputeDType(this PrecisionMode m) { return NativeMethods.aph_precision_compute_dtype(m); }
        public static DType MasterWeightDType(this PrecisionMode m) { return NativeMethods.aph_precision_master_weight_dtype(m); }
        public static bool RequiresLossScaling(this PrecisionMode m) { return NativeMethods.aph_precision_requires_loss_scaling(m) != 0; }

        /// <summary>Bytes of a tensor (aph_estimate_tensor_bytes).</summary>
        public static ulong EstimateTensorBytes(DType dtype, params long[] shape)
        {
            ulong b;
            Check.S(NativeMethods.aph_estimate_tensor_bytes(shape, Check.Size(shape.Length), dtype, out b));
            return b;
        }

        /// <summary>Bytes of an attention score matrix (aph_estimate_attention_bytes).</summary>
        public static ulong EstimateAttentionBytes(ulong batch, ulong heads, ulong seqLen, ulong headDim, DType dtype)
        {
            ulong b;
            Check.S(NativeMethods.aph_estimate_attention_bytes(batch, heads, seqLen, headDim, dtype, out b));
            return b;
        }

        /// <summary>The dtype of a .NET element type (float -> F32, ...).</summary>
        internal static DType Of(Type t)
        {
            if (t == typeof(float)) return DType.F32;
            if (t == typeof(double)) return DType.F64;
            if (t == typeof(long)) return DType.I64;
            if (t == typeof(int)) return DType.I32;
            if (t == typeof(short)) return DType.I16;
            if (t == typeof(sbyte)) return DType.I8;
            if (t == typeof(byte)) return DType.U8;
            if (t == typeof(uint)) return DType.U32;
            throw new ArgumentException("no dtype for elements of type " + t.Name + " (use the overload that takes a dtype)");
        }

        /// <summary>The size of the blittable element types arrays and spans may have.</summary>
        internal static int ElementSize(Type t)
        {
            if (t == typeof(float) || t == typeof(int) || t == typeof(uint)) return 4;
            if (t == typeof(double) || t == typeof(long) || t == typeof(ulong)) return 8;
            if (t == typeof(short) || t == typeof(ushort) || t == typeof(Half16)) return 2;
            if (t == typeof(byte) || t == typeof(sbyte)) return 1;
            throw new ArgumentException("elements of type " + t.Name + " cannot be viewed as tensor data");
        }
    }

    /// <summary>Raw 16-bit elements (f16 or bf16 bits) for spans over half-precision tensors.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Half16 { public ushort Bits; }

    /// <summary>An n-dimensional array on a device (aph_tensor). Metadata is immutable, so a
    /// tensor may be read from many threads; writing its memory from several threads at once is
    /// the caller's business. Views share storage and keep it alive.</summary>
    public sealed class Tensor : NativeObject<TensorHandle>
    {
        internal Tensor(TensorHandle h) : base(h) { }
        internal static Tensor Borrowed(IntPtr p) { var h = TensorHandle.Retain(p); return h == null ? null : new Tensor(h); }
        internal static TensorHandle H(Tensor t) { return t == null ? TensorHandle.Null : t.Handle; }
        internal static Tensor Wrap(TensorHandle h) { return h.IsInvalid ? null : new Tensor(h); }

        static Device Dev(Device d) { return d; }

        static Device OrCpu(ref Device device, out bool owned)
        {
            owned = device == null;
            if (owned) device = Device.Cpu();
            return device;
        }

        /// <summary>Uninitialised memory (aph_tensor_create); device null: the CPU.</summary>
        public static Tensor Create(DType dtype, long[] shape, Device device = null, Stream stream = null)
        {
            bool owned;
            OrCpu(ref device, out owned);
            try
            {
                TensorHandle h;
                if (stream == null) Check.S(NativeMethods.aph_tensor_create(device.Handle, dtype, shape, Check.Size(Len(shape)), out h));
                else Check.S(NativeMethods.aph_tensor_create_on_stream(device.Handle, dtype, shape, Check.Size(Len(shape)), stream.Handle, out h));
                return new Tensor(h);
            }
            finally { if (owned) device.Dispose(); }
        }

        /// <summary>Zeros (aph_tensor_zeros); device null: the CPU.</summary>
        public static Tensor Zeros(DType dtype, long[] shape, Device device = null)
        {
            bool owned;
            OrCpu(ref device, out owned);
            try
            {
                TensorHandle h;
                Check.S(NativeMethods.aph_tensor_zeros(device.Handle, dtype, shape, Check.Size(Len(shape)), out h));
                return new Tensor(h);
            }
            finally { if (owned) device.Dispose(); }
        }

        static int Len(long[] shape) { return shape == null ? 0 : shape.Length; }

        /// <summary>A copy of a primitive array (float[] -> f32, long[] -> i64, ...) with a shape
        /// (default: one dimension of data.Length); device null: the CPU.</summary>
        public static Tensor FromArray(Array data, long[] shape = null, Device device = null)
        {
            Check.NotNull(data, "data");
            return FromArray(data, DTypes.Of(data.GetType().GetElementType()), shape, device);
        }

        /// <summary>A copy of a primitive array read as dtype (e.g. ushort[] as F16 or BF16 bits).</summary>
        public static Tensor FromArray(Array data, DType dtype, long[] shape = null, Device device = null)
        {
            Check.NotNull(data, "data");
            if (shape == null) shape = new long[] { data.Length };
            long nbytes = (long)data.Length * DTypes.ElementSize(data.GetType().GetElementType());
            bool owned;
            OrCpu(ref device, out owned);
            var pin = GCHandle.Alloc(data, GCHandleType.Pinned);
            try
            {
                TensorHandle h;
                Check.S(NativeMethods.aph_tensor_from_host(device.Handle, dtype, shape, Check.Size(shape.Length),
                    pin.AddrOfPinnedObject(), Check.Size(nbytes), out h));
                return new Tensor(h);
            }
            finally { pin.Free(); if (owned) device.Dispose(); }
        }

        /// <summary>A CPU tensor over the array's own memory, without a copy (aph_tensor_from_blob):
        /// the array stays pinned until the last reference to the tensor (views included) is
        /// gone, then the library's deleter unpins it. Writes through the tensor change the array.</summary>
        public static Tensor Borrow(Array data, long[] shape = null, DType? dtype = null)
        {
            Check.NotNull(data, "data");
            if (shape == null) shape = new long[] { data.Length };
            DType dt = dtype ?? DTypes.Of(data.GetType().GetElementType());
            DTypes.ElementSize(data.GetType().GetElementType());
            var pin = GCHandle.Alloc(data, GCHandleType.Pinned);
            IntPtr key = Callbacks.Register(pin);
            bool ok = false;
            try
            {
                using (var cpu = Device.Cpu())
                {
                    TensorHandle h;
                    Check.S(NativeMethods.aph_tensor_from_blob(cpu.Handle, dt, shape, null, Check.Size(shape.Length),
                        pin.AddrOfPinnedObject(), Callbacks.Deleter, key, out h));
                    ok = true;
                    return new Tensor(h);
                }
            }
            finally
            {
                if (!ok) { Callbacks.Unregister(key); pin.Free(); }
            }
        }

        public DType DType { get { return NativeMethods.aph_tensor_dtype(Handle); } }
        public int NDim { get { return (int)(ulong)NativeMethods.aph_tensor_ndim(Handle); } }
        public long[] Shape { get { return ReadLongs(NativeMethods.aph_tensor_shape(Handle)); } }
        public long[] Strides { get { return ReadLongs(NativeMethods.aph_tensor_strides(Handle)); } }
        public long Numel { get { return NativeMethods.aph_tensor_numel(Handle); } }
        public long NBytes { get { return (long)NativeMethods.aph_tensor_nbytes(Handle); } }
        public long ByteOffset { get { return (long)NativeMethods.aph_tensor_byte_offset(Handle); } }
        public bool IsContiguous { get { return NativeMethods.aph_tensor_is_contiguous(Handle) != 0; } }
        public bool IsReadOnly { get { return NativeMethods.aph_tensor_is_read_only(Handle) != 0; } }
        /// <summary>The tensor's device (a new reference).</summary>
        public Device Device { get { return Device.Borrowed(NativeMethods.aph_tensor_device(Handle)); } }
        public bool SharesStorage(Tensor other) { return NativeMethods.aph_tensor_shares_storage(Handle, Check.NotNull(other, "other").Handle) != 0; }

        long[] ReadLongs(IntPtr p)
        {
            int n = NDim;
            var r = new long[n];
            if (n > 0) Marshal.Copy(p, r, 0, n);
            GC.KeepAlive(this);
            return r;
        }

        /// <summary>The address of the first element for reading (NULL for zero-size tensors); valid
        /// while the tensor lives.</summary>
        public IntPtr DataPointer { get { return NativeMethods.aph_tensor_data(Handle); } }

        /// <summary>The address for writing; InvalidArgumentException for a read-only tensor.</summary>
        public IntPtr MutableDataPointer
        {
            get { IntPtr p; Check.S(NativeMethods.aph_tensor_data_mut(Handle, out p)); return p; }
        }

        // ---- arrays (copies; any device, any layout) ----

        /// <summary>Copies the elements in row-major order into dst (any device, any layout);
        /// dst's byte size must equal NBytes.</summary>
        public void CopyTo(Array dst)
        {
            Check.NotNull(dst, "dst");
            long nbytes = (long)dst.Length * DTypes.ElementSize(dst.GetType().GetElementType());
            var pin = GCHandle.Alloc(dst, GCHandleType.Pinned);
            try { Check.S(NativeMethods.aph_tensor_to_host(Handle, pin.AddrOfPinnedObject(), Check.Size(nbytes))); }
            finally { pin.Free(); }
        }

        /// <summary>Overwrites the elements with src's, row-major (any device, any layout).</summary>
        public void CopyFrom(Array src)
        {
            Check.NotNull(src, "src");
            long nbytes = (long)src.Length * DTypes.ElementSize(src.GetType().GetElementType());
            var pin = GCHandle.Alloc(src, GCHandleType.Pinned);
            try { Check.S(NativeMethods.aph_tensor_copy_from_host(Handle, pin.AddrOfPinnedObject(), Check.Size(nbytes))); }
            finally { pin.Free(); }
        }

        /// <summary>As CopyTo, queued on stream (see aph_tensor_to_host_async: the array must stay
        /// pinned by the caller until the stream reaches the copy, so this overload takes a pointer).</summary>
        public void CopyToAsync(IntPtr dst, long nbytes, Stream stream = null)
        {
            Check.S(NativeMethods.aph_tensor_to_host_async(Handle, dst, Check.Size(nbytes), Stream.H(stream)));
        }

        /// <summary>As CopyFrom, queued on stream (src may be reused when the call returns).</summary>
        public void CopyFromAsync(Array src, Stream stream = null)
        {
            Check.NotNull(src, "src");
            long nbytes = (long)src.Length * DTypes.ElementSize(src.GetType().GetElementType());
            var pin = GCHandle.Alloc(src, GCHandleType.Pinned);
            try { Check.S(NativeMethods.aph_tensor_copy_from_host_async(Handle, pin.AddrOfPinnedObject(), Check.Size(nbytes), Stream.H(stream))); }
            finally { pin.Free(); }
        }

        T[] ToArrayOf<T>(DType expect)
        {
            if (DType != expect) throw new InvalidOperationException("tensor is " + DType.Name() + ", not " + expect.Name());
            var a = new T[checked((int)Numel)];
            CopyTo(a);
            return a;
        }
        public float[] ToFloatArray() { return ToArrayOf<float>(DType.F32); }
        public double[] ToDoubleArray() { return ToArrayOf<double>(DType.F64); }
        public long[] ToInt64Array() { return ToArrayOf<long>(DType.I64); }
        public int[] ToInt32Array() { return ToArrayOf<int>(DType.I32); }
        public byte[] ToByteArray() { return ToArrayOf<byte>(DType.U8); }

        // ---- spans (no copy; CPU, contiguous) ----

        unsafe void* SpanBase<T>(bool write, out int length)
        {
            int es = DTypes.ElementSize(typeof(T));
            if (DType.Size() != es)
                throw new InvalidOperationException("a " + DType.Name() + " tensor cannot be viewed as " + typeof(T).Name + " elements");
            using (var d = Device)
                if (d.Kind != DeviceKind.Cpu) throw new InvalidOperationException("spans need a CPU tensor (this one is on " + d.Label + "): copy it with ToDevice or ToFloatArray");
            if (!IsContiguous) throw new InvalidOperationException("spans need a contiguous tensor: call Contiguous() first");
            length = checked((int)Numel);
            if (length == 0) return null;
            IntPtr p = write ? MutableDataPointer : DataPointer;
            return (void*)p;
        }

        /// <summary>The elements of a contiguous CPU tensor, without a copy, for reading and
        /// writing (InvalidArgumentException for a read-only tensor). Valid while the tensor is
        /// neither disposed nor collected: keep a reference to it while the span is used.</summary>
        public unsafe Span<T> AsSpan<T>() where T : struct
        {
            int n;
            void* p = SpanBase<T>(true, out n);
            return new Span<T>(p, n);
        }

        /// <summary>The elements of a contiguous CPU tensor, without a copy, for reading (read-only
        /// tensors too). Valid while the tensor is neither disposed nor collected.</summary>
        public unsafe ReadOnlySpan<T> AsReadOnlySpan<T>() where T : struct
        {
            int n;
            void* p = SpanBase<T>(false, out n);
            return new ReadOnlySpan<T>(p, n);
        }

        // ---- copies and views ----

        /// <summary>A contiguous copy on device (aph_tensor_to_device).</summary>
        public Tensor ToDevice(Device device)
        {
            TensorHandle h;
            Check.S(NativeMethods.aph_tensor_to_device(Handle, Check.NotNull(device, "device").Handle, out h));
            return new Tensor(h);
        }

        /// <summary>Copies src's elements into this tensor (aph_tensor_copy / _async with a stream).</summary>
        public void CopyFrom(Tensor src, Stream stream = null)
        {
            Check.NotNull(src, "src");
            if (stream == null) Check.S(NativeMethods.aph_tensor_copy(Handle, src.Handle));
            else Check.S(NativeMethods.aph_tensor_copy_async(Handle, src.Handle, stream.Handle));
        }

        /// <summary>This tensor (a new reference) when contiguous, else a contiguous copy.</summary>
        public Tensor Contiguous() { TensorHandle h; Check.S(NativeMethods.aph_tensor_contiguous(Handle, out h)); return new Tensor(h); }
        public void RecordStream(Stream stream) { Check.S(NativeMethods.aph_tensor_record_stream(Handle, Check.NotNull(stream, "stream").Handle)); }
        public Tensor Reshape(params long[] shape) { TensorHandle h; Check.S(NativeMethods.aph_tensor_reshape(Handle, shape, Check.Size(shape.Length), out h)); return new Tensor(h); }
        public Tensor Permute(params long[] dims) { TensorHandle h; Check.S(NativeMethods.aph_tensor_permute(Handle, dims, Check.Size(dims.Length), out h)); return new Tensor(h); }
        public Tensor Transpose(long dim0, long dim1) { TensorHandle h; Check.S(NativeMethods.aph_tensor_transpose(Handle, dim0, dim1, out h)); return new Tensor(h); }
        public Tensor Slice(long dim, long start, long stop, long step = 1) { TensorHandle h; Check.S(NativeMethods.aph_tensor_slice(Handle, dim, start, stop, step, out h)); return new Tensor(h); }
        public Tensor Narrow(long dim, long start, long length) { TensorHandle h; Check.S(NativeMethods.aph_tensor_narrow(Handle, dim, start, length, out h)); return new Tensor(h); }
        public Tensor Select(long dim, long index) { TensorHandle h; Check.S(NativeMethods.aph_tensor_select(Handle, dim, index, out h)); return new Tensor(h); }
        public Tensor Expand(params long[] shape) { TensorHandle h; Check.S(NativeMethods.aph_tensor_expand(Handle, shape, Check.Size(shape.Length), out h)); return new Tensor(h); }

        /// <summary>A DLPack export (DLManagedTensorVersioned*, aph_tensor_to_dlpack): the consumer
        /// calls its deleter.</summary>
        public IntPtr ToDLPack() { IntPtr p; Check.S(NativeMethods.aph_tensor_to_dlpack(Handle, out p)); return p; }
        /// <summary>A DLPack export in the pre-1.0 layout (DLManagedTensor*).</summary>
        public IntPtr ToDLPackUnversioned() { IntPtr p; Check.S(NativeMethods.aph_tensor_to_dlpack_unversioned(Handle, out p)); return p; }
        /// <summary>Imports a DLManagedTensorVersioned* (ownership moves to the tensor on success).</summary>
        public static Tensor FromDLPack(IntPtr managed) { TensorHandle h; Check.S(NativeMethods.aph_tensor_from_dlpack(managed, out h)); return new Tensor(h); }
        /// <summary>Imports a DLManagedTensor* (ownership moves to the tensor on success).</summary>
        public static Tensor FromDLPackUnversioned(IntPtr managed) { TensorHandle h; Check.S(NativeMethods.aph_tensor_from_dlpack_unversioned(managed, out h)); return new Tensor(h); }

        public override string ToString()
        {
            if (IsDisposed) return "Tensor(disposed)";
            using (var d = Device) return "Tensor(" + DType.Name() + " [" + string.Join(", ", Shape) + "] on " + d.Label + ")";
        }
    }
}
