package passkey

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// aggregateType is the type of the user aggregate the events live on
// (package user's AggregateType, which this package cannot import).
const aggregateType = "user"

// Result is a verified assertion.
type Result struct {
	UserID       string
	CredentialID string
	// UserVerified: the authenticator verified the user (PIN, biometric)
	// in this assertion, the UV flag of §6.1.
	UserVerified bool
	// Passwordless: the ceremony was begun without a user, the key was
	// registered as a passkey (to sign in alone), so the
	// credential alone identified the user (a discoverable login).
	Passwordless bool
}

func verificationOf(uv string, discoverable bool) (protocol.UserVerificationRequirement, error) {
	switch r := protocol.UserVerificationRequirement(uv); r {
	case protocol.VerificationRequired, protocol.VerificationPreferred, protocol.VerificationDiscouraged:
		return r, nil
	case "":
		if discoverable {
			return protocol.VerificationRequired, nil
		}
		return protocol.VerificationPreferred, nil
	}
	return "", failure.InvalidArgument("userVerification", "required, preferred or discouraged")
}

// BeginLogin begins an assertion (§7.2) and returns the ceremony's id and
// the options for navigator.credentials.get, as JSON of the form
// {"publicKey": {...}}. With a user, its credentials are the allowed ones
// (a second factor, or a passkey after the login name); without one (nil),
// the authenticator offers its discoverable credentials for the relying
// party and the response's user handle names the user (passwordless).
// userVerification is "required", "preferred" or "discouraged"; empty means
// required without a user and preferred with one. A user without
// credentials is failure.FailedPrecondition.
func (c *Commands) BeginLogin(ctx context.Context, instanceID string, user *eventstore.Aggregate, userVerification string) (ceremonyID string, requestOptionsJSON []byte, err error) {
	uv, err := verificationOf(userVerification, user == nil)
	if err != nil {
		return "", nil, err
	}
	wa, err := c.webAuthn(ctx, instanceID)
	if err != nil {
		return "", nil, err
	}
	var (
		assertion *protocol.CredentialAssertion
		session   *webauthn.SessionData
		userID    string
		purpose   = purposeLoginDiscoverable
	)
	if user == nil {
		assertion, session, err = wa.BeginDiscoverableLogin(webauthn.WithUserVerification(uv))
	} else {
		if user.InstanceID != instanceID {
			return "", nil, failure.InvalidArgument("user", "the user is of another instance")
		}
		m, err := load(ctx, c.store, *user)
		if err != nil {
			return "", nil, err
		}
		if len(m.creds) == 0 {
			return "", nil, failure.FailedPrecondition("user %s has no WebAuthn credential", user.ID)
		}
		userID, purpose = user.ID, purposeLogin
		assertion, session, err = wa.BeginLogin(m.waUser("", ""), webauthn.WithUserVerification(uv))
		if err != nil {
			return "", nil, failure.Internal(err, "begin WebAuthn login of %s", user.ID)
		}
	}
	if err != nil {
		return "", nil, failure.Internal(err, "begin WebAuthn login")
	}
	opts, err := json.Marshal(assertion)
	if err != nil {
		return "", nil, fmt.Errorf("passkey: encode request options: %w", err)
	}
	id, err := c.saveCeremony(ctx, instanceID, userID, purpose, session)
	if err != nil {
		return "", nil, err
	}
	return id, opts, nil
}

// errAssertion is the one answer to an assertion that does not verify:
// it says nothing of why (unknown credential, wrong signature, wrong
// origin, cloned key). The reason stays in the cause, for the operator.
func errAssertion(cause error) error {
	e := failure.Unauthenticated("the passkey could not be verified")
	e.Cause = cause
	return e
}

// errNoUser is the cause of a discoverable assertion whose user handle
// names no user of the instance.
var errNoUser = errors.New("the user handle names no user")

// FinishLogin verifies the authenticator's response to a login ceremony
// (the PublicKeyCredential as JSON) — the credential is the user's,
// challenge, origin, relying party id hash, user presence, user
// verification when it was required, signature — and records its use. A
// signature counter that did not increase, where either counter is
// non-zero, is refused and recorded as a CloneWarning (§6.1.1). Once the
// response parses, the ceremony is spent whether or not it verifies. Every refusal of the
// assertion is the same failure.Unauthenticated; a response that is not
// JSON of a PublicKeyCredential is failure.InvalidArgument on "credential".
//
// The caller checks that the user may sign in (active, not locked) through
// package user, as after a password check.
func (c *Commands) FinishLogin(ctx context.Context, instanceID, ceremonyID string, responseJSON []byte) (Result, error) {
	parsed, err := parseAssertion(responseJSON)
	if err != nil {
		return Result{}, err
	}
	cer, err := c.takeCeremony(ctx, instanceID, ceremonyID, "", [2]string{purposeLogin, purposeLoginDiscoverable})
	if err != nil {
		return Result{}, err
	}
	wa, err := c.webAuthn(ctx, instanceID)
	if err != nil {
		return Result{}, err
	}
	var (
		m         *model
		cred      *webauthn.Credential
		storeFail error // reading the user failed: the server's fault, not the response's
	)
	if cer.purpose == purposeLoginDiscoverable {
		handler := func(_, userHandle []byte) (webauthn.User, error) {
			if !validUserHandle(userHandle) {
				return nil, errNoUser
			}
			found, err := load(ctx, c.store, eventstore.Aggregate{InstanceID: instanceID, Type: aggregateType, ID: string(userHandle)})
			if failure.Is(err, failure.KindNotFound) {
				return nil, errNoUser
			}
			if err != nil {
				storeFail = err
				return nil, err
			}
			m = found
			return m.waUser("", ""), nil
		}
		_, cred, err = wa.ValidatePasskeyLogin(handler, cer.session, parsed)
	} else {
		if m, err = load(ctx, c.store, eventstore.Aggregate{InstanceID: instanceID, Type: aggregateType, ID: cer.userID}); err != nil {
			return Result{}, err
		}
		cred, err = wa.ValidateLogin(m.waUser("", ""), cer.session, parsed)
	}
	if storeFail != nil {
		return Result{}, storeFail
	}
	if err != nil {
		return Result{}, errAssertion(err)
	}
	credentialID := base64.RawURLEncoding.EncodeToString(cred.ID)
	_, r := m.find(credentialID)
	if r == nil {
		return Result{}, errAssertion(errors.New("the credential was removed"))
	}
	received := parsed.Response.AuthenticatorData.Counter
	if cred.Authenticator.CloneWarning {
		if _, err := c.store.Push(ctx, loginEditor(m), eventstore.Append{Aggregate: m.user, ExpectedSequence: eventstore.AnySequence,
			Events: []eventstore.Payload{&CloneWarning{CredentialID: credentialID, StoredSignCount: r.signCount, ReceivedSignCount: received}}}); err != nil {
			return Result{}, err
		}
		return Result{}, errAssertion(fmt.Errorf("signature counter %d did not increase from %d: the authenticator may be cloned", received, r.signCount))
	}
	flags := parsed.Response.AuthenticatorData.Flags
	used := &Used{CredentialID: credentialID, SignCount: received, UserVerified: flags.HasUserVerified(), BackupState: flags.HasBackupState()}
	// The expected sequence makes two assertions verified against the same
	// counter conflict: only one of them can be recorded.
	if _, err := c.store.Push(ctx, loginEditor(m), eventstore.Append{Aggregate: m.user, ExpectedSequence: m.sequence, Events: []eventstore.Payload{used}}); err != nil {
		return Result{}, err
	}
	// A key registered as a second factor stays one, even if it is
	// discoverable and verifies its user: what its user and the settings
	// chose when registering it holds (see Added.Passwordless).
	return Result{UserID: m.user.ID, CredentialID: credentialID, UserVerified: used.UserVerified,
		Passwordless: cer.purpose == purposeLoginDiscoverable && r.added.Passwordless}, nil
}

// validUserHandle reports whether a user handle can be a user id: at most
// 64 bytes (§5.4.3) of printable UTF-8. Others name nobody and are not
// looked up (PostgreSQL refuses text with invalid UTF-8 or NUL).
func validUserHandle(h []byte) bool {
	return len(h) > 0 && len(h) <= 64 && utf8.Valid(h) && !bytes.ContainsFunc(h, unicode.IsControl)
}

func loginEditor(m *model) eventstore.Editor {
	return eventstore.Editor{UserID: m.user.ID, ClientID: "sign-in"}
}
