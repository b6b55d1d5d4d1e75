package sessionapi

// HasPasswordCheck is the check of the Admission's handler of route, for
// the fuzz test.
func HasPasswordCheck(route, contentType string, body []byte) bool {
	return (&Admission{}).Routes()[route].(*gate).hasPasswordCheck(contentType, body)
}
