// Package aphelion is the Go binding of libaphelion, an embeddable runtime library for AI
// workloads (include/aphelion.h, C API 0.2).
//
// It links libaphelion through cgo and pkg-config (`#cgo pkg-config: aphelion`): set
// PKG_CONFIG_PATH to an install's lib/pkgconfig, or to a build tree's build/pkgconfig (whose
// aphelion-uninstalled.pc pkg-config prefers automatically), and make the shared library
// findable at run time (LD_LIBRARY_PATH or the install's rpath).
//
// Ownership: every handle type (Device, Tensor, Graph, Executor, ...) owns one reference to its
// C object and gives it back in Close, exactly once: Close is idempotent and safe to call from
// any goroutine, also while other goroutines use the handle (it waits for calls in progress).
// A method called after Close returns an error matching ErrClosed (and ErrInvalidState); getters
// return zero values. A finalizer closes handles that become unreachable, as a backstop only:
// call Close (or defer it).
//
// Errors: every failing call returns an *Error carrying the Status and the library's message,
// read inside the same cgo call that failed (goroutines move between OS threads, so the
// thread-local aph_last_error() is never read by a second call). errors.Is(err, ErrNotFound)
// tests the status; errors.As(err, &e) gives the details.
//
// Threads: what the header calls thread-safe (trackers, devices, streams, events, trace sinks,
// tensors' metadata, tokenizers, logging) may be used from many goroutines at once. Handles the
// header says must be used by one thread at a time (device and model configurations, graphs,
// pipelines, build contexts, executors, safetensors files) are serialised by a mutex in the
// binding, so sharing one between goroutines is safe (the calls simply take turns).
package aphelion

/*
#cgo pkg-config: aphelion
#include <stdlib.h>
#include "calls_generated.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Version returns the version of the loaded libaphelion (aph_version).
func Version() (major, minor, patch int) {
	var ma, mi, pa C.int
	C.aph_version(&ma, &mi, &pa)
	return int(ma), int(mi), int(pa)
}

// VersionString returns the loaded library's version as text (aph_version_string).
func VersionString() string { return C.GoString(C.aph_version_string()) }

// checkVersion is the load-time check: under major version 0 the minor version must match too.
func checkVersion(major, minor, patch int) error {
	if major != HeaderVersionMajor || minor != HeaderVersionMinor {
		return fmt.Errorf("aphelion: the loaded libaphelion is version %d.%d.%d, but this Go binding was written for "+
			"%d.%d.x (major.minor must match); install a matching libaphelion or binding",
			major, minor, patch, HeaderVersionMajor, HeaderVersionMinor)
	}
	return nil
}

func init() {
	// Fails at load, with a message naming both versions, when the shared library found at run
	// time is not the version this binding was written for.
	if err := checkVersion(Version()); err != nil {
		panic(err)
	}
}

// cstr returns s as a NUL-terminated string in Go memory, for a C call that reads it during
// the call only (cgo allows Go memory without Go pointers as an argument). Unlike C.CString it
// needs no malloc and free, which are two more cgo calls. Not for C memory that outlives the
// call or for structs passed to C: use cAlloc there.
func cstr(s string) *C.char {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return (*C.char)(unsafe.Pointer(&b[0]))
}

// cAlloc returns a C copy of s (C.CString); free it with freeC.
func cAlloc(s string) *C.char { return C.CString(s) }

func freeC(p *C.char) {
	if p != nil {
		C.free(unsafe.Pointer(p))
	}
}

// goStringFree converts a char** result of the library (aph_string_free) into a Go string.
func goStringFree(p *C.char) string {
	if p == nil {
		return ""
	}
	s := C.GoString(p)
	C.aph_string_free(p)
	return s
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// shapePtr returns a pointer to the first element of shape, nil for an empty shape.
func shapePtr(shape []int64) *C.int64_t {
	if len(shape) == 0 {
		return nil
	}
	return (*C.int64_t)(unsafe.Pointer(&shape[0]))
}

// copyShape copies n int64_t from C memory.
func copyShape(p *C.int64_t, n C.size_t) []int64 {
	out := make([]int64, int(n))
	if n > 0 && p != nil {
		copy(out, unsafe.Slice((*int64)(unsafe.Pointer(p)), int(n)))
	}
	return out
}

// cStrings copies a C array of n strings.
func cStrings(p **C.char, n int) []string {
	if p == nil || n == 0 {
		return nil
	}
	out := make([]string, n)
	for i, s := range unsafe.Slice(p, n) {
		out[i] = C.GoString(s)
	}
	return out
}
