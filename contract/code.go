package contract

// Code is a protocol error code: the code of a client's error frame, of a
// failed control request's Error, and what a backend puts in HeaderError.
type Code string

// The error codes.
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

// Error is the error of a control reply that failed:
// {"code":..,"message":..}.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

// Error implements error: "code: message".
func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }
