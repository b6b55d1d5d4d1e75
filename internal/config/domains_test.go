package config

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/password"
)

func TestDomainVerificationNetworks(t *testing.T) {
	c, err := Load([]string{"--domains-verification-allowed-networks", "127.0.0.0/8, 10.20.30.40/16", "--domains-verification-allowed-networks", "fd00::/8"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.20.0.0/16"), netip.MustParsePrefix("fd00::/8")}
	if got := c.Domains.VerificationNetworks(); !slices.Equal(got, want) {
		t.Fatalf("networks %v, want %v", got, want)
	}
	c, err = Load(nil, env(nil))
	if err != nil || c.Domains.VerificationNetworks() != nil {
		t.Fatalf("default networks %v, %v; want none", c.Domains.VerificationNetworks(), err)
	}
	for _, bad := range []string{"127.0.0.1", "localhost/8", "10.0.0.0/33"} {
		_, err := Load(nil, env(map[string]string{"CASTELLAN_DOMAINS_VERIFICATION_ALLOWED_NETWORKS": bad}))
		want := `config: domains.verification_allowed_networks (from CASTELLAN_DOMAINS_VERIFICATION_ALLOWED_NETWORKS): must be networks in CIDR notation`
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), bad) {
			t.Errorf("network %q: %v, want %q", bad, err, want)
		}
	}
}

// Castellan never writes a password hash it would refuse to verify: the
// argon2id settings stop where package password's bounds do.
func TestArgon2idStaysWithinTheVerifiedBounds(t *testing.T) {
	for key, limit := range map[string]uint64{
		"passwords.argon2id.memory_kib":  uint64(password.MaxParams.MemoryKiB),
		"passwords.argon2id.iterations":  uint64(password.MaxParams.Iterations),
		"passwords.argon2id.parallelism": uint64(password.MaxParams.Parallelism),
	} {
		s := settingsByKey[key]
		if s.max == nil || uint64(*s.max) != limit {
			t.Errorf("%s has max %v, want %d", key, s.max, limit)
		}
	}
	_, err := Load([]string{"--passwords-argon2id-memory-kib", "4194304"}, env(nil))
	if err == nil || !strings.Contains(err.Error(), "passwords.argon2id.memory_kib (from --passwords-argon2id-memory-kib): must be at most 262144") {
		t.Fatalf("4 GiB per hash: %v", err)
	}
}
