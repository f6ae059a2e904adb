package aphelion

/*
#include <stdlib.h>
#include "callbacks.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"runtime/cgo"
	"sync"
	"unsafe"
)

// Callbacks from C into Go: every registration stores its Go value in a runtime/cgo.Handle
// passed as user_data; the C trampolines in callbacks.c call the exported functions below with
// it. The handle is deleted by the library's destroy callback (or when the registration is
// replaced), so nothing the C side still holds is collected. A panic in a Go callback never
// crosses into C: it is recovered and becomes a failing status (callbacks that return one) with
// the panic's text as the message, or is reported at error level in the log (the others).

// callbackStatus turns a Go callback's error into a status and sets the thread's last error
// (we are on the C caller's OS thread inside the callback, so it is the right thread). An
// *Error keeps its Status; any other error is StatusBackend.
func callbackStatus(err error) C.aph_status {
	if err == nil {
		return C.APH_OK
	}
	s := StatusBackend
	var e *Error
	if errors.As(err, &e) && e.Status != StatusOK {
		s = e.Status
	}
	msg := C.CString(err.Error())
	C.go_set_last_error(C.aph_status(s), msg)
	C.free(unsafe.Pointer(msg))
	return C.aph_status(s)
}

// recovered converts a recovered panic value into an error.
func recovered(what string, r any) error {
	return fmt.Errorf("panic in Go %s: %v", what, r)
}

// reportPanic logs a panic of a callback that cannot return a status.
func reportPanic(what string, r any) {
	msg := recovered(what, r).Error()
	if err := LogWrite(LogLevelError, "aphelion::go", msg); err != nil {
		fmt.Fprintln(os.Stderr, "aphelion:", msg)
	}
}

//export goAphDestroy
func goAphDestroy(h C.uintptr_t) {
	if h != 0 {
		cgo.Handle(h).Delete()
	}
}

//export goAphDeleter
func goAphDeleter(h C.uintptr_t, data unsafe.Pointer) {
	defer func() {
		if r := recover(); r != nil {
			reportPanic("tensor deleter", r)
		}
		cgo.Handle(h).Delete()
	}()
	cgo.Handle(h).Value().(func())()
}

// ---------------------------------------------------------------------------------------------
// Logging (header section 3): one logger per process.

var logMu sync.RWMutex
var logFunc func(level LogLevel, target, message string)

//export goAphLog
func goAphLog(level C.aph_log_level, target, message *C.char) {
	logMu.RLock()
	f := logFunc
	logMu.RUnlock()
	if f == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			// Not through the logger: we are inside it.
			fmt.Fprintln(os.Stderr, "aphelion:", recovered("log callback", r))
		}
	}()
	f(LogLevel(level), C.GoString(target), C.GoString(message))
}

// SetLogCallback routes every message at or above the log level to f (called from any
// goroutine or C thread, possibly several at once: f must be safe for concurrent use); nil
// restores the library's default stderr sink. When it returns, no call of the previous f is in
// progress. A panic in f is recovered (printed to stderr). Calling it from inside f fails.
func SetLogCallback(f func(level LogLevel, target, message string)) error {
	if f != nil {
		logMu.Lock()
		logFunc = f
		logMu.Unlock()
	}
	var cerr *C.char
	err := check(C.go_log_set_callback(cbool(f != nil), &cerr), cerr)
	if err == nil && f == nil {
		logMu.Lock()
		logFunc = nil
		logMu.Unlock()
	}
	return err
}

// SetLogLevel sets the minimum level delivered.
func SetLogLevel(level LogLevel) error {
	var cerr *C.char
	return check(C.go_aph_log_set_level(C.aph_log_level(level), &cerr), cerr)
}

// GetLogLevel is the current minimum level.
func GetLogLevel() LogLevel { return LogLevel(C.aph_log_get_level()) }

// LogLevelName is the library's name of a level ("warn", ...).
func LogLevelName(level LogLevel) string {
	return C.GoString(C.aph_log_level_name(C.aph_log_level(level)))
}

// LogWrite logs message under target at level through the library's logger.
func LogWrite(level LogLevel, target, message string) error {
	t, m := cstr(target), cstr(message)
	var cerr *C.char
	return check(C.go_aph_log_write(C.aph_log_level(level), t, m, &cerr), cerr)
}

// LogApplyPreset applies a logging preset (development, production, testing).
func LogApplyPreset(preset LogPreset) error {
	var cerr *C.char
	return check(C.go_aph_log_apply_preset(C.aph_log_preset(preset), &cerr), cerr)
}

// LogTrainingStep logs a training step's progress in the library's format.
func LogTrainingStep(step, totalSteps uint64, loss, lr float64) error {
	var cerr *C.char
	return check(C.go_aph_log_training_step(C.uint64_t(step), C.uint64_t(totalSteps), C.double(loss), C.double(lr), &cerr), cerr)
}

// LogMemoryUsage logs memory usage in the library's format.
func LogMemoryUsage(allocatedBytes, peakBytes uint64, context string) error {
	c := cstr(context)
	var cerr *C.char
	return check(C.go_aph_log_memory_usage(C.uint64_t(allocatedBytes), C.uint64_t(peakBytes), c, &cerr), cerr)
}
