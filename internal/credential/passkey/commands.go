package passkey

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// RelyingParty answers, for an instance, the WebAuthn relying party: its
// id (a registrable domain, §5.1.2 — the instance's primary domain), the
// name shown to the user, and the origins a ceremony's clientDataJSON may
// come from (the instance's base URL). See FromInstance.
type RelyingParty func(ctx context.Context, instanceID string) (id, displayName string, origins []string, err error)

// Config configures the ceremonies.
type Config struct {
	// Attestation is the attestation conveyance preference of
	// registrations (§5.4.7): "none" (the default), "indirect", "direct"
	// or "enterprise".
	Attestation string
}

// Validate reports a configuration the ceremonies cannot use.
func (cfg Config) Validate() error {
	switch protocol.ConveyancePreference(cfg.Attestation) {
	case "", protocol.PreferNoAttestation, protocol.PreferIndirectAttestation, protocol.PreferDirectAttestation, protocol.PreferEnterpriseAttestation:
		return nil
	}
	return fmt.Errorf("passkey: attestation %q: want none, indirect, direct or enterprise", cfg.Attestation)
}

func (cfg Config) attestation() protocol.ConveyancePreference {
	if cfg.Attestation == "" {
		return protocol.PreferNoAttestation
	}
	return protocol.ConveyancePreference(cfg.Attestation)
}

// MaxResponseSize bounds a client's registration or assertion response;
// a larger one is refused before it is parsed.
const MaxResponseSize = 64 << 10

// MaxNameLength bounds the name a user gives a credential, in characters.
const MaxNameLength = 100

// DefaultName is the name of a credential registered without one.
const DefaultName = "Passkey"

// Commands run the WebAuthn ceremonies and change a user's credentials.
type Commands struct {
	store *eventstore.Store
	rp    RelyingParty
	cfg   Config
	now   func() time.Time
}

// NewCommands returns the WebAuthn commands. cfg should have passed
// Validate; a ceremony under an invalid one fails as failure.Internal.
func NewCommands(store *eventstore.Store, rp RelyingParty, cfg Config) *Commands {
	return &Commands{store: store, rp: rp, cfg: cfg, now: time.Now}
}

// WithClock returns the commands with another clock (tests): it decides
// when a ceremony expires.
func (c *Commands) WithClock(now func() time.Time) *Commands {
	cp := *c
	cp.now = now
	return &cp
}

// UserInfo is how a registration presents the user to the authenticator
// (§5.4.3): ID is the user's id, which becomes the user handle; the names
// are shown when the user picks a passkey.
type UserInfo struct {
	ID, LoginName, DisplayName string
}

// Credential is a registered WebAuthn credential as callers see it.
type Credential struct {
	// ID is the credential id in base64url without padding.
	ID         string
	Name       string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero until first used
	// Passwordless: registered to sign in without a password.
	Passwordless bool
	// Discoverable: a resident key, usable without naming the user first.
	Discoverable bool
	// AAGUID names the authenticator model, in UUID form.
	AAGUID string
	// BackupEligible: a synced passkey; BackedUp: it was backed up at its
	// latest use.
	BackupEligible, BackedUp bool
	// CloneWarnings counts refused assertions whose counter did not grow.
	CloneWarnings int
}

// webAuthn is the library configured for the relying party of an instance.
func (c *Commands) webAuthn(ctx context.Context, instanceID string) (*webauthn.WebAuthn, error) {
	if err := c.cfg.Validate(); err != nil {
		return nil, failure.Internal(err, "passkey configuration")
	}
	id, name, origins, err := c.rp(ctx, instanceID)
	if err != nil {
		return nil, err
	}
	wa, err := webauthn.New(&webauthn.Config{RPID: id, RPDisplayName: name, RPOrigins: origins, AttestationPreference: c.cfg.attestation()})
	if err != nil {
		return nil, failure.Internal(err, "relying party of instance %s", instanceID)
	}
	return wa, nil
}

// BeginRegistration begins registering a credential of the user (§7.1) and
// returns the ceremony's id and the options for
// navigator.credentials.create, as JSON of the form {"publicKey": {...}}
// (binary values in base64url, for PublicKeyCredential.
// parseCreationOptionsFromJSON). Credentials the user has are excluded, so
// an authenticator is not registered twice. A passwordless registration
// requires a discoverable credential (resident key) and user verification;
// otherwise the credential is a second factor. The ceremony must be
// finished within CeremonyLifetime, once.
func (c *Commands) BeginRegistration(ctx context.Context, user eventstore.Aggregate, info UserInfo, passwordless bool) (ceremonyID string, creationOptionsJSON []byte, err error) {
	if info.ID != "" && info.ID != user.ID {
		return "", nil, failure.InvalidArgument("user", "the user info is of another user")
	}
	if strings.TrimSpace(info.LoginName) == "" {
		return "", nil, failure.InvalidArgument("loginName", "a registration needs the user's login name")
	}
	if info.DisplayName == "" {
		info.DisplayName = info.LoginName
	}
	m, err := load(ctx, c.store, user)
	if err != nil {
		return "", nil, err
	}
	wa, err := c.webAuthn(ctx, user.InstanceID)
	if err != nil {
		return "", nil, err
	}
	u := m.waUser(info.LoginName, info.DisplayName)
	selection := protocol.AuthenticatorSelection{ResidentKey: protocol.ResidentKeyRequirementDiscouraged, UserVerification: protocol.VerificationPreferred}
	purpose := purposeRegister
	if passwordless {
		selection = protocol.AuthenticatorSelection{RequireResidentKey: protocol.ResidentKeyRequired(), ResidentKey: protocol.ResidentKeyRequirementRequired,
			UserVerification: protocol.VerificationRequired}
		purpose = purposeRegisterPasswordless
	}
	creation, session, err := wa.BeginRegistration(u,
		webauthn.WithAuthenticatorSelection(selection),
		webauthn.WithExclusions(webauthn.Credentials(u.creds).CredentialDescriptors()),
		webauthn.WithConveyancePreference(c.cfg.attestation()),
		webauthn.WithExtensions(webauthn.WithExtensionCredProps()))
	if err != nil {
		return "", nil, failure.Internal(err, "begin WebAuthn registration of %s", user.ID)
	}
	opts, err := json.Marshal(creation)
	if err != nil {
		return "", nil, fmt.Errorf("passkey: encode creation options: %w", err)
	}
	id, err := c.saveCeremony(ctx, user.InstanceID, user.ID, purpose, session)
	if err != nil {
		return "", nil, err
	}
	return id, opts, nil
}

// checkName returns the name a credential is stored under.
func checkName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return DefaultName, nil
	}
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxNameLength || strings.ContainsFunc(name, unicode.IsControl) {
		return "", failure.InvalidArgument("name", "a name of at most %d characters, without control characters", MaxNameLength)
	}
	return name, nil
}

// parseCreation parses a registration response (a PublicKeyCredential
// with an AuthenticatorAttestationResponse, as JSON), refusing one over
// MaxResponseSize before reading it.
func parseCreation(responseJSON []byte) (*protocol.ParsedCredentialCreationData, error) {
	if err := checkSize(responseJSON); err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(responseJSON)
	if err != nil {
		return nil, invalidResponse(err)
	}
	return parsed, nil
}

// parseAssertion parses a login response (a PublicKeyCredential with an
// AuthenticatorAssertionResponse, as JSON), refusing one over
// MaxResponseSize before reading it.
func parseAssertion(responseJSON []byte) (*protocol.ParsedCredentialAssertionData, error) {
	if err := checkSize(responseJSON); err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(responseJSON)
	if err != nil {
		return nil, invalidResponse(err)
	}
	return parsed, nil
}

func checkSize(responseJSON []byte) error {
	if len(responseJSON) > MaxResponseSize {
		return failure.InvalidArgument("credential", "the response is larger than %d bytes", MaxResponseSize)
	}
	if len(responseJSON) == 0 {
		return failure.InvalidArgument("credential", "the response is missing")
	}
	return nil
}

// invalidResponse is the answer to a response that does not parse.
func invalidResponse(err error) error {
	e := failure.InvalidArgument("credential", "not a WebAuthn response of this ceremony")
	e.Cause = err
	return e
}

// FinishRegistration verifies the authenticator's response to the
// ceremony (the PublicKeyCredential as JSON, §5.1 toJSON) — challenge,
// origin, relying party id hash, user presence and, for a passwordless
// registration, user verification, and the attestation statement — and
// records the credential under name. Once the response parses, the
// ceremony is spent whether or not it verifies. A response that does not
// parse or verify is failure.InvalidArgument on "credential".
func (c *Commands) FinishRegistration(ctx context.Context, editor eventstore.Editor, user eventstore.Aggregate, ceremonyID, name string, responseJSON []byte) (Credential, error) {
	name, err := checkName(name)
	if err != nil {
		return Credential{}, err
	}
	parsed, err := parseCreation(responseJSON)
	if err != nil {
		return Credential{}, err
	}
	cer, err := c.takeCeremony(ctx, user.InstanceID, ceremonyID, user.ID, [2]string{purposeRegister, purposeRegisterPasswordless})
	if err != nil {
		return Credential{}, err
	}
	m, err := load(ctx, c.store, user)
	if err != nil {
		return Credential{}, err
	}
	wa, err := c.webAuthn(ctx, user.InstanceID)
	if err != nil {
		return Credential{}, err
	}
	cred, err := wa.CreateCredential(m.waUser("", ""), cer.session, parsed)
	if err != nil {
		return Credential{}, invalidCredential(err)
	}
	credentialID := base64.RawURLEncoding.EncodeToString(cred.ID)
	if _, r := m.find(credentialID); r != nil {
		return Credential{}, failure.AlreadyExists("the credential is registered already")
	}
	passwordless := cer.purpose == purposeRegisterPasswordless
	discoverable := passwordless
	if cred.Extensions.RK != nil {
		discoverable = *cred.Extensions.RK
	}
	if passwordless && (!discoverable || !cred.Flags.UserVerified) {
		return Credential{}, failure.InvalidArgument("credential", "a passkey for signing in without a password must be discoverable and verify the user")
	}
	added := &Added{
		CredentialID:      credentialID,
		PublicKey:         cred.PublicKey,
		SignCount:         cred.Authenticator.SignCount,
		AAGUID:            aaguidString(cred.Authenticator.AAGUID),
		AttestationType:   cred.AttestationType,
		AttestationFormat: cred.AttestationFormat,
		UserPresent:       cred.Flags.UserPresent,
		UserVerified:      cred.Flags.UserVerified,
		BackupEligible:    cred.Flags.BackupEligible,
		BackupState:       cred.Flags.BackupState,
		Discoverable:      discoverable,
		Passwordless:      passwordless,
		Name:              name,
	}
	for _, t := range cred.Transport {
		added.Transports = append(added.Transports, string(t))
	}
	stored, err := c.store.Push(ctx, editor, eventstore.Append{Aggregate: m.user, ExpectedSequence: m.sequence, Events: []eventstore.Payload{added},
		Unique: []eventstore.Unique{credentialUnique(credentialID)}})
	if err != nil {
		return Credential{}, err
	}
	r := &record{added: *added, signCount: added.SignCount, backupState: added.BackupState, createdAt: stored[0].CreatedAt}
	return r.public(), nil
}

// credentialUnique claims a credential id in the instance: one
// authenticator's credential belongs to one user.
func credentialUnique(credentialID string) eventstore.Unique {
	return eventstore.Unique{Kind: "webauthn_credential", Value: credentialID, Field: "credential"}
}

func aaguidString(b []byte) string {
	u, err := uuid.FromBytes(b)
	if err != nil {
		return uuid.Nil.String()
	}
	return u.String()
}

// invalidCredential is the answer to a registration response that does not
// parse or verify. The library's reason stays in the cause, for the
// operator; the caller sees one message.
func invalidCredential(err error) error {
	e := failure.InvalidArgument("credential", "the WebAuthn response could not be verified")
	e.Cause = err
	return e
}
