//go:build aphelion_model

package aphelion

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// The golden all-MiniLM-L6-v2 embeddings (tests/data/minilm, sentence-transformers' encode())
// through the binding: cosine >= 0.99999 and max abs difference <= 1e-4 per sentence, the
// sentences embedded together in mixed batches.
func TestModelGolden(t *testing.T) {
	dir := minilmDir(t)
	var golden struct {
		Sentences []string `json:"sentences"`
	}
	root := sourceDir(t)
	noErr(t, json.Unmarshal(must(os.ReadFile(filepath.Join(root, "tests/data/minilm/golden.json"))), &golden))
	ref := must(OpenSafetensors(filepath.Join(root, "tests/data/minilm/golden.safetensors")))
	defer ref.Close()
	refT := must(ref.Tensor("embeddings", cpu(t)))
	defer refT.Close()
	want := must(ToSlice[float32](refT))

	var progress []int
	m := must(LoadModel(context.Background(), dir, &ModelOptions{BatchSize: 5, Progress: func(done, total int) {
		progress = append(progress, done)
	}}))
	defer m.Close()
	dim := m.EmbeddingDim()
	if dim != 384 || m.MaxLength() != 256 || m.Pooling() != PoolingMean || !m.Normalizes() {
		t.Fatalf("model: dim %d max %d pooling %v normalizes %v", dim, m.MaxLength(), m.Pooling(), m.Normalizes())
	}
	emb := must(m.Embed(context.Background(), golden.Sentences))
	defer emb.Close()
	got := must(emb.Float32s())
	if len(got) != len(want) || len(got) != len(golden.Sentences)*dim {
		t.Fatalf("%d values, golden %d", len(got), len(want))
	}
	for i := range golden.Sentences {
		var dot, na, nb, maxAbs float64
		for j := 0; j < dim; j++ {
			a, b := float64(got[i*dim+j]), float64(want[i*dim+j])
			dot += a * b
			na += a * a
			nb += b * b
			maxAbs = math.Max(maxAbs, math.Abs(a-b))
		}
		if cos := dot / math.Sqrt(na*nb); cos < 0.99999 || maxAbs > 1e-4 {
			t.Errorf("sentence %d %q: cosine %.7f, max abs %.2e", i, golden.Sentences[i], cos, maxAbs)
		}
	}
	if len(progress) == 0 || progress[len(progress)-1] != len(golden.Sentences) {
		t.Fatalf("progress %v", progress)
	}
	if m.Tokenizer().VocabSize() != 30522 {
		t.Fatal("model tokenizer")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Embed(ctx, golden.Sentences); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled embed: %v", err)
	}
	if _, err := LoadModel(context.Background(), t.TempDir(), nil); !errors.Is(err, ErrIo) {
		t.Fatalf("empty directory: %v", err)
	}
	tok := m.Tokenizer()
	m.Close()
	if tok.VocabSize() != 0 {
		t.Fatal("the model's tokenizer view outlived the model")
	}
}
