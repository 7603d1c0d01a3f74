package router

import (
	"errors"
	"fmt"
)

// Code is a protocol error code (SPEC §2): the `code` of an error frame.
type Code string

// The error codes of SPEC §2.
const (
	CodeBadFrame         Code = "bad_frame"
	CodeUnknownType      Code = "unknown_type"
	CodeInvalidName      Code = "invalid_name"
	CodeUnknownNamespace Code = "unknown_namespace"
	CodeNotConnected     Code = "not_connected"
	CodeAlreadyConnected Code = "already_connected"
	CodeUnauthorized     Code = "unauthorized"
	CodeForbidden        Code = "forbidden"
	CodeNotMember        Code = "not_member"
	CodeLimitExceeded    Code = "limit_exceeded"
	CodeRateLimited      Code = "rate_limited"
	CodeTooLarge         Code = "too_large"
	CodeNoResponders     Code = "no_responders"
	CodeTimeout          Code = "timeout"
	CodeUnavailable      Code = "unavailable"
	CodeInternal         Code = "internal"
)

// Error is a refusal that reaches the client as an error frame.
type Error struct {
	Code    Code
	Message string
}

// Error implements error.
func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError maps any error to the protocol error a client should see: an
// *Error anywhere in the chain as it is, anything else as internal.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternal, Message: err.Error()}
}
