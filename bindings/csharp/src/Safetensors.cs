// safetensors files: memory-mapped reading and writing. Hand-written.
using System;
using System.Collections.Generic;
using Aphelion.Native;

namespace Aphelion
{
    /// <summary>A memory-mapped .safetensors file (aph_safetensors). Tensors read on the CPU are
    /// read-only views of the mapping (they keep it alive after the file is disposed).</summary>
    public sealed class SafetensorsFile : NativeObject<SafetensorsHandle>
    {
        SafetensorsFile(SafetensorsHandle h) : base(h) { }

        public static SafetensorsFile Open(string path)
        {
            SafetensorsHandle h;
            Check.S(NativeMethods.aph_safetensors_open(Utf8.Z(path), out h));
            return new SafetensorsFile(h);
        }

        /// <summary>The tensor names, in the file's order.</summary>
        public string[] Names
        {
            get
            {
                int n = (int)(ulong)NativeMethods.aph_safetensors_count(Handle);
                var r = new string[n];
                for (int i = 0; i < n; i++) r[i] = Utf8.From(NativeMethods.aph_safetensors_name(Handle, Check.Size(i)));
                GC.KeepAlive(this);
                return r;
            }
        }

        /// <summary>__metadata__ as compact JSON ("{}" when absent).</summary>
        public string Metadata { get { IntPtr s; Check.S(NativeMethods.aph_safetensors_metadata(Handle, out s)); return Utf8.Take(s); } }

        /// <summary>A tensor's dtype and shape without reading it (NotFoundException for a missing name).</summary>
        public long[] Info(string name, out DType dtype)
        {
            byte[] n = Utf8.Z(name);
            UIntPtr nd;
            Check.S(NativeMethods.aph_safetensors_info(Handle, n, out dtype, null, UIntPtr.Zero, out nd));
            var shape = new long[(int)(ulong)nd];
            Check.S(NativeMethods.aph_safetensors_info(Handle, n, out dtype, shape, Check.Size(shape.Length), out nd));
            return shape;
        }

        /// <summary>The tensor on device (null: the CPU, a read-only view without a copy).</summary>
        public Tensor Tensor(string name, Device device = null)
        {
            bool owned = device == null;
            if (owned) device = Device.Cpu();
            try
            {
                TensorHandle h;
                Check.S(NativeMethods.aph_safetensors_tensor(Handle, Utf8.Z(name), device.Handle, out h));
                return new Tensor(h);
            }
            finally { if (owned) device.Dispose(); }
        }

        /// <summary>Writes tensors (any devices and layouts) to path with optional metadata (a JSON
        /// object of strings), as safetensors' own writer lays them out.</summary>
        public static void Save(string path, IDictionary<string, Tensor> tensors, string metadataJson = null)
        {
            Check.NotNull(tensors, "tensors");
            var names = new List<string>();
            var ptrs = new IntPtr[tensors.Count];
            var keep = new List<Tensor>();
            foreach (var kv in tensors)
            {
                ptrs[names.Count] = Check.NotNull(kv.Value, "tensors[" + kv.Key + "]").Raw;
                names.Add(kv.Key);
                keep.Add(kv.Value);
            }
            using (var arr = new Utf8.StringArray(names, true))
                Check.S(NativeMethods.aph_safetensors_save(Utf8.Z(path), arr.Pointers, ptrs, Check.Size(ptrs.Length), Utf8.Z(metadataJson)));
            GC.KeepAlive(keep);
        }
    }
}
