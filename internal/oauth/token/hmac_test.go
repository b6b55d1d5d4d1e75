package token

import (
	"crypto/hmac"
	"crypto/sha256"
)

func hmacSHA256(key, in []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(in)
	return m.Sum(nil)
}
