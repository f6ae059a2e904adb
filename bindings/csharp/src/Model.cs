// Text encoders from Hugging Face / sentence-transformers directories (header section 23,
// aph_model_*). Hand-written.
using System;
using System.Collections.Generic;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using Aphelion.Native;

namespace Aphelion
{
    /// <summary>Options of Model.Load (aph_model_options); every field optional, the defaults are
    /// the directory's settings on the CPU.</summary>
    public sealed class ModelOptions
    {
        /// <summary>null: the CPU (the model keeps its own reference to the device).</summary>
        public Device Device { get; set; }
        /// <summary>Tokens per text, [CLS]/[SEP] included; 0: the directory's
        /// (sentence_bert_config.json max_seq_length, else config.json max_position_embeddings).</summary>
        public int MaxLength { get; set; }
        /// <summary>Texts per executor run inside Embed; 0: 32.</summary>
        public int BatchSize { get; set; }
        /// <summary>null: as the directory says (a sentence-transformers Normalize module); true:
        /// always L2-normalise; false: never.</summary>
        public bool? Normalize { get; set; }
        /// <summary>Called on the embedding thread after each batch of Embed with (done, total).
        /// It may not use the model. An exception it throws is rethrown by Embed once the call
        /// into the library returns (the remaining batches still run; their result is dropped).</summary>
        public Action<int, int> Progress { get; set; }
        /// <summary>The encoder's linear layers (F32 by default; BF16 and INT8: about 1.7x / 2x
        /// faster on the CPU, cosine to f32 above 0.9999 / 0.999; AphelionNotImplementedException
        /// without AVX512_BF16 / AVX512_VNNI).</summary>
        public MatmulPrecision MatmulPrecision { get; set; }

        /// <summary>aph_model_options.normalize: 0 as the directory says, 1 always, -1 never.</summary>
        internal static int NormalizeFlag(bool? normalize) { return normalize == null ? 0 : (normalize.Value ? 1 : -1); }
    }

    /// <summary>A BERT-family sentence encoder (all-MiniLM-L6-v2 and the like) loaded from a
    /// Hugging Face model directory (aph_model): its tokenizer, its encoder graph and an executor
    /// with model.safetensors' weights memory-mapped in place. One thread at a time per model (it
    /// owns one executor): load one model per thread to embed in parallel. Dispose may be called
    /// from any thread.</summary>
    public sealed class Model : NativeObject<ModelHandle>
    {
        // The progress callback's state (a GCHandle key, Callbacks.Register), freed with the model.
        sealed class ProgressState
        {
            internal Action<int, int> Fn;
            internal ExceptionDispatchInfo Error;
        }

        IntPtr progressKey;
        readonly ProgressState progress;

        Model(ModelHandle h, IntPtr progressKey, ProgressState progress) : base(h)
        {
            this.progressKey = progressKey;
            this.progress = progress;
        }

        static readonly aph_model_progress_fn progressFn = ProgressImpl;
        static void ProgressImpl(IntPtr userData, UIntPtr done, UIntPtr total)
        {
            ProgressState st = null;
            try
            {
                st = (ProgressState)Callbacks.Get(userData);
                if (st.Error == null) st.Fn((int)(ulong)done, (int)(ulong)total);
            }
            catch (Exception e)
            {
                if (st != null) st.Error = ExceptionDispatchInfo.Capture(e);
                else Callbacks.Report("model progress", e);
            }
        }

        /// <summary>Loads the model directory dir (config.json, model.safetensors, tokenizer.json,
        /// and for sentence-transformers directories modules.json, 1_Pooling/config.json,
        /// sentence_bert_config.json) and builds its encoder and executor (aph_model_load).
        /// Throws IoException naming a missing file, InvalidConfigException for an unsupported
        /// configuration, SerializationException, NotFoundException (a missing weight),
        /// InvalidArgumentException (an out-of-range MaxLength).</summary>
        public static Model Load(string dir, ModelOptions options = null)
        {
            Check.NotNull(dir, "dir");
            options = options ?? new ModelOptions();
            if (options.MaxLength < 0) throw new ArgumentOutOfRangeException("options.MaxLength", options.MaxLength, "MaxLength must be >= 0 (0: the directory's)");
            if (options.BatchSize < 0) throw new ArgumentOutOfRangeException("options.BatchSize", options.BatchSize, "BatchSize must be >= 0 (0: 32)");
            ProgressState st = options.Progress == null ? null : new ProgressState { Fn = options.Progress };
            IntPtr key = st == null ? IntPtr.Zero : Callbacks.Register(st);
            Device device = options.Device;
            var o = new aph_model_options
            {
                struct_size = (UIntPtr)(uint)Marshal.SizeOf(typeof(aph_model_options)),
                device = device == null ? IntPtr.Zero : device.Raw,
                max_length = Check.Size(options.MaxLength),
                batch_size = Check.Size(options.BatchSize),
                normalize = ModelOptions.NormalizeFlag(options.Normalize),
                progress = key == IntPtr.Zero ? IntPtr.Zero : Marshal.GetFunctionPointerForDelegate(progressFn),
                progress_user_data = key,
                matmul_precision = options.MatmulPrecision,
            };
            ModelHandle h;
            Status s = NativeMethods.aph_model_load(Utf8.Z(dir), ref o, out h);
            GC.KeepAlive(device);
            if (s != Status.Ok)
            {
                var ex = AphelionException.Create(s, Library.LastError());
                Callbacks.Unregister(key);
                throw ex;
            }
            return new Model(h, key, st);
        }

        ~Model() { FreeProgress(); }
        void FreeProgress() { IntPtr k = progressKey; progressKey = IntPtr.Zero; Callbacks.Unregister(k); }
        protected override void OnDisposed() { FreeProgress(); }

        /// <summary>The size of one embedding (384 for all-MiniLM-L6-v2).</summary>
        public int EmbeddingDim { get { return (int)(ulong)NativeMethods.aph_model_embedding_dim(Handle); } }
        /// <summary>Tokens per text after truncation, special tokens included.</summary>
        public int MaxLength { get { return (int)(ulong)NativeMethods.aph_model_max_length(Handle); } }
        public Pooling Pooling { get { return NativeMethods.aph_model_pooling(Handle); } }
        /// <summary>Whether the embeddings are L2-normalised.</summary>
        public bool Normalizes { get { return NativeMethods.aph_model_normalizes(Handle) != 0; } }

        /// <summary>The model's tokenizer, configured by the model (truncation to MaxLength,
        /// padding to the longest text). The returned wrapper holds its own reference to the
        /// model, so it stays valid after this Model is disposed; dispose it when done.</summary>
        public Tokenizer Tokenizer
        {
            get
            {
                IntPtr p = NativeMethods.aph_model_tokenizer(Handle);
                return new Tokenizer(new TokenizerHandle(p, false), ModelHandle.Retain(Raw));
            }
        }

        /// <summary>A copy of the encoder graph (aph_graph_clone of aph_model_graph: inputs
        /// "input_ids" and "attention_mask", i64 ["batch", "seq"]; output "embeddings", f32
        /// ["batch", dim]; weight nodes named after the checkpoint's keys). The copy is the
        /// caller's: changing it does not change the model.</summary>
        public Graph Graph
        {
            get
            {
                GraphHandle h;
                using (var borrowed = new GraphHandle(NativeMethods.aph_model_graph(Handle), false))
                    Check.S(NativeMethods.aph_graph_clone(borrowed, out h));
                GC.KeepAlive(this);
                return new Graph(h);
            }
        }

        /// <summary>The model's executor (weights bound; Embed rebinds its inputs on every batch,
        /// so do not use it concurrently with Embed). The wrapper holds references to the
        /// executor and to the model.</summary>
        public Executor Executor
        {
            get
            {
                IntPtr raw = Raw;
                return new Executor(ExecutorHandle.Retain(NativeMethods.aph_model_executor(Handle)), ModelHandle.Retain(raw));
            }
        }

        /// <summary>Embeds texts (any string, NUL characters included): a new contiguous f32
        /// tensor [texts.Count, EmbeddingDim] on the CPU, row i for texts[i]
        /// (aph_model_embed).</summary>
        public Tensor EmbedTensor(IList<string> texts)
        {
            Check.NotNull(texts, "texts");
            if (progress != null) progress.Error = null;
            TensorHandle h;
            using (var arr = new Utf8.StringArray(texts, false))
            {
                Check.S(NativeMethods.aph_model_embed(Handle, arr.Pointers, arr.Lengths, Check.Size(texts.Count), out h));
            }
            GC.KeepAlive(this); // the progress state lives as long as this object
            var t = new Tensor(h);
            if (progress != null && progress.Error != null)
            {
                var e = progress.Error;
                progress.Error = null;
                t.Dispose();
                e.Throw();
            }
            return t;
        }

        /// <summary>Embeds texts: one float[EmbeddingDim] per text.</summary>
        public float[][] Embed(IList<string> texts)
        {
            using (var t = EmbedTensor(texts))
            {
                int dim = EmbeddingDim;
                var all = t.ToFloatArray();
                var r = new float[texts.Count][];
                for (int i = 0; i < r.Length; i++) { r[i] = new float[dim]; Array.Copy(all, i * dim, r[i], 0, dim); }
                return r;
            }
        }

        /// <summary>Embeds one text.</summary>
        public float[] Embed(string text) { return Embed(new[] { Check.NotNull(text, "text") })[0]; }

        /// <summary>The encoder on the caller's tokens: inputIds and attentionMask, i64 [batch,
        /// seq] of the same shape, on any device. A new f32 tensor [batch, EmbeddingDim] on the
        /// CPU, pooled and normalised as Embed (aph_model_embed_tokens).</summary>
        public Tensor EmbedTokens(Tensor inputIds, Tensor attentionMask)
        {
            Check.NotNull(inputIds, "inputIds");
            Check.NotNull(attentionMask, "attentionMask");
            TensorHandle h;
            Check.S(NativeMethods.aph_model_embed_tokens(Handle, inputIds.Handle, attentionMask.Handle, out h));
            GC.KeepAlive(this);
            return new Tensor(h);
        }
    }
}
