package aphelion

/*
#include <stdlib.h>
#include <aphelion.h>
*/
import "C"

import (
	"errors"
	"unsafe"
)

// Error is a failing status of the library with its message (aph_last_error() of the call that
// failed, read on the same OS thread inside the same cgo call). Status may be a value this
// version does not name (enums are open): it prints as "Status(N)".
type Error struct {
	Status  Status
	Message string
	wrapped error
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "aphelion: " + e.Status.String()
	}
	return "aphelion: " + e.Message + " (" + e.Status.String() + ")"
}

// Is reports whether target is an *Error with the same Status, so that
// errors.Is(err, aphelion.ErrOutOfMemory) works for every out-of-memory error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status
}

// Unwrap gives the cause the binding attached (ErrClosed for a handle used after Close, or the
// error a Go callback returned), if any.
func (e *Error) Unwrap() error { return e.wrapped }

// ErrClosed is matched (errors.Is) by the error of any call on a handle after its Close; such an
// error also matches ErrInvalidState.
var ErrClosed = errors.New("aphelion: handle is closed")

func closedError(what string) error {
	return &Error{Status: StatusInvalidState, Message: "invalid state: " + what + " used after Close", wrapped: ErrClosed}
}

func argError(msg string) error {
	return &Error{Status: StatusInvalidArgument, Message: "invalid argument: " + msg}
}

// check turns a status and the message the generated helper copied into an error, and frees the
// copy. s and cerr come from ONE call of a go_aph_* helper.
func check(s C.aph_status, cerr *C.char) error {
	if s == C.APH_OK {
		if cerr != nil {
			C.free(unsafe.Pointer(cerr))
		}
		return nil
	}
	msg := ""
	if cerr != nil {
		msg = C.GoString(cerr)
		C.free(unsafe.Pointer(cerr))
	}
	return &Error{Status: Status(s), Message: msg}
}

// StatusName is the library's name of a status (aph_status_name): "APH_ERR_OUT_OF_MEMORY",
// "APH_ERR_UNKNOWN" for a value outside the enum.
func StatusName(s Status) string { return C.GoString(C.aph_status_name(C.aph_status(s))) }
