package login

import (
	"context"
	"encoding/base64"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/credential/passkey"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/mail"
	"github.com/castellan-iam/castellan/internal/settings"
	"github.com/castellan-iam/castellan/internal/user"
)

// The authenticators page: TOTP, recovery codes, sign-in codes by email
// or SMS, passkeys. Every change needs a recent check (see account.go)
// and is told to the user by email.

// authenticatorsPage is what the page shows of the user's authenticators
// and what it offers to add.
type authenticatorsPage struct {
	credential.Authenticators
	Passkeys []passkeyRow
	// Offer* tell what the user's type and its organization's login
	// settings let the user add.
	OfferTOTP, OfferRecoveryCodes, OfferOTPEmail, OfferOTPSMS bool
	// RegisterPasskey is the page that registers a passkey, "" when the
	// login has none or passkeys are not offered.
	RegisterPasskey string
}

type passkeyRow struct {
	ID, Name              string
	CreatedAt, LastUsedAt time.Time
	Passwordless, Synced  bool
}

// totpSetup is a TOTP registration waiting for its first code.
type totpSetup struct {
	QR     template.URL // a data: URL of the PNG, built here
	Secret string
}

// The authenticators as a notice names them, as the API's do.
const (
	nameTOTP          = mail.TOTP
	nameRecoveryCodes = mail.RecoveryCodes
	nameOTPEmail      = mail.OTPEmail
	nameOTPSMS        = mail.OTPSMS
)

// offers tells which authenticators u may add: its type lists them and
// its organization's login settings allow them.
func (h *Handler) offers(ctx context.Context, u user.User) (func(string) bool, error) {
	eff, err := settings.Effective(ctx, h.d.DB, u.InstanceID, u.OrgID)
	if err != nil {
		return nil, err
	}
	allowed := map[string]bool{}
	for _, a := range []string{settings.AuthTOTP, settings.AuthEmailOTP, settings.AuthSMSOTP, settings.AuthPasskey} {
		ok, err := user.MayUse(ctx, h.d.DB, u, a)
		if err != nil {
			return nil, err
		}
		allowed[a] = ok && slices.Contains(eff.Login.AllowedAuthenticators, a)
	}
	return func(a string) bool { return allowed[a] }, nil
}

// authenticatorsView is the page with the user's authenticators.
func (h *Handler) authenticatorsView(ctx context.Context, me signedIn) (view, *accountPage, error) {
	v, p := h.accountView(me, "authenticators", "Sign-in methods")
	a, err := h.d.Users.Authenticators(ctx, me.user.InstanceID, me.user.ID)
	if err != nil {
		return v, p, err
	}
	offer, err := h.offers(ctx, me.user)
	if err != nil {
		return v, p, err
	}
	page := &authenticatorsPage{Authenticators: a,
		OfferTOTP: offer(settings.AuthTOTP), OfferOTPEmail: offer(settings.AuthEmailOTP), OfferOTPSMS: offer(settings.AuthSMSOTP)}
	page.OfferRecoveryCodes = page.OfferTOTP || page.OfferOTPEmail || page.OfferOTPSMS || offer(settings.AuthPasskey)
	if offer(settings.AuthPasskey) {
		page.RegisterPasskey = h.passkeyRegistration()
	}
	if h.d.Passkeys != nil {
		list, err := h.d.Passkeys.List(ctx, me.user.Aggregate())
		if err != nil {
			return v, p, err
		}
		for _, c := range list {
			page.Passkeys = append(page.Passkeys, passkeyRow{ID: c.ID, Name: c.Name, CreatedAt: c.CreatedAt, LastUsedAt: c.LastUsedAt,
				Passwordless: c.Passwordless, Synced: c.BackupEligible})
		}
	}
	p.Auth = page
	return v, p, nil
}

// passkeyRegistration is the page of the login's passkey part that
// registers a passkey of the signed-in user, if it has one.
func (h *Handler) passkeyRegistration() string {
	var pages []string
	for pattern := range h.passkeyRoutes() {
		if p, ok := strings.CutPrefix(pattern, "GET "); ok && strings.HasPrefix(p, "/ui/account/") && !strings.Contains(p, "{") {
			pages = append(pages, strings.TrimSuffix(p, "{$}"))
		}
	}
	slices.Sort(pages)
	if len(pages) == 0 {
		return ""
	}
	return pages[0]
}

// renderAuthenticators shows the page, with a notice or error of v.
func (h *Handler) renderAuthenticators(w http.ResponseWriter, r *http.Request, me signedIn, status int, notice, errMsg string) {
	v, _, err := h.authenticatorsView(r.Context(), me)
	if err != nil {
		h.failed(w, r, "message", view{Title: "Your account"}, err, "Something went wrong. Please try again.")
		return
	}
	v.Notice, v.Error = notice, errMsg
	h.render(w, r, status, "account_authenticators", v)
}

var authenticatorNotices = map[string]string{
	"totp-added":          "Your authenticator app is set up.",
	"totp-removed":        "Your authenticator app is removed.",
	"recovery-removed":    "Your recovery codes are removed.",
	"codes-email-added":   "You can now sign in with codes sent by email.",
	"codes-email-removed": "Codes sent by email no longer sign you in.",
	"codes-phone-added":   "You can now sign in with codes sent by SMS.",
	"codes-phone-removed": "Codes sent by SMS no longer sign you in.",
	"passkey-added":       "The passkey is added.",
	"passkey-removed":     "The passkey is removed.",
}

func (h *Handler) authenticatorsPage(w http.ResponseWriter, r *http.Request) {
	me, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	h.renderAuthenticators(w, r, me, http.StatusOK, authenticatorNotices[r.URL.Query().Get("done")], "")
}

// changed answers a change: back to the page with its notice when it
// held, the page with an error otherwise.
func (h *Handler) changed(w http.ResponseWriter, r *http.Request, me signedIn, err error, done, refused string) {
	switch {
	case err == nil:
		http.Redirect(w, r, "/ui/account/authenticators?done="+done, http.StatusSeeOther)
	case failure.Is(err, failure.KindFailedPrecondition) || failure.Is(err, failure.KindAlreadyExists) ||
		failure.Is(err, failure.KindNotFound) || failure.Is(err, failure.KindInvalidArgument):
		h.renderAuthenticators(w, r, me, http.StatusConflict, "", refused)
	default:
		h.failed(w, r, "message", view{Title: "Your account"}, err, "Something went wrong. Please try again.")
	}
}

const backToAuthenticators = "/ui/account/authenticators"

// postAddTOTP starts a TOTP registration and shows its QR code.
func (h *Handler) postAddTOTP(w http.ResponseWriter, r *http.Request) {
	me, ok := h.sensitive(w, r, backToAuthenticators)
	if !ok {
		return
	}
	inst, _ := instance.FromContext(r.Context())
	issuer := inst.Name
	if issuer == "" {
		issuer = "Castellan"
	}
	reg, err := h.d.Users.AddTOTP(r.Context(), me.editor(), me.user.InstanceID, me.user.ID, issuer, h.d.Keys)
	if err != nil {
		h.changed(w, r, me, err, "", "An authenticator app cannot be added to your account.")
		return
	}
	v, p := h.accountView(me, "authenticators", "Add an authenticator app")
	p.TOTP = &totpSetup{QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(reg.QRCode)), Secret: reg.Secret}
	h.render(w, r, http.StatusOK, "account_totp", v)
}

// postVerifyTOTP activates the pending registration with its first code.
// A wrong code shows the form again: the registration stays pending.
func (h *Handler) postVerifyTOTP(w http.ResponseWriter, r *http.Request) {
	me, ok := h.sensitive(w, r, backToAuthenticators)
	if !ok {
		return
	}
	err := h.d.Users.VerifyTOTP(r.Context(), me.editor(), me.user.InstanceID, me.user.ID, r.PostFormValue("code"), h.d.Keys)
	if failure.Is(err, failure.KindInvalidArgument) {
		v, p := h.accountView(me, "authenticators", "Add an authenticator app")
		p.TOTP = &totpSetup{}
		v.Error = "The code is wrong."
		h.render(w, r, http.StatusBadRequest, "account_totp", v)
		return
	}
	if err == nil {
		h.notifyChange(r.Context(), me.user, nameTOTP, true)
	}
	h.changed(w, r, me, err, "totp-added", "Start again: no authenticator app is waiting for its code.")
}

func (h *Handler) postRemoveTOTP(w http.ResponseWriter, r *http.Request) {
	me, ok := h.sensitive(w, r, backToAuthenticators)
	if !ok {
		return
	}
	err := h.d.Users.RemoveTOTP(r.Context(), me.editor(), me.user.InstanceID, me.user.ID)
	if err == nil {
		h.notifyChange(r.Context(), me.user, nameTOTP, false)
	}
	h.changed(w, r, me, err, "totp-removed", "You have no authenticator app.")
}

// postRecoveryCodes makes a new set of recovery codes, replacing any
// before, and shows them this once.
func (h *Handler) postRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	me, ok := h.sensitive(w, r, backToAuthenticators)
	if !ok {
		return
	}
	codes, err := h.d.Users.GenerateRecoveryCodes(r.Context(), me.editor(), me.user.InstanceID, me.user.ID)
	if err != nil {
		h.changed(w, r, me, err, "", "Recovery codes cannot be added to your account.")
		return
	}
	h.notifyChange(r.Context(), me.user, nameRecoveryCodes, true)
	v, p := h.accountView(me, "authenticators", "Your recovery codes")
	p.RecoveryCodes = codes
	h.render(w, r, http.StatusOK, "account_recovery", v)
}

func (h *Handler) postRemoveRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	me, ok := h.sensitive(w, r, backToAuthenticators)
	if !ok {
		return
	}
	err := h.d.Users.RemoveRecoveryCodes(r.Context(), me.editor(), me.user.InstanceID, me.user.ID)
	if err == nil {
		h.notifyChange(r.Context(), me.user, nameRecoveryCodes, false)
	}
	h.changed(w, r, me, err, "recovery-removed", "You have no recovery codes.")
}

// postSignInCodes opts the user in to (action "add") or out of (action
// "remove") sign-in codes by email or SMS.
func (h *Handler) postSignInCodes(w http.ResponseWriter, r *http.Request) {
	channel, ok := contactChannel(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	me, ok := h.sensitive(w, r, backToAuthenticators)
	if !ok {
		return
	}
	name := nameOTPEmail
	verified := me.user.Email != "" && me.user.EmailVerified
	if channel == credential.ChannelPhone {
		name, verified = nameOTPSMS, me.user.Phone != "" && me.user.PhoneVerified
	}
	var err error
	switch r.PostFormValue("action") {
	case "add":
		if !verified {
			h.renderAuthenticators(w, r, me, http.StatusConflict, "", "Verify the address first, on the page Email and phone.")
			return
		}
		err = h.d.Users.AddSignInCodeFactor(r.Context(), me.editor(), me.user.InstanceID, me.user.ID, channel)
		if err == nil {
			h.notifyChange(r.Context(), me.user, name, true)
		}
		h.changed(w, r, me, err, "codes-"+channel+"-added", "Sign-in codes cannot be turned on for your account.")
	case "remove":
		err = h.d.Users.RemoveSignInCodeFactor(r.Context(), me.editor(), me.user.InstanceID, me.user.ID, channel)
		if err == nil {
			h.notifyChange(r.Context(), me.user, name, false)
		}
		h.changed(w, r, me, err, "codes-"+channel+"-removed", "Sign-in codes are not turned on.")
	default:
		h.renderAuthenticators(w, r, me, http.StatusBadRequest, "", "Something went wrong. Please try again.")
	}
}

// postRemovePasskey removes one of the user's passkeys.
func (h *Handler) postRemovePasskey(w http.ResponseWriter, r *http.Request) {
	me, ok := h.sensitive(w, r, backToAuthenticators)
	if !ok {
		return
	}
	id := r.PostFormValue("passkey")
	if h.d.Passkeys == nil || id == "" || len(id) > 1364 {
		h.renderAuthenticators(w, r, me, http.StatusBadRequest, "", "There is no such passkey.")
		return
	}
	list, err := h.d.Passkeys.List(r.Context(), me.user.Aggregate())
	if err != nil {
		h.failed(w, r, "message", view{Title: "Your account"}, err, "Something went wrong. Please try again.")
		return
	}
	i := slices.IndexFunc(list, func(c passkey.Credential) bool { return c.ID == id })
	if i < 0 {
		h.renderAuthenticators(w, r, me, http.StatusNotFound, "", "There is no such passkey.")
		return
	}
	err = h.d.Passkeys.Remove(r.Context(), me.editor(), me.user.Aggregate(), id)
	if err == nil {
		h.notifyPasskey(r.Context(), me.user, list[i].Name, false)
	}
	h.changed(w, r, me, err, "passkey-removed", "There is no such passkey.")
}

// notifyChange tells u, at its verified email address, that an
// authenticator was added or removed, in the words of the API's notice.
// It never fails the change: a failure is logged.
func (h *Handler) notifyChange(ctx context.Context, u user.User, authenticator mail.Authenticator, added bool) {
	kind := mail.AuthenticatorRemoved
	if added {
		kind = mail.AuthenticatorAdded
	}
	h.notice(ctx, u, mail.Message{Kind: kind, Data: mail.Data{LoginName: u.LoginName, Authenticator: authenticator}})
}

// notifyPasskey tells u that its passkey named name was added or removed.
func (h *Handler) notifyPasskey(ctx context.Context, u user.User, name string, added bool) {
	kind := mail.AuthenticatorRemoved
	if added {
		kind = mail.AuthenticatorAdded
	}
	h.notice(ctx, u, mail.Message{Kind: kind, Data: mail.Data{LoginName: u.LoginName, Authenticator: mail.Passkey, PasskeyName: name}})
}

// noticeTimeout bounds the notice a change sends.
const noticeTimeout = 10 * time.Second

// notice mails m to u, in its language, if it has a verified email
// address.
func (h *Handler) notice(ctx context.Context, u user.User, m mail.Message) {
	if h.d.Mail == nil || u.Email == "" || !u.EmailVerified {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), noticeTimeout)
	defer cancel()
	if err := h.d.Mail(ctx, mail.Recipient{InstanceID: u.InstanceID, UserID: u.ID, OrgID: u.OrgID, To: u.Email}, m); err != nil {
		h.d.Log.Warn("could not tell a user of a change to its authenticators", "instance", u.InstanceID, "user", u.ID, "err", err)
	}
}
