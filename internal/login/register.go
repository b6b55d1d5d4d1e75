package login

import "net/http"

// registerRoutes lists the routes of this part of the login.
func (h *Handler) registerRoutes() map[string]http.Handler { return nil }
