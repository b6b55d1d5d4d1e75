// Package passkeytest is a software WebAuthn authenticator for tests: it
// plays browser and authenticator, answering the options of a ceremony
// (the JSON package passkey and the APIs hand to a browser) with the JSON a
// browser's PublicKeyCredential serializes to — an ECDSA P-256 key and
// "none" attestation. It lets the passkey package, the user API and the
// Session API be tested end to end without a browser.
package passkeytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
	"github.com/go-webauthn/webauthn/protocol"
)

// The authenticator data flags (WebAuthn L2 §6.1).
const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

var b64 = base64.RawURLEncoding

// Key is one credential of the software authenticator.
type Key struct {
	priv *ecdsa.PrivateKey
	// ID is the credential id.
	ID []byte
	// RPID is the relying party the credential is scoped to.
	RPID string
	// UserHandle is the user handle (the user id) given at registration;
	// a discoverable assertion returns it.
	UserHandle []byte
	// Resident: a discoverable credential (resident key).
	Resident bool
	// Counter is the signature counter of the last signature.
	Counter uint32
	// NoCounter: the authenticator sends 0 always, as synced passkeys do.
	NoCounter bool
}

// IDString is the credential id in base64url without padding, as package
// passkey and the APIs name a credential.
func (k *Key) IDString() string { return b64.EncodeToString(k.ID) }

// Clone is a copy of k on another device: same key and id, own counter.
func (k *Key) Clone() *Key {
	c := *k
	return &c
}

// Authenticator answers navigator.credentials.create and .get for an
// origin. Its zero value (but for Origin) is a security key that tests
// user presence only.
type Authenticator struct {
	// Origin is what the client data claims the page's origin was.
	Origin string
	// UV: the authenticator verifies the user (PIN, biometric).
	UV bool
	// Synced: backup eligible and backed up (a synced passkey).
	Synced bool
	// IgnoreExclusions: a broken client that registers an excluded
	// authenticator again (Create then returns the first key once more).
	IgnoreExclusions bool
	// Keys are the credentials it holds.
	Keys []*Key
}

// ErrExcluded is Create's answer when one of its keys is excluded, as a
// browser's InvalidStateError.
var ErrExcluded = errors.New("InvalidStateError: the authenticator is excluded")

func (a *Authenticator) flags() byte {
	f := byte(flagUP)
	if a.UV {
		f |= flagUV
	}
	if a.Synced {
		f |= flagBE | flagBS
	}
	return f
}

func (a *Authenticator) clientData(typ string, challenge protocol.URLEncodedBase64) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge.String(), "origin": a.Origin, "crossOrigin": false})
	return b
}

// Create answers navigator.credentials.create(options), options being the
// JSON {"publicKey": {...}}, with a new key: the PublicKeyCredential as
// JSON, and the key. The key is resident when the options require one.
func (a *Authenticator) Create(optionsJSON []byte) ([]byte, *Key, error) {
	var opts protocol.CredentialCreation
	if err := json.Unmarshal(optionsJSON, &opts); err != nil {
		return nil, nil, err
	}
	o := opts.Response
	if !a.IgnoreExclusions {
		for _, ex := range o.CredentialExcludeList {
			for _, k := range a.Keys {
				if k.RPID == o.RelyingParty.ID && string(k.ID) == string(ex.CredentialID) {
					return nil, nil, ErrExcluded
				}
			}
		}
	}
	userID, ok := o.User.ID.(string)
	if !ok {
		return nil, nil, fmt.Errorf("user id %v", o.User.ID)
	}
	handle, err := b64.DecodeString(userID)
	if err != nil {
		return nil, nil, err
	}
	var k *Key
	if a.IgnoreExclusions && len(a.Keys) > 0 {
		k = a.Keys[0] // the same credential once more
	} else {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		id := make([]byte, 32)
		_, _ = rand.Read(id)
		rk := o.AuthenticatorSelection.ResidentKey == protocol.ResidentKeyRequirementRequired
		k = &Key{priv: priv, ID: id, RPID: o.RelyingParty.ID, UserHandle: handle, Resident: rk}
		a.Keys = append(a.Keys, k)
	}
	pub, err := k.priv.PublicKey.ECDH()
	if err != nil {
		return nil, nil, err
	}
	raw := pub.Bytes() // 0x04 || X || Y
	cose, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: raw[1:33], -3: raw[33:]})
	if err != nil {
		return nil, nil, err
	}
	rpHash := sha256.Sum256([]byte(o.RelyingParty.ID))
	authData := append([]byte{}, rpHash[:]...)
	authData = append(authData, a.flags()|flagAT)
	authData = binary.BigEndian.AppendUint32(authData, k.Counter)
	authData = append(authData, make([]byte, 16)...) // AAGUID: zero, as "none" attestation sends
	authData = binary.BigEndian.AppendUint16(authData, uint16(len(k.ID)))
	authData = append(authData, k.ID...)
	authData = append(authData, cose...)
	attObj, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		return nil, nil, err
	}
	resp, err := json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.ID), "rawId": b64.EncodeToString(k.ID), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(a.clientData("webauthn.create", o.Challenge)),
			"attestationObject": b64.EncodeToString(attObj),
			"transports":        []string{"internal", "hybrid"},
		},
		"clientExtensionResults": map[string]any{"credProps": map[string]any{"rk": k.Resident}},
	})
	return resp, k, err
}

// Get answers navigator.credentials.get(options), options being the JSON
// {"publicKey": {...}}, with key k, or with the authenticator's choice (an
// allowed key, or a resident key of the relying party) when k is nil. The
// key's counter grows by one, unless it has NoCounter.
func (a *Authenticator) Get(optionsJSON []byte, k *Key) ([]byte, error) {
	var opts protocol.CredentialAssertion
	if err := json.Unmarshal(optionsJSON, &opts); err != nil {
		return nil, err
	}
	o := opts.Response
	for _, cand := range a.Keys {
		if k != nil {
			break
		}
		if cand.RPID != o.RelyingPartyID {
			continue
		}
		if len(o.AllowedCredentials) == 0 && cand.Resident {
			k = cand
		}
		for _, allowed := range o.AllowedCredentials {
			if string(allowed.CredentialID) == string(cand.ID) {
				k = cand
			}
		}
	}
	if k == nil {
		return nil, errors.New("NotAllowedError: no credential")
	}
	if !k.NoCounter {
		k.Counter++
	}
	rpHash := sha256.Sum256([]byte(o.RelyingPartyID))
	authData := append([]byte{}, rpHash[:]...)
	authData = append(authData, a.flags())
	authData = binary.BigEndian.AppendUint32(authData, k.Counter)
	cd := a.clientData("webauthn.get", o.Challenge)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, authData...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, digest[:])
	if err != nil {
		return nil, err
	}
	response := map[string]any{
		"clientDataJSON":    b64.EncodeToString(cd),
		"authenticatorData": b64.EncodeToString(authData),
		"signature":         b64.EncodeToString(sig),
	}
	if k.Resident {
		response["userHandle"] = b64.EncodeToString(k.UserHandle)
	}
	return json.Marshal(map[string]any{"id": b64.EncodeToString(k.ID), "rawId": b64.EncodeToString(k.ID), "type": "public-key", "response": response})
}
