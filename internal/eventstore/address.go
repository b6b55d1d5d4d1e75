package eventstore

import (
	"encoding/hex"
	"net/netip"
	"strings"

	"github.com/castellan-iam/castellan/internal/failure"
)

// Editor addresses are stored as the 32 lower-case hexadecimal digits of
// their 16-byte form, IPv4 addresses mapped into IPv6 (::ffff:a.b.c.d):
// text that sorts like the addresses, so a network (Filter.EditorNetwork)
// is one range of the events_instance_address index. No address is "".

func encodeAddress(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return "", failure.InvalidArgument("editor", "the editor's address %.64q is not an IP address", s)
	}
	b := a.As16()
	return hex.EncodeToString(b[:]), nil
}

func decodeAddress(s string) string {
	if len(s) != 32 {
		return ""
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return ""
	}
	return netip.AddrFrom16([16]byte(b)).Unmap().String()
}

// addressRange is the stored form of the first and last address of p.
func addressRange(p netip.Prefix) (lo, hi string) {
	p = p.Masked()
	a := p.Addr()
	bits := p.Bits()
	if a.Is4() {
		bits += 96
	}
	first := a.As16()
	last := first
	for i := bits; i < 128; i++ {
		last[i/8] |= 1 << (7 - uint(i%8))
	}
	return hex.EncodeToString(first[:]), strings.ToLower(hex.EncodeToString(last[:]))
}
