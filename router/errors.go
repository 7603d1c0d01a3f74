package router

import (
	"errors"
	"fmt"

	"github.com/routerd/routerd/contract"
)

// Error is a refusal that reaches the client as an error frame. It has the
// fields and the JSON form of contract.Error, {"code":..,"message":..}: the
// error of a failed control request.
type Error contract.Error

// Error implements error: "code: message".
func (e *Error) Error() string { return (*contract.Error)(e).Error() }

// Errorf returns an *Error with a formatted message.
func Errorf(code contract.Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError maps any error to the protocol error a client should see: an
// *Error anywhere in the chain as it is, anything else as internal.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: contract.CodeInternal, Message: err.Error()}
}
