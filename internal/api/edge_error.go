package api

import (
	"net/http"
	"strings"

	"connectrpc.com/connect"
)

// WriteError answers r with err as a service's error reaches its caller
// (connectError): in the Connect protocol for a request on a service's
// path (gRPC and gRPC-Web included), as REST JSON otherwise. It is for
// handlers that refuse a request in front of the API, before it is
// decoded (sessionapi.Admission), so that the caller cannot tell the
// refusal from the service's own.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	ce := connectError(err)
	if strings.HasPrefix(r.URL.Path, "/castellan.") {
		_ = connect.NewErrorWriter().Write(w, r, ce)
		return
	}
	writeRESTError(w, restStatus[ce.Code()], ce)
}

// restStatus is the HTTP status of each code for REST callers (as the
// transcoder answers them; google.rpc.Code's HTTP mapping).
var restStatus = map[connect.Code]int{
	connect.CodeCanceled: 499, connect.CodeUnknown: http.StatusInternalServerError,
	connect.CodeInvalidArgument: http.StatusBadRequest, connect.CodeDeadlineExceeded: http.StatusGatewayTimeout,
	connect.CodeNotFound: http.StatusNotFound, connect.CodeAlreadyExists: http.StatusConflict,
	connect.CodePermissionDenied: http.StatusForbidden, connect.CodeResourceExhausted: http.StatusTooManyRequests,
	connect.CodeFailedPrecondition: http.StatusBadRequest, connect.CodeAborted: http.StatusConflict,
	connect.CodeOutOfRange: http.StatusBadRequest, connect.CodeUnimplemented: http.StatusNotImplemented,
	connect.CodeInternal: http.StatusInternalServerError, connect.CodeUnavailable: http.StatusServiceUnavailable,
	connect.CodeDataLoss: http.StatusInternalServerError, connect.CodeUnauthenticated: http.StatusUnauthorized,
}
