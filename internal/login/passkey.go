package login

import "net/http"

// passkeyRoutes lists the routes of this part of the login.
func (h *Handler) passkeyRoutes() map[string]http.Handler { return nil }
