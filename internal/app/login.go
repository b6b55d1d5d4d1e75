package app

import (
	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/login"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/server"
)

// mountLogin serves the hosted login on srv, in the pages route group.
func (a *App) mountLogin(srv *server.Server) error {
	h, err := login.New(login.Deps{DB: a.DB, Sessions: a.Sessions(), Users: a.UserCommands(), Keys: a.Keys, Log: a.Log,
		SendCode: a.SendCode, Passkeys: a.Passkeys(), Mail: a.SendMail, Assets: a.Assets(),
		Orgs: org.NewCommands(a.Store, a.domainVerifier()), Members: member.NewCommands(a.Store), AuthRequests: a.loginAuthRequests(), Devices: a.Devices(), Consents: a.Consents(),
		PostsPerClient: a.Config.Server.LoginPostsPerClient, ExternalURL: a.Config.ExternalURL})
	if err != nil {
		return err
	}
	for pattern, handler := range h.Routes() {
		srv.Handle(pattern, handler)
	}
	return nil
}
