package passkey

import (
	"github.com/castellan-iam/castellan/internal/instance"
)

// FromInstance is the relying party of an instance, for the composition
// root's RelyingParty: its id is the instance's primary domain, so that
// credentials are scoped to it (§5.1.2, a credential of one instance is
// useless at another), its name the instance's, and its one origin the
// instance's base URL — the scheme and port of the server's external URL
// with the primary domain as host (instance.Issuer).
func FromInstance(inst instance.Instance, externalURL string) (id, displayName string, origins []string) {
	name := inst.Name
	if name == "" {
		name = inst.PrimaryDomain
	}
	return inst.PrimaryDomain, name, []string{inst.Issuer(externalURL)}
}
