// The Model wrapper (header section 23, aph_model_*): a text encoder loaded from a Hugging Face
// / sentence-transformers directory.

package aphelion

/*
#include <stdlib.h>
#include "calls_generated.h"
#include "model_callbacks.h"
*/
import "C"

import (
	"context"
	"runtime/cgo"
	"sync"
	"unsafe"
)

// Pooling (the C enum aph_pooling: PoolingMean, PoolingCLS) comes from enums_generated.go.

// ModelOptions are LoadModel's options (aph_model_options); nil or the zero value gives the
// defaults: the CPU, the directory's max length, batches of 32, normalisation as the directory
// says.
type ModelOptions struct {
	Device    *Device
	MaxLength int // tokens per text including [CLS]/[SEP]; 0: the directory's
	BatchSize int // texts per executor run inside Embed; 0: 32
	// Normalize: nil as the directory says (a sentence-transformers Normalize module; the C
	// normalize 0), true always L2-normalise (> 0), false never (< 0).
	Normalize *bool
	// Progress is called after each batch of Embed with the texts embedded so far, on the
	// goroutine calling Embed (a panic in it is recovered and logged). It must not call the
	// model's Embed or EmbedTokens (the header forbids it; they would wait for this Embed).
	Progress func(done, total int)
	// MatmulPrecision: the encoder's linear layers (F32 by default; BF16 and INT8: about 1.7x /
	// 2x faster on the CPU, cosine to f32 above 0.9999 / 0.999; ErrNotImplemented without
	// AVX512_BF16 / AVX512_VNNI).
	MatmulPrecision MatmulPrecision
}

// Model is a text encoder loaded from a Hugging Face / sentence-transformers directory
// (aph_model): tokenizer, encoder graph, executor and pooling. The C model is used by one
// thread at a time (it owns one executor; header section 23): the binding serialises Embed and
// EmbedTokens with a mutex shared by every *Model of one C model (Retain), so sharing a Model
// between goroutines is safe (calls take turns). Load one Model per goroutine to embed in
// parallel. The getters (EmbeddingDim, ...) read fixed values and do not wait for Embed.
type Model struct {
	h         handle[C.aph_model] // shared lock for calls, exclusive for Close
	s         *modelShared
	tokenizer *Tokenizer // borrowed views, detached on Close
	graph     *Graph
}

// modelShared is what the *Models of one C model share: the lock serialising its use and the
// progress callback's handle, deleted when the last of them is closed (no call can run then).
type modelShared struct {
	mu       sync.Mutex // held for each aph_model_embed / aph_model_embed_tokens call
	refs     int        // open *Models (under refsMu)
	refsMu   sync.Mutex
	progress cgo.Handle // 0: none
}

type modelProgress struct{ fn func(done, total int) }

//export goAphModelProgress
func goAphModelProgress(h C.uintptr_t, done, total C.size_t) {
	defer func() {
		if r := recover(); r != nil {
			reportPanic("model progress callback", r)
		}
	}()
	cgo.Handle(h).Value().(*modelProgress).fn(int(done), int(total))
}

// LoadModel loads dir (config.json, model.safetensors memory-mapped, tokenizer.json, and the
// sentence-transformers modules). Refused when ctx is already done. Errors: ErrIo (a missing
// file, named), ErrInvalidConfig (an unsupported model), ErrNotFound (a weight the graph needs),
// ErrInvalidArgument, ErrOutOfMemory.
func LoadModel(ctx context.Context, dir string, opts *ModelOptions) (*Model, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var ps pins
	defer ps.release()
	co := (*C.aph_model_options)(C.calloc(1, C.sizeof_aph_model_options))
	defer C.free(unsafe.Pointer(co))
	co.struct_size = C.sizeof_aph_model_options // normalize 0: as the directory says
	var h cgo.Handle
	if opts != nil {
		if opts.Device != nil {
			dp, err := ps.device(opts.Device)
			if err != nil {
				return nil, err
			}
			co.device = dp
		}
		co.max_length = C.size_t(opts.MaxLength)
		co.batch_size = C.size_t(opts.BatchSize)
		co.matmul_precision = C.aph_matmul_precision(opts.MatmulPrecision)
		if opts.Normalize != nil {
			co.normalize = -1
			if *opts.Normalize {
				co.normalize = 1
			}
		}
		if opts.Progress != nil {
			h = cgo.NewHandle(&modelProgress{opts.Progress})
		}
	}
	cd := cstr(dir)
	var out *C.aph_model
	var cerr *C.char
	if err := check(C.go_model_load(cd, co, C.uintptr_t(h), &out, &cerr), cerr); err != nil {
		if h != 0 {
			h.Delete()
		}
		return nil, err
	}
	return newModel(out, &modelShared{progress: h}), nil
}

// newModel wraps one reference to p (the caller's) sharing s with the other *Models of p.
func newModel(p *C.aph_model, s *modelShared) *Model {
	s.refsMu.Lock()
	s.refs++
	s.refsMu.Unlock()
	m := &Model{s: s}
	m.h.init(p, nil, false, "Model") // released by Close itself
	m.tokenizer = newTokenizer((*C.aph_tokenizer)(unsafe.Pointer(C.aph_model_tokenizer(p))), false)
	m.graph = &Graph{readOnly: true}
	m.graph.h.init((*C.aph_graph)(unsafe.Pointer(C.aph_model_graph(p))), nil, true, "model Graph")
	setFinalizer(m)
	return m
}

// Close releases this reference to the model (idempotent), after the calls in progress on it;
// its Tokenizer and Graph views stop working.
func (m *Model) Close() error {
	m.tokenizer.h.detach()
	m.graph.h.detach()
	m.h.mu.Lock() // waits for the calls in progress on this *Model
	p := m.h.p
	m.h.p = nil
	m.h.mu.Unlock()
	if p == nil {
		return nil
	}
	C.aph_model_release(p)
	s := m.s
	s.refsMu.Lock()
	s.refs--
	last := s.refs == 0
	s.refsMu.Unlock()
	if last && s.progress != 0 {
		s.progress.Delete() // the C model is gone: no callback can come
		s.progress = 0
	}
	return nil
}

// EmbeddingDim is the embedding size (384 for all-MiniLM-L6-v2).
func (m *Model) EmbeddingDim() int {
	defer m.h.unlock()
	return int(C.aph_model_embedding_dim(m.h.lock()))
}

// MaxLength is the tokens per text (256 for all-MiniLM-L6-v2).
func (m *Model) MaxLength() int {
	defer m.h.unlock()
	return int(C.aph_model_max_length(m.h.lock()))
}

// Pooling is the pooling after the encoder.
func (m *Model) Pooling() Pooling {
	defer m.h.unlock()
	return Pooling(C.aph_model_pooling(m.h.lock()))
}

// Normalizes reports whether embeddings are L2-normalised.
func (m *Model) Normalizes() bool {
	defer m.h.unlock()
	return C.aph_model_normalizes(m.h.lock()) != 0
}

// Tokenizer is the model's tokenizer, borrowed: valid until the model is closed.
func (m *Model) Tokenizer() *Tokenizer { return m.tokenizer }

// Graph is the encoder graph (read-only), borrowed: valid until the model is closed.
func (m *Model) Graph() *Graph { return m.graph }

// Executor is a new reference to the model's executor (close it; running it concurrently with
// Embed is the caller's race, as in C).
func (m *Model) Executor() (*Executor, error) {
	p, err := m.h.use()
	if err != nil {
		return nil, err
	}
	defer m.h.unlock()
	e := C.aph_model_executor(p)
	C.aph_executor_retain(e)
	return newExecutor(e), nil
}

// Embed embeds texts: a new contiguous f32 CPU tensor [len(texts), EmbeddingDim] (read it with
// Float32s, zero-copy). Refused when ctx is already done.
func (m *Model) Embed(ctx context.Context, texts []string) (*Tensor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := len(texts)
	// cgo forbids passing C an array of Go pointers: the pointers live in C memory and point
	// into one C copy of all the texts (two allocations, whatever the count). Lengths are
	// passed, so a text may hold NUL characters.
	total := 0
	for _, s := range texts {
		total += len(s)
	}
	ctexts := (**C.char)(C.calloc(C.size_t(n+1), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	defer C.free(unsafe.Pointer(ctexts))
	buf := (*byte)(C.malloc(C.size_t(total + 1)))
	defer C.free(unsafe.Pointer(buf))
	bytes := unsafe.Slice(buf, total+1)
	lens := make([]C.size_t, n+1)
	ts := unsafe.Slice(ctexts, n+1)
	at := 0
	for i, s := range texts {
		copy(bytes[at:], s)
		ts[i] = (*C.char)(unsafe.Pointer(&bytes[at]))
		lens[i] = C.size_t(len(s))
		at += len(s)
	}
	var out *C.aph_tensor
	if err := m.call(func(p *C.aph_model, cerr **C.char) C.aph_status {
		return C.go_aph_model_embed(p, ctexts, &lens[0], C.size_t(n), &out, cerr)
	}); err != nil {
		return nil, err
	}
	return newTensor(out), nil
}

// Embeddings is Embed as Go slices (one copy): one []float32 per text.
func (m *Model) Embeddings(ctx context.Context, texts []string) ([][]float32, error) {
	t, err := m.Embed(ctx, texts)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	flat, err := ToSlice[float32](t)
	if err != nil {
		return nil, err
	}
	dim := m.EmbeddingDim()
	rows := make([][]float32, len(texts))
	for i := range rows {
		rows[i] = flat[i*dim : (i+1)*dim : (i+1)*dim]
	}
	return rows, nil
}

// EmbedTokens runs the encoder on caller tokens (i64 [batch, seq] ids and mask): a new f32 CPU
// tensor [batch, EmbeddingDim], pooled and normalised as Embed.
func (m *Model) EmbedTokens(ctx context.Context, inputIDs, attentionMask *Tensor) (*Tensor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var ps pins
	defer ps.release()
	ip, err := ps.tensor(inputIDs, "inputIDs", false)
	if err != nil {
		return nil, err
	}
	mp, err := ps.tensor(attentionMask, "attentionMask", false)
	if err != nil {
		return nil, err
	}
	var out *C.aph_tensor
	if err := m.call(func(p *C.aph_model, cerr **C.char) C.aph_status {
		return C.go_aph_model_embed_tokens(p, ip, mp, &out, cerr)
	}); err != nil {
		return nil, err
	}
	return newTensor(out), nil
}

// call runs one fallible C call on the model, holding the model's shared lock (one goroutine at
// a time in C, across the *Models of one C model).
func (m *Model) call(f func(p *C.aph_model, cerr **C.char) C.aph_status) error {
	return m.h.do(func(p *C.aph_model, cerr **C.char) C.aph_status {
		m.s.mu.Lock()
		defer m.s.mu.Unlock()
		return f(p, cerr)
	})
}

// Retain returns a second *Model for the same C model (aph_model_retain), closed separately;
// its Tokenizer and Graph views are its own. Both share the lock serialising Embed and
// EmbedTokens, and the progress callback.
func (m *Model) Retain() (*Model, error) {
	p, err := m.h.use()
	if err != nil {
		return nil, err
	}
	defer m.h.unlock()
	C.aph_model_retain(p)
	return newModel(p, m.s), nil
}
