//go:build aphelion_model

// The Model wrapper (header section 23, aph_model_*), written against the agreed model API
// (/work/notes/model-api.md). It is built only with -tags aphelion_model until that section is
// in include/aphelion.h; then the tag goes (and TestModelGolden runs by default).

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
	"unsafe"
)

// Pooling (the C enum aph_pooling: PoolingMean, PoolingCLS) comes from enums_generated.go.

// ModelOptions are LoadModel's options (aph_model_options); nil or the zero value gives the
// defaults: the CPU, the directory's max length, batches of 32, normalisation as the directory
// says.
type ModelOptions struct {
	Device    *Device
	MaxLength int   // tokens per text including [CLS]/[SEP]; 0: the directory's
	BatchSize int   // texts per executor run inside Embed; 0: 32
	Normalize *bool // nil: as the directory says (a 2_Normalize module); else always / never
	// Progress is called after each batch of Embed with the texts embedded so far, on the
	// goroutine calling Embed (a panic in it is recovered and logged).
	Progress func(done, total int)
}

// Model is a text encoder loaded from a Hugging Face / sentence-transformers directory
// (aph_model): tokenizer, encoder graph, executor and pooling. One goroutine at a time in C (it
// has one executor); the binding serialises its methods. Use one Model per goroutine for
// parallel embedding.
type Model struct {
	h         handle[C.aph_model]
	progress  cgo.Handle
	tokenizer *Tokenizer // borrowed views, detached on Close
	graph     *Graph
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
	co.struct_size = C.sizeof_aph_model_options
	co.normalize = -1
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
		if opts.Normalize != nil {
			co.normalize = cbool(*opts.Normalize)
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
	m := &Model{progress: h}
	m.h.init(out, func(p *C.aph_model) { C.aph_model_release(p) }, true, "Model")
	m.tokenizer = newTokenizer((*C.aph_tokenizer)(unsafe.Pointer(C.aph_model_tokenizer(out))), false)
	m.graph = &Graph{readOnly: true}
	m.graph.h.init((*C.aph_graph)(unsafe.Pointer(C.aph_model_graph(out))), nil, true, "model Graph")
	setFinalizer(m)
	return m, nil
}

// Close releases the model (idempotent); its Tokenizer and Graph views stop working.
func (m *Model) Close() error {
	m.tokenizer.h.detach()
	m.graph.h.detach()
	m.h.close()
	m.h.mu.Lock()
	if m.progress != 0 {
		m.progress.Delete()
		m.progress = 0
	}
	m.h.mu.Unlock()
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
	ctexts := (**C.char)(C.calloc(C.size_t(n+1), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	defer C.free(unsafe.Pointer(ctexts))
	lens := make([]C.size_t, n+1)
	ts := unsafe.Slice(ctexts, n+1)
	for i, s := range texts {
		ts[i] = C.CString(s)
		defer freeC(ts[i])
		lens[i] = C.size_t(len(s))
	}
	var out *C.aph_tensor
	if err := m.h.do(func(p *C.aph_model, cerr **C.char) C.aph_status {
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
	if err := m.h.do(func(p *C.aph_model, cerr **C.char) C.aph_status {
		return C.go_aph_model_embed_tokens(p, ip, mp, &out, cerr)
	}); err != nil {
		return nil, err
	}
	return newTensor(out), nil
}

// Retain returns a second, independent *Model for the same C model (each closed separately).
// The views (Tokenizer, Graph) of the copy are its own.
func (m *Model) Retain() (*Model, error) {
	p, err := m.h.use()
	if err != nil {
		return nil, err
	}
	defer m.h.unlock()
	C.aph_model_retain(p)
	r := &Model{}
	r.h.init(p, func(p *C.aph_model) { C.aph_model_release(p) }, true, "Model")
	r.tokenizer = newTokenizer((*C.aph_tokenizer)(unsafe.Pointer(C.aph_model_tokenizer(p))), false)
	r.graph = &Graph{readOnly: true}
	r.graph.h.init((*C.aph_graph)(unsafe.Pointer(C.aph_model_graph(p))), nil, true, "model Graph")
	setFinalizer(r)
	return r, nil
}
