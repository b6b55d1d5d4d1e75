package passkey_test

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

// softKey is one credential of the software authenticator.
type softKey struct {
	priv       *ecdsa.PrivateKey
	id         []byte
	rpID       string
	userHandle []byte
	resident   bool
	counter    uint32
	// noCounter: the authenticator sends 0 always, as synced passkeys do.
	noCounter bool
}

// softAuthenticator plays browser and authenticator: it answers the
// options of a ceremony with the JSON a browser's PublicKeyCredential
// serializes to, for an ECDSA P-256 key, "none" attestation.
type softAuthenticator struct {
	origin string
	// uv: the authenticator verifies the user; synced: backup eligible
	// and backed up (a synced passkey).
	uv, synced bool
	// ignoreExclusions: a broken client that registers an excluded
	// authenticator again.
	ignoreExclusions bool
	keys             []*softKey
}

var errExcluded = errors.New("InvalidStateError: the authenticator is excluded")

func (a *softAuthenticator) flags() byte {
	f := byte(flagUP)
	if a.uv {
		f |= flagUV
	}
	if a.synced {
		f |= flagBE | flagBS
	}
	return f
}

func (a *softAuthenticator) clientData(typ string, challenge protocol.URLEncodedBase64) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge.String(), "origin": a.origin, "crossOrigin": false})
	return b
}

// create answers navigator.credentials.create(options).
func (a *softAuthenticator) create(optionsJSON []byte) ([]byte, *softKey, error) {
	var opts protocol.CredentialCreation
	if err := json.Unmarshal(optionsJSON, &opts); err != nil {
		return nil, nil, err
	}
	o := opts.Response
	if !a.ignoreExclusions {
		for _, ex := range o.CredentialExcludeList {
			for _, k := range a.keys {
				if k.rpID == o.RelyingParty.ID && string(k.id) == string(ex.CredentialID) {
					return nil, nil, errExcluded
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
	var k *softKey
	if a.ignoreExclusions && len(a.keys) > 0 {
		k = a.keys[0] // the same credential once more
	} else {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		id := make([]byte, 32)
		_, _ = rand.Read(id)
		rk := o.AuthenticatorSelection.ResidentKey == protocol.ResidentKeyRequirementRequired
		k = &softKey{priv: priv, id: id, rpID: o.RelyingParty.ID, userHandle: handle, resident: rk}
		a.keys = append(a.keys, k)
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
	authData = binary.BigEndian.AppendUint32(authData, k.counter)
	authData = append(authData, make([]byte, 16)...) // AAGUID: zero, as "none" attestation sends
	authData = binary.BigEndian.AppendUint16(authData, uint16(len(k.id)))
	authData = append(authData, k.id...)
	authData = append(authData, cose...)
	attObj, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		return nil, nil, err
	}
	resp, err := json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(a.clientData("webauthn.create", o.Challenge)),
			"attestationObject": b64.EncodeToString(attObj),
			"transports":        []string{"internal", "hybrid"},
		},
		"clientExtensionResults": map[string]any{"credProps": map[string]any{"rk": k.resident}},
	})
	return resp, k, err
}

// get answers navigator.credentials.get(options) with key k, or with the
// authenticator's choice (an allowed key, or a resident key of the relying
// party) when k is nil. The key's counter grows by one.
func (a *softAuthenticator) get(optionsJSON []byte, k *softKey) ([]byte, error) {
	var opts protocol.CredentialAssertion
	if err := json.Unmarshal(optionsJSON, &opts); err != nil {
		return nil, err
	}
	o := opts.Response
	for _, cand := range a.keys {
		if k != nil {
			break
		}
		if cand.rpID != o.RelyingPartyID {
			continue
		}
		if len(o.AllowedCredentials) == 0 && cand.resident {
			k = cand
		}
		for _, allowed := range o.AllowedCredentials {
			if string(allowed.CredentialID) == string(cand.id) {
				k = cand
			}
		}
	}
	if k == nil {
		return nil, errors.New("NotAllowedError: no credential")
	}
	if !k.noCounter {
		k.counter++
	}
	rpHash := sha256.Sum256([]byte(o.RelyingPartyID))
	authData := append([]byte{}, rpHash[:]...)
	authData = append(authData, a.flags())
	authData = binary.BigEndian.AppendUint32(authData, k.counter)
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
	if k.resident {
		response["userHandle"] = b64.EncodeToString(k.userHandle)
	}
	return json.Marshal(map[string]any{"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key", "response": response})
}

// clone is a copy of k on another device: same key and id, own counter.
func (k *softKey) clone() *softKey {
	c := *k
	return &c
}
