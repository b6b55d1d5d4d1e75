package passkey

import (
	"encoding/json"

	"github.com/castellan-iam/castellan/internal/eventstore"
)

// The WebAuthn events, all on the user's aggregate (type "user"). A
// credential is named by its id in base64url without padding, the form of
// PublicKeyCredential.id (WebAuthn L2 §5.1).

// Added records a credential registered by a verified attestation
// (WebAuthn L2 §7.1): the public key an assertion is checked with and what
// the authenticator reported at registration.
type Added struct {
	CredentialID string `json:"credentialId"`
	// PublicKey is the credential public key as a COSE_Key (§6.5.1.1).
	PublicKey []byte `json:"publicKey"`
	SignCount uint32 `json:"signCount"`
	// AAGUID names the authenticator model (zero for "none" attestation
	// from most platforms), in UUID form.
	AAGUID            string   `json:"aaguid"`
	Transports        []string `json:"transports,omitempty"`
	AttestationType   string   `json:"attestationType,omitempty"`
	AttestationFormat string   `json:"attestationFormat,omitempty"`
	// The authenticator data flags at registration (§6.1): user present,
	// user verified, backup eligible (a synced passkey) and backed up.
	UserPresent    bool `json:"userPresent"`
	UserVerified   bool `json:"userVerified"`
	BackupEligible bool `json:"backupEligible"`
	BackupState    bool `json:"backupState"`
	// Discoverable: a client-side discoverable credential (resident key),
	// as the credProps extension reported it or the ceremony required it.
	Discoverable bool `json:"discoverable"`
	// Passwordless: registered to sign in without a password — a
	// discoverable credential with user verification.
	Passwordless bool `json:"passwordless"`
	// Name is what the user calls the credential ("work laptop").
	Name string `json:"name"`
}

// Used records a verified assertion (§7.2) with the authenticator's new
// signature counter; the event's time is when.
type Used struct {
	CredentialID string `json:"credentialId"`
	SignCount    uint32 `json:"signCount"`
	UserVerified bool   `json:"userVerified"`
	BackupState  bool   `json:"backupState"`
}

// Removed records that a credential no longer proves the user.
type Removed struct {
	CredentialID string `json:"credentialId"`
}

// CloneWarning records an assertion whose signature counter did not
// increase although one of the counters is non-zero (§6.1.1): the
// authenticator may have been cloned. The assertion was refused.
type CloneWarning struct {
	CredentialID string `json:"credentialId"`
	// StoredSignCount is the counter the credential had; ReceivedSignCount
	// the one the refused assertion carried.
	StoredSignCount   uint32 `json:"storedSignCount"`
	ReceivedSignCount uint32 `json:"receivedSignCount"`
}

func (Added) EventType() string        { return "user.passkey.added" }
func (Used) EventType() string         { return "user.passkey.used" }
func (Removed) EventType() string      { return "user.passkey.removed" }
func (CloneWarning) EventType() string { return "user.passkey.clone_warning" }

// RegisterEvents adds the WebAuthn events to r. Package user registers
// them with its own, since they live on the user's aggregate.
func RegisterEvents(r *eventstore.Registry) {
	eventstore.Register[Added](r, 1)
	eventstore.Register[Used](r, 1)
	eventstore.Register[Removed](r, 1)
	eventstore.Register[CloneWarning](r, 1)
}

// The name a user gives a credential may be personal ("Ada's phone"): it
// is sealed per user by the event store and erased with the user.

func (p *Added) SplitPersonal() (eventstore.Payload, []byte, error) {
	c := *p
	c.Name = ""
	b, err := json.Marshal(p.Name)
	return &c, b, err
}

func (p *Added) JoinPersonal(b []byte) error { return json.Unmarshal(b, &p.Name) }
func (p *Added) ErasePersonal(string)        { p.Name = "" }
