// Package openapi holds the OpenAPI 3.1 document of Castellan's API.
//
// castellan.openapi.json is generated from proto/ by `make proto`; this file,
// which embeds it, is the one file under gen/ written by hand.
package openapi

import _ "embed"

// JSON is the OpenAPI document, in JSON, of every service in proto/.
//
//go:embed castellan.openapi.json
var JSON []byte
