package aphelion

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// minilmGolden is tests/data/minilm: the 37 sentences (as stored: one is empty, one holds a NUL
// character), sentence-transformers' token ids for them and its embeddings (encode(), one
// sentence at a time, normalised).
type minilmGolden struct {
	Sentences []string  `json:"sentences"`
	InputIDs  [][]int64 `json:"input_ids"`
	emb       []float32 // [len(Sentences), 384]
}

const minilmDim = 384

func loadMinilmGolden(t *testing.T) *minilmGolden {
	t.Helper()
	root := sourceDir(t)
	var g minilmGolden
	noErr(t, json.Unmarshal(must(os.ReadFile(filepath.Join(root, "tests/data/minilm/golden.json"))), &g))
	if len(g.Sentences) != 37 || len(g.InputIDs) != len(g.Sentences) {
		t.Fatalf("golden.json: %d sentences, %d id rows", len(g.Sentences), len(g.InputIDs))
	}
	nul := false
	for _, s := range g.Sentences {
		nul = nul || strings.ContainsRune(s, 0)
	}
	if !nul {
		t.Fatal("golden.json: no sentence holds a NUL character (the decoder lost it?)")
	}
	ref := must(OpenSafetensors(filepath.Join(root, "tests/data/minilm/golden.safetensors")))
	defer ref.Close()
	refT := must(ref.Tensor("embeddings", cpu(t)))
	defer refT.Close()
	g.emb = must(ToSlice[float32](refT))
	if len(g.emb) != len(g.Sentences)*minilmDim {
		t.Fatalf("golden.safetensors: %d values for %d sentences", len(g.emb), len(g.Sentences))
	}
	return &g
}

// check compares got (rows of dim floats) with the golden rows first, first+1, ...: cosine >=
// 0.99999 and max abs difference <= 1e-4 per row. unit rescales each got row to unit length
// first (for unnormalised embeddings).
func (g *minilmGolden) check(t *testing.T, what string, got []float32, first int, unit bool) {
	t.Helper()
	if len(got)%minilmDim != 0 || first+len(got)/minilmDim > len(g.Sentences) {
		t.Fatalf("%s: %d values", what, len(got))
	}
	for r := 0; r < len(got)/minilmDim; r++ {
		i := first + r
		row := got[r*minilmDim : (r+1)*minilmDim]
		scale := 1.0
		if unit {
			var n2 float64
			for _, v := range row {
				n2 += float64(v) * float64(v)
			}
			scale = 1 / math.Sqrt(n2)
		}
		var dot, na, nb, maxAbs float64
		for j, v := range row {
			a, b := float64(v)*scale, float64(g.emb[i*minilmDim+j])
			dot += a * b
			na += a * a
			nb += b * b
			maxAbs = math.Max(maxAbs, math.Abs(a-b))
		}
		if cos := dot / math.Sqrt(na*nb); !(cos >= 0.99999 && maxAbs <= 1e-4) {
			t.Errorf("%s: sentence %d %q: cosine %.7f, max abs %.2e", what, i, g.Sentences[i], cos, maxAbs)
		}
	}
}

// All 37 golden sentences in one call, batches of 5, with the progress callback.
func TestModelGolden(t *testing.T) {
	dir := minilmDir(t)
	g := loadMinilmGolden(t)
	var progress []int
	m := must(LoadModel(context.Background(), dir, &ModelOptions{BatchSize: 5, Progress: func(done, total int) {
		if total != len(g.Sentences) {
			t.Errorf("progress total %d", total)
		}
		progress = append(progress, done)
	}}))
	defer m.Close()
	if m.EmbeddingDim() != minilmDim || m.MaxLength() != 256 || m.Pooling() != PoolingMean || !m.Normalizes() {
		t.Fatalf("model: dim %d max %d pooling %v normalizes %v", m.EmbeddingDim(), m.MaxLength(), m.Pooling(), m.Normalizes())
	}
	emb := must(m.Embed(context.Background(), g.Sentences))
	defer emb.Close()
	if s := emb.Shape(); len(s) != 2 || s[0] != int64(len(g.Sentences)) || s[1] != minilmDim || emb.DType() != DTypeF32 {
		t.Fatalf("embeddings %v %v", emb.DType(), s)
	}
	g.check(t, "batch size 5", must(emb.Float32s()), 0, false)
	// 37 texts in batches of 5: 8 calls, done growing to 37.
	if len(progress) != 8 || progress[len(progress)-1] != len(g.Sentences) {
		t.Fatalf("progress %v", progress)
	}
	for i := 1; i < len(progress); i++ {
		if progress[i] <= progress[i-1] {
			t.Fatalf("progress not increasing: %v", progress)
		}
	}
	if m.Tokenizer().VocabSize() != 30522 || m.Graph().NodeCount() == 0 {
		t.Fatal("model views")
	}
	// The tokenizer view gives sentence-transformers' ids.
	for i, s := range g.Sentences {
		ids := must(m.Tokenizer().EncodeIDs(s, nil))
		if len(ids) != len(g.InputIDs[i]) {
			t.Fatalf("sentence %d: %d ids, sentence-transformers %d", i, len(ids), len(g.InputIDs[i]))
		}
		for k := range ids {
			if ids[k] != g.InputIDs[i][k] {
				t.Fatalf("sentence %d: ids %v, sentence-transformers %v", i, ids, g.InputIDs[i])
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Embed(ctx, g.Sentences); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled embed: %v", err)
	}
	if _, err := LoadModel(ctx, dir, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled load: %v", err)
	}
	// count 0: [0, dim].
	empty := must(m.Embed(context.Background(), nil))
	if s := empty.Shape(); s[0] != 0 || s[1] != minilmDim {
		t.Fatalf("no texts: %v", s)
	}
	empty.Close()
	// Invalid UTF-8 is the tokenizer's error naming the text; nothing is lost.
	if _, err := m.Embed(context.Background(), []string{"ok", "bad \xff"}); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "texts[1]") {
		t.Fatalf("invalid UTF-8: %v", err)
	}
	tok := m.Tokenizer()
	noErr(t, m.Close())
	noErr(t, m.Close())
	if tok.VocabSize() != 0 {
		t.Fatal("the model's tokenizer view outlived the model")
	}
	if _, err := m.Embed(context.Background(), g.Sentences[:1]); !errors.Is(err, ErrClosed) {
		t.Fatalf("embed after Close: %v", err)
	}
}

// One model (batches of 16) embeds the sentences in calls of mixed sizes, then all at once.
func TestModelGoldenMixedCalls(t *testing.T) {
	dir := minilmDir(t)
	g := loadMinilmGolden(t)
	m := must(LoadModel(context.Background(), dir, &ModelOptions{BatchSize: 16}))
	defer m.Close()
	first := 0
	for _, n := range []int{3, 11, 1, 22} {
		rows := must(m.Embeddings(context.Background(), g.Sentences[first:first+n]))
		if len(rows) != n {
			t.Fatalf("%d rows for %d texts", len(rows), n)
		}
		for r, row := range rows {
			g.check(t, "mixed calls", row, first+r, false)
		}
		first += n
	}
	if first != len(g.Sentences) {
		t.Fatalf("covered %d sentences", first)
	}
	all := must(m.Embed(context.Background(), g.Sentences))
	defer all.Close()
	g.check(t, "batch size 16", must(all.Float32s()), 0, false)
}

// EmbedTokens on the stored input_ids (padded with 0 to the longest, mask 0 there) gives the
// golden rows; its errors.
func TestModelGoldenEmbedTokens(t *testing.T) {
	dir := minilmDir(t)
	g := loadMinilmGolden(t)
	m := must(LoadModel(context.Background(), dir, nil))
	defer m.Close()
	seq := 0
	for _, ids := range g.InputIDs {
		if len(ids) > seq {
			seq = len(ids)
		}
	}
	n := len(g.InputIDs)
	ids := make([]int64, n*seq)
	mask := make([]int64, n*seq)
	for i, row := range g.InputIDs {
		copy(ids[i*seq:], row)
		for k := range row {
			mask[i*seq+k] = 1
		}
	}
	dev := cpu(t)
	idsT := must(FromSlice(dev, ids, int64(n), int64(seq)))
	defer idsT.Close()
	maskT := must(FromSlice(dev, mask, int64(n), int64(seq)))
	defer maskT.Close()
	out := must(m.EmbedTokens(context.Background(), idsT, maskT))
	defer out.Close()
	if s := out.Shape(); s[0] != int64(n) || s[1] != minilmDim {
		t.Fatalf("embed tokens: %v", s)
	}
	g.check(t, "embed tokens", must(out.Float32s()), 0, false)

	short := must(FromSlice(dev, []int64{1, 1}, 1, 2))
	defer short.Close()
	if _, err := m.EmbedTokens(context.Background(), idsT, short); !errors.Is(err, ErrShapeMismatch) {
		t.Fatalf("mask of another shape: %v", err)
	}
	oov := must(FromSlice(dev, []int64{101, 30522, 102}, 1, 3))
	defer oov.Close()
	ones := must(FromSlice(dev, []int64{1, 1, 1}, 1, 3))
	defer ones.Close()
	if _, err := m.EmbedTokens(context.Background(), oov, ones); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "30522") {
		t.Fatalf("id outside the vocabulary: %v", err)
	}
	if _, err := m.EmbedTokens(context.Background(), idsT, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("nil mask: %v", err)
	}
}

// Normalize: nil follows the directory (normalised), false never (rows rescaled to unit length
// are the golden ones), true always.
func TestModelNormalizeOption(t *testing.T) {
	dir := minilmDir(t)
	g := loadMinilmGolden(t)
	no, yes := false, true
	raw := must(LoadModel(context.Background(), dir, &ModelOptions{Normalize: &no}))
	defer raw.Close()
	if raw.Normalizes() {
		t.Fatal("Normalize false: the model normalises")
	}
	rows := must(raw.Embeddings(context.Background(), g.Sentences))
	notUnit := false
	for i, row := range rows {
		var n2 float64
		for _, v := range row {
			n2 += float64(v) * float64(v)
		}
		notUnit = notUnit || math.Abs(math.Sqrt(n2)-1) > 1e-3
		g.check(t, "normalize false", row, i, true)
	}
	if !notUnit {
		t.Fatal("Normalize false: every row has unit length")
	}
	always := must(LoadModel(context.Background(), dir, &ModelOptions{Normalize: &yes, MaxLength: 64}))
	defer always.Close()
	if !always.Normalizes() || always.MaxLength() != 64 {
		t.Fatalf("Normalize true, MaxLength 64: normalizes %v, max length %d", always.Normalizes(), always.MaxLength())
	}
	if _, err := LoadModel(context.Background(), dir, &ModelOptions{MaxLength: 100000}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("MaxLength over max_position_embeddings: %v", err)
	}
}

// A missing directory is ErrIo naming the file; a model shared by goroutines (also through a
// Retain copy) gives every goroutine the golden rows.
func TestModelErrorsAndSharing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-model")
	_, err := LoadModel(context.Background(), missing, nil)
	if !errors.Is(err, ErrIo) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing directory: %v", err)
	}

	dir := minilmDir(t)
	g := loadMinilmGolden(t)
	calls := 0
	m := must(LoadModel(context.Background(), dir, &ModelOptions{BatchSize: 4, Progress: func(done, total int) { calls++ }}))
	r := must(m.Retain())
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		model := m
		if w%2 == 1 {
			model = r
		}
		first := w * 8
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rep := 0; rep < 3; rep++ {
				rows, err := model.Embeddings(context.Background(), g.Sentences[first:first+8])
				if err != nil {
					t.Error(err)
					return
				}
				for k, row := range rows {
					g.check(t, "shared model", row, first+k, false)
				}
			}
		}()
	}
	wg.Wait()
	if calls != 4*3*2 { // 8 texts in batches of 4: two callbacks per call (the shared lock orders them)
		t.Fatalf("%d progress calls", calls)
	}
	// The copy outlives the original, progress callback included.
	noErr(t, m.Close())
	rows := must(r.Embeddings(context.Background(), g.Sentences[:2]))
	g.check(t, "retained copy", rows[0], 0, false)
	if calls != 4*3*2+1 {
		t.Fatalf("%d progress calls after the original's Close", calls)
	}
	ex := must(r.Executor())
	noErr(t, r.Close())
	if ex.RunCount() == 0 {
		t.Fatal("the model's executor ran no batch")
	}
	ex.Close()
}

// BF16 and INT8 stay within the header's cosines of sentence-transformers' f32 embeddings and
// differ from them (the precision is applied); a processor without the instructions refuses
// with ErrNotImplemented naming them.
func TestModelMatmulPrecision(t *testing.T) {
	dir := minilmDir(t)
	g := loadMinilmGolden(t)
	for _, c := range []struct {
		p        MatmulPrecision
		worstMin float64
	}{{MatmulPrecisionBF16, 0.9999}, {MatmulPrecisionINT8, 0.999}} {
		m, err := LoadModel(context.Background(), dir, &ModelOptions{MatmulPrecision: c.p})
		if err != nil {
			if !errors.Is(err, ErrNotImplemented) || !strings.Contains(err.Error(), "AVX512_") {
				t.Fatalf("%v: %v", c.p, err)
			}
			t.Logf("%v not available here: %v", c.p, err)
			continue
		}
		emb := must(m.Embed(context.Background(), g.Sentences))
		got := must(emb.Float32s())
		worst, gap := 1.0, 0.0
		for i := range g.Sentences {
			var dot, na, nb float64
			for k := 0; k < minilmDim; k++ {
				a, b := float64(got[i*minilmDim+k]), float64(g.emb[i*minilmDim+k])
				dot += a * b
				na += a * a
				nb += b * b
				gap = math.Max(gap, math.Abs(a-b))
			}
			worst = math.Min(worst, dot/math.Sqrt(na*nb))
		}
		emb.Close()
		m.Close()
		if worst < c.worstMin || gap <= 1e-6 {
			t.Fatalf("%v: worst cosine %.6f (want >= %v), max gap %.3g", c.p, worst, c.worstMin, gap)
		}
	}
}
