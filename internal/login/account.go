package login

import "net/http"

// accountRoutes lists the routes of this part of the login.
func (h *Handler) accountRoutes() map[string]http.Handler { return nil }
