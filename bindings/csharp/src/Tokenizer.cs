// Hugging Face tokenizers (tokenizer.json): WordPiece/BPE encoding into model inputs. Hand-written.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using Aphelion.Native;

namespace Aphelion
{
    /// <summary>aph_tokenizer_encode_options (defaults: the file's settings, special tokens added).</summary>
    public sealed class EncodeOptions
    {
        public Truncation Truncation { get; set; }
        public int MaxLength { get; set; }
        public Padding Padding { get; set; }
        public int PadLength { get; set; }
        public int PadToMultipleOf { get; set; }
        public bool NoSpecialTokens { get; set; }

        internal static aph_tokenizer_encode_options Raw(EncodeOptions o)
        {
            var r = new aph_tokenizer_encode_options { struct_size = (UIntPtr)(uint)Marshal.SizeOf(typeof(aph_tokenizer_encode_options)) };
            if (o == null) return r;
            r.truncation = o.Truncation; r.max_length = Check.Size(o.MaxLength); r.padding = o.Padding;
            r.pad_length = Check.Size(o.PadLength); r.pad_to_multiple_of = Check.Size(o.PadToMultipleOf);
            r.no_special_tokens = o.NoSpecialTokens ? 1 : 0;
            return r;
        }
    }

    /// <summary>Model inputs from Tokenizer.Encode: i64 tensors [count, length] (dispose them).</summary>
    public sealed class EncodedBatch : IDisposable
    {
        public Tensor InputIds { get; internal set; }
        public Tensor AttentionMask { get; internal set; }
        public Tensor TokenTypeIds { get; internal set; }
        /// <summary>Each text's token count (special tokens included, padding not).</summary>
        public int[] Lengths { get; internal set; }
        public void Dispose()
        {
            if (InputIds != null) InputIds.Dispose();
            if (AttentionMask != null) AttentionMask.Dispose();
            if (TokenTypeIds != null) TokenTypeIds.Dispose();
        }
    }

    /// <summary>A tokenizer (aph_tokenizer) read from a tokenizer.json. Immutable: usable from
    /// several threads at once.</summary>
    public sealed class Tokenizer : NativeObject<TokenizerHandle>
    {
        internal Tokenizer(TokenizerHandle h) : base(h) { }
        internal Tokenizer(TokenizerHandle h, SafeHandle owner) : base(h, owner) { }

        public static Tokenizer Load(string path)
        {
            TokenizerHandle h;
            Check.S(NativeMethods.aph_tokenizer_load(Utf8.Z(path), out h));
            return new Tokenizer(h);
        }

        public static Tokenizer FromJson(string json)
        {
            byte[] b = Utf8.Bytes(Check.NotNull(json, "json"));
            TokenizerHandle h;
            Check.S(NativeMethods.aph_tokenizer_load_json(b, Check.Size(b.Length), out h));
            return new Tokenizer(h);
        }

        public int VocabSize { get { return (int)(ulong)NativeMethods.aph_tokenizer_vocab_size(Handle); } }
        /// <summary>The file's truncation max_length (0 when none).</summary>
        public int MaxLength { get { return (int)(ulong)NativeMethods.aph_tokenizer_max_length(Handle); } }
        public int SpecialTokenCount { get { return (int)(ulong)NativeMethods.aph_tokenizer_special_token_count(Handle); } }
        /// <summary>The id of a token, -1 when not in the vocabulary.</summary>
        public long TokenToId(string token) { return NativeMethods.aph_tokenizer_token_to_id(Handle, Utf8.Z(token)); }
        /// <summary>The token of an id, null when out of range.</summary>
        public string IdToToken(long id) { string s = Utf8.From(NativeMethods.aph_tokenizer_id_to_token(Handle, id)); GC.KeepAlive(this); return s; }

        /// <summary>One text's ids (aph_tokenizer_encode_ids).</summary>
        public long[] EncodeIds(string text, EncodeOptions options = null)
        {
            byte[] b = Utf8.Bytes(Check.NotNull(text, "text"));
            var o = EncodeOptions.Raw(options);
            UIntPtr n;
            Check.S(NativeMethods.aph_tokenizer_encode_ids(Handle, b, Check.Size(b.Length), ref o, null, UIntPtr.Zero, out n));
            var ids = new long[(int)(ulong)n];
            if (ids.Length == 0) return ids;
            Check.S(NativeMethods.aph_tokenizer_encode_ids(Handle, b, Check.Size(b.Length), ref o, ids, Check.Size(ids.Length), out n));
            return ids;
        }

        /// <summary>A batch of texts as model inputs on device (null: the CPU).</summary>
        public EncodedBatch Encode(IList<string> texts, EncodeOptions options = null, Device device = null)
        {
            Check.NotNull(texts, "texts");
            var o = EncodeOptions.Raw(options);
            bool owned = device == null;
            if (owned) device = Device.Cpu();
            try
            {
                using (var arr = new Utf8.StringArray(texts, false))
                {
                    var lengths = new UIntPtr[Math.Max(texts.Count, 1)];
                    TensorHandle ids, mask, types;
                    Check.S(NativeMethods.aph_tokenizer_encode(Handle, arr.Pointers, arr.Lengths, Check.Size(texts.Count), ref o,
                        device.Handle, out ids, out mask, out types, lengths, Check.Size(lengths.Length)));
                    var lens = new int[texts.Count];
                    for (int i = 0; i < lens.Length; i++) lens[i] = (int)(ulong)lengths[i];
                    return new EncodedBatch { InputIds = new Tensor(ids), AttentionMask = new Tensor(mask), TokenTypeIds = new Tensor(types), Lengths = lens };
                }
            }
            finally { if (owned) device.Dispose(); }
        }
    }
}
