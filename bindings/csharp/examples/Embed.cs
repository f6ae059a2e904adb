// The C# example, until the model API (aph_model_*) lands on this branch: tokenizes the example
// sentences with all-MiniLM-L6-v2's tokenizer into model inputs (i64 [batch, seq] tensors). The
// full example (embedding and ranking through Model) is bindings/csharp/pending/Embed.cs.
//   mono embed.exe [TOKENIZER_JSON]   (default: APH_TEST_MINILM_DIR/tokenizer.json; exit 77 without one)
using System;
using System.IO;
using System.Linq;
using Aphelion;

static class Embed
{
    static int Main(string[] args)
    {
        string path = args.Length > 0 ? args[0] : null;
        string dir = Environment.GetEnvironmentVariable("APH_TEST_MINILM_DIR");
        if (path == null && !string.IsNullOrEmpty(dir)) path = Path.Combine(dir, "tokenizer.json");
        if (path == null || !File.Exists(path)) { Console.Error.WriteLine("usage: embed.exe TOKENIZER_JSON (or set APH_TEST_MINILM_DIR)"); return 77; }
        string[] sentences = { "A man is playing a musical instrument.", "A woman is playing violin.", "A monkey is playing drums." };
        Console.WriteLine("libaphelion " + Library.Version);
        using (var tok = Tokenizer.Load(path))
        using (var batch = tok.Encode(sentences, new EncodeOptions { Padding = Padding.Longest }))
        {
            long[] shape = batch.InputIds.Shape;
            long[] ids = batch.InputIds.ToInt64Array();
            for (int i = 0; i < sentences.Length; i++)
                Console.WriteLine(sentences[i] + " -> [" + string.Join(", ", ids.Skip((int)(i * shape[1])).Take(batch.Lengths[i])) + "]");
        }
        return 0;
    }
}
