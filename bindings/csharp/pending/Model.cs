// NOT COMPILED YET: the Model wrapper, written against /work/notes/model-api.md (header section
// 23, aph_model_*), which has not landed on this branch. Once `git merge main` brings the model
// API and `python3 bindings/gen/generate.py csharp` declares it (ModelHandle, aph_model_options,
// Pooling, aph_model_progress_fn), move this file to src/ and examples/Embed.cs.pending over
// examples/Embed.cs, and add the golden MiniLM test (tests/ModelTests.cs.pending).
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using Aphelion.Native;

namespace Aphelion
{
    /// <summary>Options of Model.Load (aph_model_options); every field optional.</summary>
    public sealed class ModelOptions
    {
        /// <summary>null: the CPU.</summary>
        public Device Device { get; set; }
        /// <summary>Tokens per text, [CLS]/[SEP] included; 0: the directory's.</summary>
        public int MaxLength { get; set; }
        /// <summary>Texts per executor run inside Embed; 0: 32.</summary>
        public int BatchSize { get; set; }
        /// <summary>null: as the directory says; true/false: always/never L2-normalise.</summary>
        public bool? Normalize { get; set; }
        /// <summary>Called after each batch with (done, total); exceptions are reported through
        /// Log.CallbackException.</summary>
        public Action<int, int> Progress { get; set; }
    }

    /// <summary>A text encoder loaded from a Hugging Face / sentence-transformers directory
    /// (aph_model): tokenizer, encoder graph and executor. Not thread-safe per model (one
    /// executor): use one model per thread.</summary>
    public sealed class Model : NativeObject<ModelHandle>
    {
        IntPtr progressKey;
        Model(ModelHandle h, IntPtr progressKey) : base(h) { this.progressKey = progressKey; }

        static readonly aph_model_progress_fn progressFn = ProgressImpl;
        static void ProgressImpl(IntPtr userData, UIntPtr done, UIntPtr total)
        {
            try { ((Action<int, int>)Callbacks.Get(userData))((int)(ulong)done, (int)(ulong)total); }
            catch (Exception e) { Callbacks.Report("model progress", e); }
        }

        /// <summary>Loads dir (config.json, model.safetensors memory-mapped, tokenizer.json, ...).</summary>
        public static Model Load(string dir, ModelOptions options = null)
        {
            options = options ?? new ModelOptions();
            IntPtr key = options.Progress == null ? IntPtr.Zero : Callbacks.Register(options.Progress);
            var o = new aph_model_options
            {
                struct_size = (UIntPtr)(uint)Marshal.SizeOf(typeof(aph_model_options)),
                device = options.Device == null ? IntPtr.Zero : options.Device.Raw,
                max_length = Check.Size(options.MaxLength),
                batch_size = Check.Size(options.BatchSize),
                normalize = options.Normalize == null ? -1 : (options.Normalize.Value ? 1 : 0),
                progress = key == IntPtr.Zero ? IntPtr.Zero : Marshal.GetFunctionPointerForDelegate(progressFn),
                progress_user_data = key,
            };
            ModelHandle h;
            Status s = NativeMethods.aph_model_load(Utf8.Z(dir), ref o, out h);
            GC.KeepAlive(options);
            if (s != Status.Ok)
            {
                var ex = AphelionException.Create(s, Library.LastError());
                Callbacks.Unregister(key);
                throw ex;
            }
            return new Model(h, key);
        }

        ~Model() { FreeProgress(); }
        void FreeProgress() { IntPtr k = progressKey; progressKey = IntPtr.Zero; Callbacks.Unregister(k); }
        protected override void OnDisposed() { FreeProgress(); }

        public int EmbeddingDim { get { return (int)(ulong)NativeMethods.aph_model_embedding_dim(Handle); } }
        public int MaxLength { get { return (int)(ulong)NativeMethods.aph_model_max_length(Handle); } }
        public Pooling Pooling { get { return NativeMethods.aph_model_pooling(Handle); } }
        public bool Normalizes { get { return NativeMethods.aph_model_normalizes(Handle) != 0; } }

        /// <summary>The model's tokenizer (the wrapper holds the model alive through its own
        /// reference: tokenizers are not reference counted, so this is valid while the model is not
        /// disposed).</summary>
        public Tokenizer Tokenizer { get { return new Tokenizer(new TokenizerHandle(NativeMethods.aph_model_tokenizer(Handle), false)); } }
        /// <summary>The encoder graph (borrowed: valid while the model is not disposed).</summary>
        public Graph Graph { get { return new Graph(new GraphHandle(NativeMethods.aph_model_graph(Handle), false)); } }
        /// <summary>The model's executor (a new reference).</summary>
        public Executor Executor { get { return Executor.Borrowed(NativeMethods.aph_model_executor(Handle)); } }

        /// <summary>Embeds texts: a new f32 tensor [count, EmbeddingDim] on the CPU.</summary>
        public Tensor EmbedTensor(IList<string> texts)
        {
            Check.NotNull(texts, "texts");
            using (var arr = new Utf8.StringArray(texts, false))
            {
                TensorHandle h;
                Check.S(NativeMethods.aph_model_embed(Handle, arr.Pointers, arr.Lengths, Check.Size(texts.Count), out h));
                GC.KeepAlive(this);
                return new Tensor(h);
            }
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

        /// <summary>The encoder on caller tokens (i64 [batch, seq] ids and mask).</summary>
        public Tensor EmbedTokens(Tensor inputIds, Tensor attentionMask)
        {
            TensorHandle h;
            Check.S(NativeMethods.aph_model_embed_tokens(Handle, Check.NotNull(inputIds, "inputIds").Handle, Check.NotNull(attentionMask, "attentionMask").Handle, out h));
            return new Tensor(h);
        }
    }
}
