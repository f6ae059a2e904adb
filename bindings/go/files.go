package aphelion

/*
#include <stdlib.h>
#include "calls_generated.h"
*/
import "C"

import (
	"context"
	"unsafe"
)

// SafetensorsFile is an open, memory-mapped safetensors file (aph_safetensors). It may be read
// from many goroutines at once.
type SafetensorsFile struct{ h handle[C.aph_safetensors] }

// OpenSafetensors maps the file and checks its header (ErrIo, ErrSerialization).
func OpenSafetensors(path string) (*SafetensorsFile, error) {
	cp := cstr(path)
	var out *C.aph_safetensors
	var cerr *C.char
	if err := check(C.go_aph_safetensors_open(cp, &out, &cerr), cerr); err != nil {
		return nil, err
	}
	f := &SafetensorsFile{}
	f.h.init(out, func(p *C.aph_safetensors) { C.aph_safetensors_release(p) }, false, "SafetensorsFile")
	setFinalizer(f)
	return f, nil
}

// Close releases the file (tensors made from it keep the mapping alive; idempotent).
func (f *SafetensorsFile) Close() error { f.h.close(); return nil }

// Names are the tensors' names in the order of their data.
func (f *SafetensorsFile) Names() []string {
	p := f.h.lock()
	defer f.h.unlock()
	out := make([]string, int(C.aph_safetensors_count(p)))
	for i := range out {
		out[i] = C.GoString(C.aph_safetensors_name(p, C.size_t(i)))
	}
	return out
}

// Metadata is the __metadata__ object as compact JSON ("{}" when absent).
func (f *SafetensorsFile) Metadata() (string, error) {
	var out *C.char
	err := f.h.do(func(p *C.aph_safetensors, cerr **C.char) C.aph_status {
		return C.go_aph_safetensors_metadata(p, &out, cerr)
	})
	return goStringFree(out), err
}

// Info gives tensor name's dtype and shape (ErrNotFound).
func (f *SafetensorsFile) Info(name string) (DType, []int64, error) {
	cn := cstr(name)
	var dt C.aph_dtype
	var shape []int64
	err := f.h.do(func(p *C.aph_safetensors, cerr **C.char) C.aph_status {
		var nd C.size_t
		if s := C.go_aph_safetensors_info(p, cn, nil, nil, 0, &nd, cerr); s != C.APH_OK {
			return s
		}
		shape = make([]int64, int(nd))
		return C.go_aph_safetensors_info(p, cn, &dt, shapePtr(shape), nd, &nd, cerr)
	})
	return DType(dt), shape, err
}

// Tensor loads tensor name on device: on the CPU a read-only view of the mapped file (no copy;
// read it with ToSlice), elsewhere a writable copy.
func (f *SafetensorsFile) Tensor(name string, device *Device) (*Tensor, error) {
	var ps pins
	defer ps.release()
	dp, err := ps.device(device)
	if err != nil {
		return nil, err
	}
	cn := cstr(name)
	var out *C.aph_tensor
	if err := f.h.do(func(p *C.aph_safetensors, cerr **C.char) C.aph_status {
		return C.go_aph_safetensors_tensor(p, cn, dp, &out, cerr)
	}); err != nil {
		return nil, err
	}
	return newTensor(out), nil
}

// SaveSafetensors writes tensors under names (same length) to path, with metadata (nil: none)
// as __metadata__, in the reference writer's layout; atomically (written beside and renamed).
func SaveSafetensors(path string, names []string, tensors []*Tensor, metadata map[string]string) error {
	if len(names) != len(tensors) {
		return argError("names and tensors differ in length")
	}
	var ps pins
	defer ps.release()
	cnames := (**C.char)(C.calloc(C.size_t(len(names)+1), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	defer C.free(unsafe.Pointer(cnames))
	nameSlice := unsafe.Slice(cnames, len(names)+1)
	for i, n := range names {
		nameSlice[i] = cAlloc(n)
		defer freeC(nameSlice[i])
	}
	ptrs := make([]*C.aph_tensor, len(tensors)+1)
	for i, t := range tensors {
		p, err := ps.tensor(t, "tensors", false)
		if err != nil {
			return err
		}
		ptrs[i] = p
	}
	var meta *C.char
	if metadata != nil {
		meta = cstr(jsonObject(metadata))
	}
	cp := cstr(path)
	var cerr *C.char
	return check(C.go_aph_safetensors_save(cp, cnames, &ptrs[0], C.size_t(len(names)), meta, &cerr), cerr)
}

// Tokenizer turns text into token ids as a Hugging Face tokenizer.json says (aph_tokenizer).
// Safe for concurrent use.
type Tokenizer struct{ h handle[C.aph_tokenizer] }

func newTokenizer(p *C.aph_tokenizer, release bool) *Tokenizer {
	t := &Tokenizer{}
	var rel func(*C.aph_tokenizer)
	if release {
		rel = func(p *C.aph_tokenizer) { C.aph_tokenizer_release(p) }
	}
	t.h.init(p, rel, false, "Tokenizer")
	if release {
		setFinalizer(t)
	}
	return t
}

// LoadTokenizer reads a tokenizer.json (or the directory holding one).
func LoadTokenizer(ctx context.Context, path string) (*Tokenizer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cp := cstr(path)
	var out *C.aph_tokenizer
	var cerr *C.char
	if err := check(C.go_aph_tokenizer_load(cp, &out, &cerr), cerr); err != nil {
		return nil, err
	}
	return newTokenizer(out, true), nil
}

// TokenizerFromJSON parses a tokenizer.json held in memory.
func TokenizerFromJSON(json []byte) (*Tokenizer, error) {
	var p *C.char
	if len(json) > 0 {
		p = (*C.char)(unsafe.Pointer(&json[0]))
	}
	var out *C.aph_tokenizer
	var cerr *C.char
	if err := check(C.go_aph_tokenizer_load_json(p, C.size_t(len(json)), &out, &cerr), cerr); err != nil {
		return nil, err
	}
	return newTokenizer(out, true), nil
}

// Close frees the tokenizer (idempotent).
func (t *Tokenizer) Close() error { t.h.close(); return nil }

// VocabSize is the number of tokens, added tokens included.
func (t *Tokenizer) VocabSize() int {
	defer t.h.unlock()
	return int(C.aph_tokenizer_vocab_size(t.h.lock()))
}

// MaxLength is the file's truncation length (0: none).
func (t *Tokenizer) MaxLength() int {
	defer t.h.unlock()
	return int(C.aph_tokenizer_max_length(t.h.lock()))
}

// SpecialTokenCount is the number of special tokens the template adds to one text.
func (t *Tokenizer) SpecialTokenCount() int {
	defer t.h.unlock()
	return int(C.aph_tokenizer_special_token_count(t.h.lock()))
}

// TokenToID is token's id, -1 when there is none.
func (t *Tokenizer) TokenToID(token string) int64 {
	ct := cstr(token)
	defer t.h.unlock()
	return int64(C.aph_tokenizer_token_to_id(t.h.lock(), ct))
}

// IDToToken is the token with id, ok false when there is none.
func (t *Tokenizer) IDToToken(id int64) (string, bool) {
	defer t.h.unlock()
	p := C.aph_tokenizer_id_to_token(t.h.lock(), C.int64_t(id))
	if p == nil {
		return "", false
	}
	return C.GoString(p), true
}

// EncodeOptions override the tokenizer file's truncation and padding (aph_tokenizer_encode_options);
// the zero value means "as the file says".
type EncodeOptions struct {
	Truncation      Truncation
	MaxLength       int
	Padding         Padding
	PadLength       int
	PadToMultipleOf int
	NoSpecialTokens bool
}

func (o *EncodeOptions) toC(c *C.aph_tokenizer_encode_options) *C.aph_tokenizer_encode_options {
	if o == nil {
		return nil
	}
	*c = C.aph_tokenizer_encode_options{struct_size: C.sizeof_aph_tokenizer_encode_options,
		truncation: C.aph_truncation(o.Truncation), max_length: C.size_t(o.MaxLength), padding: C.aph_padding(o.Padding),
		pad_length: C.size_t(o.PadLength), pad_to_multiple_of: C.size_t(o.PadToMultipleOf), no_special_tokens: cbool(o.NoSpecialTokens)}
	return c
}

// EncodeIDs is one text's token ids (the input_ids row Encode gives for a batch of one).
func (t *Tokenizer) EncodeIDs(text string, opts *EncodeOptions) ([]int64, error) {
	ct := cstr(text) // length-delimited; the NUL is not needed, but keeps "" a valid pointer
	co := (*C.aph_tokenizer_encode_options)(C.calloc(1, C.sizeof_aph_tokenizer_encode_options))
	defer C.free(unsafe.Pointer(co))
	var ids []int64
	err := t.h.do(func(p *C.aph_tokenizer, cerr **C.char) C.aph_status {
		var n C.size_t
		if s := C.go_aph_tokenizer_encode_ids(p, ct, C.size_t(len(text)), opts.toC(co), nil, 0, &n, cerr); s != C.APH_OK {
			return s
		}
		ids = make([]int64, int(n))
		return C.go_aph_tokenizer_encode_ids(p, ct, C.size_t(len(text)), opts.toC(co), shapePtr(ids), n, &n, cerr)
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// Encoding is a batch's model inputs: i64 tensors [count, padded length] and each text's
// token count (special tokens included, padding not). The caller closes the tensors (Close).
type Encoding struct {
	InputIDs, AttentionMask, TokenTypeIDs *Tensor
	Lengths                               []int
}

// Close closes the three tensors.
func (e *Encoding) Close() error {
	for _, t := range []*Tensor{e.InputIDs, e.AttentionMask, e.TokenTypeIDs} {
		if t != nil {
			t.Close()
		}
	}
	return nil
}

// Encode tokenizes texts into model inputs on device.
func (t *Tokenizer) Encode(texts []string, opts *EncodeOptions, device *Device) (*Encoding, error) {
	var ps pins
	defer ps.release()
	dp, err := ps.device(device)
	if err != nil {
		return nil, err
	}
	n := len(texts)
	// C memory for the text pointers and lengths (the texts themselves are C copies).
	ctexts := (**C.char)(C.calloc(C.size_t(n+1), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	defer C.free(unsafe.Pointer(ctexts))
	lens := make([]C.size_t, n+1)
	ts := unsafe.Slice(ctexts, n+1)
	for i, s := range texts {
		ts[i] = C.CString(s)
		defer freeC(ts[i])
		lens[i] = C.size_t(len(s))
	}
	co := (*C.aph_tokenizer_encode_options)(C.calloc(1, C.sizeof_aph_tokenizer_encode_options))
	defer C.free(unsafe.Pointer(co))
	out := make([]C.size_t, n+1)
	var ids, mask, types *C.aph_tensor
	if err := t.h.do(func(p *C.aph_tokenizer, cerr **C.char) C.aph_status {
		return C.go_aph_tokenizer_encode(p, ctexts, &lens[0], C.size_t(n), opts.toC(co), dp, &ids, &mask, &types, &out[0], C.size_t(n), cerr)
	}); err != nil {
		return nil, err
	}
	e := &Encoding{InputIDs: newTensor(ids), AttentionMask: newTensor(mask), TokenTypeIDs: newTensor(types), Lengths: make([]int, n)}
	for i := range e.Lengths {
		e.Lengths[i] = int(out[i])
	}
	return e, nil
}
