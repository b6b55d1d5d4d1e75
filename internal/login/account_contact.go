package login

import (
	"errors"
	"net/http"

	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/failure"
)

// The contact page verifies the user's email address and phone number
// with a code sent to them. Changing them is an administrator's (the
// self-service API changes neither), so the page says whom to ask.

func contactChannel(r *http.Request) (string, bool) {
	c := r.PathValue("channel")
	return c, c == credential.ChannelEmail || c == credential.ChannelPhone
}

func (h *Handler) contactPage(w http.ResponseWriter, r *http.Request) {
	me, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	v, _ := h.accountView(me, "contact", "Email and phone")
	h.render(w, r, http.StatusOK, "account_contact", v)
}

// postSendContactCode sends a code to the user's unverified address of a
// channel.
func (h *Handler) postSendContactCode(w http.ResponseWriter, r *http.Request) {
	me, ok := h.accountPost(w, r)
	if !ok {
		return
	}
	channel, ok := contactChannel(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	v, p := h.accountView(me, "contact", "Email and phone")
	if h.d.SendCode == nil {
		v.Error = "Codes cannot be sent at the moment."
		h.render(w, r, http.StatusServiceUnavailable, "account_contact", v)
		return
	}
	err := h.d.Users.SendContactCode(r.Context(), me.editor(), me.user.InstanceID, me.user.ID, channel, h.d.Keys, h.d.SendCode)
	switch {
	case err == nil:
		p.Channel = channel
		v.Notice = "We sent a code. Enter it below."
		h.render(w, r, http.StatusOK, "account_contact", v)
	case failure.Is(err, failure.KindUnavailable):
		h.d.Log.Warn("account: verification code", "err", err)
		v.Error = "Codes cannot be sent at the moment."
		h.render(w, r, http.StatusServiceUnavailable, "account_contact", v)
	case failure.Is(err, failure.KindFailedPrecondition) || failure.Is(err, failure.KindInvalidArgument):
		// Nothing to verify: no address, or one already verified.
		v.Error = "There is nothing to verify."
		h.render(w, r, http.StatusBadRequest, "account_contact", v)
	default:
		h.failed(w, r, "account_contact", v, err, "Something went wrong. Please try again.")
	}
}

func (h *Handler) postVerifyContact(w http.ResponseWriter, r *http.Request) {
	me, ok := h.accountPost(w, r)
	if !ok {
		return
	}
	channel, ok := contactChannel(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	v, p := h.accountView(me, "contact", "Email and phone")
	p.Channel = channel
	code := r.PostFormValue("code")
	if code == "" {
		v.Error = "Enter the code."
		h.render(w, r, http.StatusBadRequest, "account_contact", v)
		return
	}
	err := h.d.Users.VerifyContact(r.Context(), me.editor(), me.user.InstanceID, me.user.ID, channel, code, h.d.Keys)
	var fe *failure.Error
	if errors.As(err, &fe) && (fe.Kind == failure.KindInvalidArgument || fe.Kind == failure.KindFailedPrecondition || fe.Kind == failure.KindNotFound) {
		// A wrong, expired or used-up code: the one answer of a wrong code.
		err = failure.Unauthenticated("the code is wrong")
	}
	if err != nil {
		h.failed(w, r, "account_contact", v, err, "The code is wrong.")
		return
	}
	http.Redirect(w, r, "/ui/account/contact?verified="+channel, http.StatusSeeOther)
}

// accountPasswordPage changes the password with the current one.
func (h *Handler) accountPasswordPage(w http.ResponseWriter, r *http.Request) {
	me, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	v, _ := h.accountView(me, "password", "Change your password")
	if r.URL.Query().Get("changed") == "1" {
		v.Notice = "Your password is changed."
	}
	h.render(w, r, http.StatusOK, "account_password", v)
}

func (h *Handler) postAccountPassword(w http.ResponseWriter, r *http.Request) {
	me, ok := h.accountPost(w, r)
	if !ok {
		return
	}
	v, _ := h.accountView(me, "password", "Change your password")
	current, next := r.PostFormValue("currentPassword"), r.PostFormValue("newPassword")
	switch {
	case current == "":
		v.Error = "Enter the current password."
	case next == "":
		v.Error = "Enter a new password."
	case next != r.PostFormValue("repeat"):
		v.Error = "The passwords differ."
	}
	if v.Error != "" {
		h.render(w, r, http.StatusBadRequest, "account_password", v)
		return
	}
	err := h.d.Users.ChangePassword(r.Context(), me.user.InstanceID, me.user.ID, current, next)
	var fe *failure.Error
	if errors.As(err, &fe) && fe.Kind == failure.KindInvalidArgument && fe.Field != "currentPassword" {
		// The policy's own words: what the new password lacks.
		v.Error = fe.Message
		h.render(w, r, http.StatusBadRequest, "account_password", v)
		return
	}
	if err != nil {
		h.failed(w, r, "account_password", v, err, "The current password is wrong.")
		return
	}
	http.Redirect(w, r, "/ui/account/password?changed=1", http.StatusSeeOther)
}
