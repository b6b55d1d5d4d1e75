// Package system implements castellan.system.v1.SystemService: which
// instance a request reached and which version of Castellan serves it.
//
// It reads the instance that internal/server resolved from the request's host
// (instance.FromContext) and the version given to New; it touches no storage.
// Its RPCs need no authentication. Package api serves it; see api.Service.
package system
