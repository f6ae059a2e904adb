package aphelion

/*
#include <aphelion.h>
*/
import "C"

import (
	"runtime"
	"sync"
)

// handle owns one reference to a C object: release runs exactly once (Close or the finalizer),
// never while a method is using the pointer. Methods lock it (shared for thread-safe objects,
// exclusive for the ones the header says are used by one thread at a time) for the duration of
// their C call, so Close from another goroutine waits for calls in progress.
type handle[T any] struct {
	mu        sync.RWMutex
	p         *T
	release   func(*T) // nil: borrowed (not released by Close)
	exclusive bool
	what      string
}

func (h *handle[T]) init(p *T, release func(*T), exclusive bool, what string) {
	h.p, h.release, h.exclusive, h.what = p, release, exclusive, what
}

// lock locks the handle and returns the pointer (nil after Close); unlock must follow.
func (h *handle[T]) lock() *T {
	if h.exclusive {
		h.mu.Lock()
	} else {
		h.mu.RLock()
	}
	return h.p
}

func (h *handle[T]) unlock() {
	if h.exclusive {
		h.mu.Unlock()
	} else {
		h.mu.RUnlock()
	}
}

// use locks the handle and returns the pointer, or unlocks and returns ErrClosed's error.
func (h *handle[T]) use() (*T, error) {
	p := h.lock()
	if p == nil {
		h.unlock()
		return nil, closedError(h.what)
	}
	return p, nil
}

// close releases the reference once; later calls do nothing.
func (h *handle[T]) close() {
	h.mu.Lock()
	p, rel := h.p, h.release
	h.p = nil
	h.mu.Unlock()
	if p != nil && rel != nil {
		rel(p)
	}
}

// detach forgets the pointer without releasing it (a borrowed view whose lender is done).
func (h *handle[T]) detach() {
	h.mu.Lock()
	h.p = nil
	h.mu.Unlock()
}

// setFinalizer arranges obj.Close() when obj becomes unreachable: the backstop, not the plan.
func setFinalizer[O interface{ Close() error }](obj O) {
	runtime.SetFinalizer(obj, func(o O) { _ = o.Close() })
}

// do runs one fallible C call on the locked pointer and turns its status into an error.
func (h *handle[T]) do(f func(p *T, cerr **C.char) C.aph_status) error {
	p, err := h.use()
	if err != nil {
		return err
	}
	defer h.unlock()
	var cerr *C.char
	return check(f(p, &cerr), cerr)
}
