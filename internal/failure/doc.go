// Package failure defines the small set of error kinds that domain packages
// return: not found, already exists, invalid argument, failed precondition,
// conflict, permission denied, unauthenticated and internal.
//
// Domain code returns a *Error built by one of the constructors; transport
// packages map the Kind once, at the edge, to an HTTP status, a gRPC/Connect
// code or an OAuth error code. The Message is safe to show to the caller; Cause
// carries the detail for the operator's log and is never rendered to clients.
package failure
