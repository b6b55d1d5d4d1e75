package authn

// AfterLoad makes a's cache run f between loading a caller and storing it,
// once.
func AfterLoad(a *Authenticator, f func()) {
	a.cache.afterLoad = func() {
		a.cache.afterLoad = nil
		f()
	}
}
