package aphelion

/*
#include <stdlib.h>
#include "callbacks.h"
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// OpSchema describes a built-in operation (aph_op_schema).
type OpSchema struct {
	Name                     string
	Kind                     NodeKind
	Index                    int
	MinOperands, MaxOperands int
	OperandNames             []string
	Params                   []OpParam
}

// OpParam describes one parameter of a built-in operation (aph_op_param). DefaultJSON is ""
// when there is none; AllowedValues lists an enumeration's strings.
type OpParam struct {
	Name          string
	Type          ParamType
	Required      bool
	DefaultJSON   string
	AllowedValues []string
}

// OpSchemaCount is the number of built-in operations.
func OpSchemaCount() int { return int(C.aph_op_schema_count()) }

func goOpSchema(s *C.aph_op_schema) (OpSchema, error) {
	out := OpSchema{Name: C.GoString(s.name), Kind: NodeKind(s.kind), Index: int(s.index),
		MinOperands: int(s.min_operands), MaxOperands: int(s.max_operands)}
	if s.operand_names != nil {
		n := int(s.max_operands)
		if n > 64 || s.max_operands == ^C.size_t(0) { // variadic: the names end at NULL
			n = 0
			for _, p := range unsafe.Slice(s.operand_names, 64) {
				if p == nil {
					break
				}
				n++
			}
		}
		out.OperandNames = cStrings((**C.char)(unsafe.Pointer(s.operand_names)), n)
	}
	for i := 0; i < int(s.param_count); i++ {
		var p C.aph_op_param
		p.struct_size = C.sizeof_aph_op_param
		var cerr *C.char
		if err := check(C.go_aph_op_get_param(s.index, C.size_t(i), &p, &cerr), cerr); err != nil {
			return OpSchema{}, err
		}
		param := OpParam{Name: C.GoString(p.name), Type: ParamType(p._type), Required: p.required != 0}
		if p.default_json != nil {
			param.DefaultJSON = C.GoString(p.default_json)
		}
		param.AllowedValues = cStrings((**C.char)(unsafe.Pointer(p.allowed_values)), int(p.allowed_count))
		out.Params = append(out.Params, param)
	}
	return out, nil
}

// GetOpSchema describes built-in operation index (0 to OpSchemaCount()-1).
func GetOpSchema(index int) (OpSchema, error) {
	var s C.aph_op_schema
	s.struct_size = C.sizeof_aph_op_schema
	var cerr *C.char
	if err := check(C.go_aph_op_get_schema(C.size_t(index), &s, &cerr), cerr); err != nil {
		return OpSchema{}, err
	}
	return goOpSchema(&s)
}

// FindOpSchema describes the built-in operation named name (ErrNotFound).
func FindOpSchema(name string) (OpSchema, error) {
	cn := cstr(name)
	var s C.aph_op_schema
	s.struct_size = C.sizeof_aph_op_schema
	var cerr *C.char
	if err := check(C.go_aph_op_schema_find(cn, &s, &cerr), cerr); err != nil {
		return OpSchema{}, err
	}
	return goOpSchema(&s)
}

// TensorSpec is an operand's dtype and shape, as a custom operation's Infer sees it.
type TensorSpec struct {
	DType DType
	Shape []int64
}

// CustomOp is a custom operation implemented in Go. Infer gives the output's dtype and shape
// from the operands'; CPU computes it into out (allocated by the executor, contiguous). params
// is the node's params as compact JSON. The inputs and out are lent for the call only. Both
// may be called from any thread, several at once (one per running executor). An error
// returned keeps its Status when it is an *Error (else StatusBackend); a panic is recovered
// into StatusBackend with its text. Custom operations run on the CPU only from Go (a CUDA
// device reports ErrNotImplemented for them).
type CustomOp struct {
	Infer func(params string, inputs []TensorSpec) (DType, []int64, error)
	CPU   func(params string, inputs []*Tensor, out *Tensor) error
}

// RegisterCustomOp registers op under name for every executor made afterwards (registering a
// name again replaces it; executors already made keep theirs).
func RegisterCustomOp(name string, op CustomOp) error {
	if op.Infer == nil || op.CPU == nil {
		return argError("custom operation needs Infer and CPU")
	}
	cn := cstr(name)
	h := cgo.NewHandle(&op)
	var cerr *C.char
	if err := check(C.go_custom_op_register(cn, C.uintptr_t(h), &cerr), cerr); err != nil {
		h.Delete()
		return err
	}
	return nil
}

// UnregisterCustomOp removes a registration (ErrNotFound for an unknown name).
func UnregisterCustomOp(name string) error {
	cn := cstr(name)
	var cerr *C.char
	return check(C.go_aph_custom_op_unregister(cn, &cerr), cerr)
}

//export goAphCustomInfer
func goAphCustomInfer(h C.uintptr_t, params *C.char, n C.size_t, dtypes *C.aph_dtype, shapes **C.int64_t,
	ndims *C.size_t, outDType *C.aph_dtype, outShape *C.int64_t, capacity C.size_t, outNDim *C.size_t) (status C.aph_status) {
	defer func() {
		if r := recover(); r != nil {
			status = callbackStatus(recovered("custom operation infer", r))
		}
	}()
	op := cgo.Handle(h).Value().(*CustomOp)
	specs := make([]TensorSpec, int(n))
	if n > 0 {
		dt := unsafe.Slice(dtypes, int(n))
		sh := unsafe.Slice(shapes, int(n))
		nd := unsafe.Slice(ndims, int(n))
		for i := range specs {
			specs[i] = TensorSpec{DType(dt[i]), copyShape(sh[i], nd[i])}
		}
	}
	dtype, shape, err := op.Infer(C.GoString(params), specs)
	if err != nil {
		return callbackStatus(err)
	}
	if len(shape) > int(capacity) {
		return callbackStatus(argError("custom operation infer: the output has more dimensions than the library allows"))
	}
	*outDType = C.aph_dtype(dtype)
	if len(shape) > 0 {
		copy(unsafe.Slice((*int64)(unsafe.Pointer(outShape)), len(shape)), shape)
	}
	*outNDim = C.size_t(len(shape))
	return C.APH_OK
}

//export goAphCustomCPU
func goAphCustomCPU(h C.uintptr_t, params *C.char, n C.size_t, inputs **C.aph_tensor, out *C.aph_tensor) (status C.aph_status) {
	ins := make([]*Tensor, int(n))
	if n > 0 {
		for i, p := range unsafe.Slice(inputs, int(n)) {
			ins[i] = borrowedTensor(p)
		}
	}
	o := borrowedTensor(out)
	defer func() {
		for _, t := range ins {
			t.h.detach()
		}
		o.h.detach()
		if r := recover(); r != nil {
			status = callbackStatus(recovered("custom operation", r))
		}
	}()
	op := cgo.Handle(h).Value().(*CustomOp)
	return callbackStatus(op.CPU(C.GoString(params), ins, o))
}
