package login

import (
	"context"
	"net/http"

	"github.com/castellan-iam/castellan/internal/failure"
	oauthclient "github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/oauth/device"
)

// The user-code screen of the device authorization grant (RFC 8628): the
// user enters the code its device shows (or follows the link with it),
// signs in if not yet, and allows or denies the application. The
// request's id is kept in a cookie while the user signs in; the sign-in's
// end (the done page) comes back here.

// Devices are the device authorization requests (device.Requests).
type Devices interface {
	ByUserCode(ctx context.Context, instanceID, userCode string) (device.Request, error)
	Get(ctx context.Context, instanceID, id string) (device.Request, error)
	Approve(ctx context.Context, instanceID, id string, g device.Grant) error
	Deny(ctx context.Context, instanceID, id string) error
}

const deviceCookie = "devicereq"

// devicePath is the user-code screen; the provider's verification_uri.
const devicePath = "/ui/login/device"

// deviceView is the data of the device pages.
type deviceView struct {
	UserCode, Application string
}

func (h *Handler) deviceRoutes() map[string]http.Handler {
	if h.d.Devices == nil {
		return nil
	}
	return map[string]http.Handler{
		"GET " + devicePath:               http.HandlerFunc(h.devicePage),
		"POST " + devicePath:              http.HandlerFunc(h.postDevice),
		"GET " + devicePath + "/confirm":  http.HandlerFunc(h.deviceConfirmPage),
		"POST " + devicePath + "/confirm": http.HandlerFunc(h.postDeviceConfirm),
	}
}

func (h *Handler) devicePage(w http.ResponseWriter, r *http.Request) {
	code := r.URL.Query().Get("user_code")
	if len(code) > 32 {
		code = ""
	}
	h.render(w, r, http.StatusOK, "device", view{Title: "Connect a device", Page: deviceView{UserCode: code}})
}

func (h *Handler) postDevice(w http.ResponseWriter, r *http.Request) {
	v := view{Title: "Connect a device", Page: deviceView{}}
	if !h.form(w, r, "device", v) {
		return
	}
	code := r.PostFormValue("user_code")
	req, err := h.d.Devices.ByUserCode(r.Context(), instanceID(r), code)
	if failure.Is(err, failure.KindNotFound) {
		v.Error = "The code is wrong or has expired. Check it on your device."
		h.render(w, r, http.StatusBadRequest, "device", v)
		return
	}
	if err != nil {
		h.failed(w, r, "device", v, err, "")
		return
	}
	setCookie(w, r, deviceCookie, req.ID, int(device.Lifetime.Seconds()), http.SameSiteLaxMode)
	if _, s, err := h.current(r); err == nil && s.Status.Authenticated {
		http.Redirect(w, r, devicePath+"/confirm", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/ui/login/?prompt=login", http.StatusSeeOther)
}

// pendingDevice is the id of the browser's device request in progress.
func pendingDevice(r *http.Request) string {
	c, err := r.Cookie(cookieName(r, deviceCookie))
	if err != nil || len(c.Value) > 64 {
		return ""
	}
	return c.Value
}

// continueDevice sends a browser that signed in for a device request to
// its confirmation; it reports whether it did.
func (h *Handler) continueDevice(w http.ResponseWriter, r *http.Request) bool {
	if h.d.Devices == nil || pendingDevice(r) == "" {
		return false
	}
	http.Redirect(w, r, devicePath+"/confirm", http.StatusSeeOther)
	return true
}

func (h *Handler) deviceConfirmPage(w http.ResponseWriter, r *http.Request) {
	_, s, err := h.current(r)
	if err != nil || !s.Status.Authenticated {
		http.Redirect(w, r, "/ui/login/", http.StatusSeeOther)
		return
	}
	req, err := h.d.Devices.Get(r.Context(), instanceID(r), pendingDevice(r))
	if err != nil {
		h.deviceGone(w, r, err)
		return
	}
	name := req.ClientID
	if app, err := oauthclient.ApplicationByClientID(r.Context(), h.d.DB, instanceID(r), req.ClientID); err == nil {
		name = app.Name
	}
	h.render(w, r, http.StatusOK, "device_confirm", view{Title: "Connect a device", LoginName: h.nameOf(r.Context(), s),
		Page: deviceView{UserCode: device.FormatUserCode(req.UserCode), Application: name}})
}

func (h *Handler) postDeviceConfirm(w http.ResponseWriter, r *http.Request) {
	if !h.form(w, r, "message", view{Title: "Connect a device"}) {
		return
	}
	_, s, err := h.current(r)
	if err != nil || !s.Status.Authenticated {
		h.ended(w, r)
		return
	}
	id := pendingDevice(r)
	setCookie(w, r, deviceCookie, "", -1, http.SameSiteLaxMode)
	if r.PostFormValue("decision") == "allow" {
		err = h.d.Devices.Approve(r.Context(), instanceID(r), id, device.Grant{SessionID: s.ID, UserID: s.UserID, OrgID: s.OrgID,
			AuthTime: s.AuthTime(), AMR: s.Status.AMR})
	} else {
		err = h.d.Devices.Deny(r.Context(), instanceID(r), id)
	}
	if err != nil {
		h.deviceGone(w, r, err)
		return
	}
	notice := "The device is connected. You can return to it."
	if r.PostFormValue("decision") != "allow" {
		notice = "The device was not connected."
	}
	h.render(w, r, http.StatusOK, "message", view{Title: "Connect a device", Notice: notice})
}

func (h *Handler) deviceGone(w http.ResponseWriter, r *http.Request, err error) {
	if !failure.Is(err, failure.KindNotFound) {
		h.d.Log.Error("device request", "err", err)
		h.render(w, r, http.StatusInternalServerError, "message", view{Title: "Connect a device", Error: "Something went wrong. Please try again."})
		return
	}
	h.render(w, r, http.StatusBadRequest, "message", view{Title: "Connect a device",
		Notice: "The code is wrong or has expired. Check it on your device."})
}
