// Built-in operation schemas (the operation table as data) and custom operations written in C#.
// Hand-written.
using System;
using System.Runtime.InteropServices;
using Aphelion.Native;

namespace Aphelion
{
    /// <summary>One parameter of a built-in operation (aph_op_param).</summary>
    public sealed class OpParam
    {
        public string Name { get; internal set; }
        public ParamType Type { get; internal set; }
        public bool Required { get; internal set; }
        /// <summary>JSON text of the default, or null.</summary>
        public string DefaultJson { get; internal set; }
        /// <summary>An enumeration's strings, or null.</summary>
        public string[] AllowedValues { get; internal set; }
    }

    /// <summary>A built-in operation (aph_op_schema).</summary>
    public sealed class OpSchema
    {
        public string Name { get; internal set; }
        public NodeKind Kind { get; internal set; }
        public int Index { get; internal set; }
        public int MinOperands { get; internal set; }
        public int MaxOperands { get; internal set; }
        public string[] OperandNames { get; internal set; }
        public OpParam[] Params { get; internal set; }

        static string[] Strings(IntPtr arr, int n)
        {
            var r = new string[n];
            if (arr == IntPtr.Zero) return n == 0 ? r : null;
            var p = new IntPtr[n];
            if (n > 0) Marshal.Copy(arr, p, 0, n);
            for (int i = 0; i < n; i++) r[i] = Utf8.From(p[i]);
            return r;
        }

        static OpSchema From(aph_op_schema s)
        {
            int np = (int)(ulong)s.param_count;
            var ps = new OpParam[np];
            for (int i = 0; i < np; i++)
            {
                var p = new aph_op_param { struct_size = (UIntPtr)(uint)Marshal.SizeOf(typeof(aph_op_param)) };
                Check.S(NativeMethods.aph_op_get_param(s.index, Check.Size(i), ref p));
                ps[i] = new OpParam
                {
                    Name = Utf8.From(p.name), Type = p.type, Required = p.required != 0, DefaultJson = Utf8.From(p.default_json),
                    AllowedValues = p.allowed_values == IntPtr.Zero ? null : Strings(p.allowed_values, (int)(ulong)p.allowed_count),
                };
            }
            return new OpSchema
            {
                Name = Utf8.From(s.name), Kind = s.kind, Index = (int)(ulong)s.index, MinOperands = (int)(ulong)s.min_operands,
                MaxOperands = (int)(ulong)s.max_operands, OperandNames = Strings(s.operand_names, (int)(ulong)s.max_operands), Params = ps,
            };
        }

        /// <summary>Every built-in operation, in the table's order.</summary>
        public static OpSchema[] All()
        {
            int n = (int)(ulong)NativeMethods.aph_op_schema_count();
            var r = new OpSchema[n];
            for (int i = 0; i < n; i++)
            {
                var s = new aph_op_schema { struct_size = (UIntPtr)(uint)Marshal.SizeOf(typeof(aph_op_schema)) };
                Check.S(NativeMethods.aph_op_get_schema(Check.Size(i), ref s));
                r[i] = From(s);
            }
            return r;
        }

        /// <summary>The built-in operation named name (NotFoundException otherwise).</summary>
        public static OpSchema Find(string name)
        {
            var s = new aph_op_schema { struct_size = (UIntPtr)(uint)Marshal.SizeOf(typeof(aph_op_schema)) };
            Check.S(NativeMethods.aph_op_schema_find(Utf8.Z(name), ref s));
            return From(s);
        }
    }

    /// <summary>A custom operation's shape and dtype inference: from the node's params (compact
    /// JSON) and the operands' dtypes and shapes, the output's shape; returns its dtype.</summary>
    public delegate DType CustomInfer(string paramsJson, DType[] inputDTypes, long[][] inputShapes, out long[] outputShape);
    /// <summary>A custom operation's kernel: writes output (allocated by the executor, contiguous)
    /// from inputs. stream is null on the CPU. The tensors are valid during the call only.</summary>
    public delegate void CustomKernel(string paramsJson, Tensor[] inputs, Tensor output, Stream stream);

    /// <summary>Custom operations: registered by name for every executor made afterwards. The
    /// delegates stay alive until the registration is gone (unregistered or replaced, and no
    /// executor uses it any more). They may run on any thread, several at once. An exception
    /// they throw fails the run: an AphelionException keeps its status, any other exception
    /// becomes a BackendException naming it, with its message.</summary>
    public static class CustomOps
    {
        sealed class Reg { internal CustomInfer Infer; internal CustomKernel Cpu; internal CustomKernel Cuda; }

        static readonly aph_custom_op_infer_fn inferFn = InferImpl;
        static readonly aph_custom_op_cpu_fn cpuFn = CpuImpl;
        static readonly aph_custom_op_cuda_fn cudaFn = CudaImpl;

        static Status InferImpl(IntPtr userData, IntPtr paramsJson, UIntPtr nInputs, IntPtr dtypes, IntPtr shapes, IntPtr ndims,
                                IntPtr outDtype, IntPtr outShape, UIntPtr capacity, IntPtr outNdim)
        {
            try
            {
                var r = (Reg)Callbacks.Get(userData);
                int n = (int)(ulong)nInputs;
                var dts = new DType[n];
                var shp = new long[n][];
                var ints = new int[n];
                if (n > 0) Marshal.Copy(dtypes, ints, 0, n);
                var sp = new IntPtr[n];
                if (n > 0) Marshal.Copy(shapes, sp, 0, n);
                for (int i = 0; i < n; i++)
                {
                    dts[i] = (DType)ints[i];
                    int nd = (int)Marshal.ReadIntPtr(ndims, i * IntPtr.Size).ToInt64();
                    shp[i] = new long[nd];
                    if (nd > 0) Marshal.Copy(sp[i], shp[i], 0, nd);
                }
                long[] shape;
                DType dt = r.Infer(Utf8.From(paramsJson), dts, shp, out shape);
                if (shape == null) throw new ArgumentNullException("outputShape");
                if ((ulong)shape.Length > (ulong)capacity)
                    throw new InvalidArgumentException("the output has " + shape.Length + " dimensions, more than " + (ulong)capacity);
                Marshal.WriteInt32(outDtype, (int)dt);
                if (shape.Length > 0) Marshal.Copy(shape, 0, outShape, shape.Length);
                Marshal.WriteIntPtr(outNdim, (IntPtr)shape.Length);
                return Status.Ok;
            }
            catch (Exception e) { return Callbacks.Fail(e, "custom operation infer"); }
        }

        static Status Run(IntPtr userData, IntPtr paramsJson, UIntPtr nInputs, IntPtr inputs, IntPtr output, IntPtr stream, bool cuda)
        {
            int n = (int)(ulong)nInputs;
            var ts = new Tensor[n];
            Tensor o = null;
            Stream s = null;
            try
            {
                var r = (Reg)Callbacks.Get(userData);
                var ptrs = new IntPtr[n];
                if (n > 0) Marshal.Copy(inputs, ptrs, 0, n);
                // Borrowed for the call: wrappers that never release.
                for (int i = 0; i < n; i++) ts[i] = new Tensor(new TensorHandle(ptrs[i], false));
                o = new Tensor(new TensorHandle(output, false));
                if (stream != IntPtr.Zero) s = new Stream(new StreamHandle(stream, false));
                (cuda ? r.Cuda : r.Cpu)(Utf8.From(paramsJson), ts, o, s);
                return Status.Ok;
            }
            catch (Exception e) { return Callbacks.Fail(e, cuda ? "custom operation cuda kernel" : "custom operation cpu kernel"); }
            finally
            {
                foreach (var t in ts) if (t != null) t.Dispose();
                if (o != null) o.Dispose();
                if (s != null) s.Dispose();
            }
        }

        static Status CpuImpl(IntPtr u, IntPtr p, UIntPtr n, IntPtr inputs, IntPtr output) { return Run(u, p, n, inputs, output, IntPtr.Zero, false); }
        static Status CudaImpl(IntPtr u, IntPtr p, UIntPtr n, IntPtr inputs, IntPtr output, IntPtr stream) { return Run(u, p, n, inputs, output, stream, true); }

        /// <summary>Registers (or replaces) the custom operation name: infer and cpu required, cuda
        /// optional (without it a CUDA run is AphelionNotImplementedException).</summary>
        public static void Register(string name, CustomInfer infer, CustomKernel cpu, CustomKernel cuda = null)
        {
            Check.NotNull(infer, "infer"); Check.NotNull(cpu, "cpu");
            byte[] n = Utf8.Z(Check.NotNull(name, "name"));
            IntPtr key = Callbacks.Register(new Reg { Infer = infer, Cpu = cpu, Cuda = cuda });
            var pin = GCHandle.Alloc(n, GCHandleType.Pinned);
            try
            {
                var op = new aph_custom_op
                {
                    struct_size = (UIntPtr)(uint)Marshal.SizeOf(typeof(aph_custom_op)),
                    name = pin.AddrOfPinnedObject(),
                    infer = Marshal.GetFunctionPointerForDelegate(inferFn),
                    cpu = Marshal.GetFunctionPointerForDelegate(cpuFn),
                    cuda = cuda == null ? IntPtr.Zero : Marshal.GetFunctionPointerForDelegate(cudaFn),
                    user_data = key,
                    destroy = Marshal.GetFunctionPointerForDelegate(Callbacks.Destroy),
                };
                Status s = NativeMethods.aph_custom_op_register(ref op);
                if (s != Status.Ok)
                {
                    var ex = AphelionException.Create(s, Library.LastError());
                    Callbacks.Unregister(key); // destroy is not run when registering fails
                    throw ex;
                }
            }
            finally { pin.Free(); }
        }

        /// <summary>Removes a registration (NotFoundException for an unknown name).</summary>
        public static void Unregister(string name) { Check.S(NativeMethods.aph_custom_op_unregister(Utf8.Z(name))); }
    }
}
