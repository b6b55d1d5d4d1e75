// Package trustsetapi serves castellan.trustset.v1.TrustSetService: the
// trust sets of the instance a request reached (package trustset), which
// tls_client_auth clients' certificates chain to. Reading needs
// instance.read, changing instance.write on the instance: a trust set
// decides which certificates authenticate clients of every organization
// that uses it.
package trustsetapi
