package sessionapi

// HasPasswordCheck is hasPasswordCheck, for the fuzz test.
var HasPasswordCheck = hasPasswordCheck
