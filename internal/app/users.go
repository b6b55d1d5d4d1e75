package app

import "github.com/castellan-iam/castellan/internal/user"

// UserCommands returns the user commands under this server's settings.
func (a *App) UserCommands() *user.Commands {
	return user.NewCommands(a.Store, a.Hasher).WithLoginNameRules(user.LoginNameRules{AllowMixedScripts: a.Config.Users.AllowMixedScriptLoginNames})
}
