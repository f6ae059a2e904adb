// NOT COMPILED YET (needs the model API; move to tests/ with pending/Model.cs): the golden MiniLM
// embeddings (tests/data/minilm/golden.safetensors, sentence-transformers' encode()) through the
// binding, in mixed batches: cosine >= 0.99999 and max abs difference <= 1e-4 per sentence.
using System;
using System.Linq;
using Aphelion;

namespace Aphelion.Tests
{
    [TestClass]
    public static class ModelTests
    {
        public static void TestGoldenMiniLM()
        {
            string dir = TokenizerTests.ModelDir();
            var sentences = ((System.Collections.Generic.List<object>)TokenizerTests.Golden()["sentences"]).Cast<string>().ToList();
            float[] golden;
            long[] shape;
            using (var f = SafetensorsFile.Open(Env.Path("tests", "data", "minilm", "golden.safetensors")))
            using (var g = f.Tensor("embeddings"))
            {
                shape = g.Shape;
                golden = g.ToFloatArray();
            }
            Assert.Equal((long)sentences.Count, shape[0], "golden rows");
            using (var model = Model.Load(dir, new ModelOptions { BatchSize = 5 }))
            {
                Assert.Equal(384, model.EmbeddingDim, "dim");
                Assert.Equal(Pooling.Mean, model.Pooling, "pooling");
                float[][] e = model.Embed(sentences);
                for (int i = 0; i < sentences.Count; i++)
                {
                    double dot = 0, na = 0, nb = 0, maxAbs = 0;
                    for (int j = 0; j < 384; j++)
                    {
                        double a = e[i][j], b = golden[i * 384 + j];
                        dot += a * b; na += a * a; nb += b * b;
                        maxAbs = Math.Max(maxAbs, Math.Abs(a - b));
                    }
                    double cos = dot / Math.Sqrt(na * nb);
                    Assert.True(cos >= 0.99999 && maxAbs <= 1e-4, "sentence " + i + ": cosine " + cos + ", max abs " + maxAbs);
                }
            }
        }
    }
}
