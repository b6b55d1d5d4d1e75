// Package reportapi serves castellan.report.v1.ReportService: the figures
// of package report — active users, sign-ins per application, new users,
// MFA adoption — of one organization or of the whole instance.
//
// report.read on an organization reads its figures; report.read on the
// instance reads every organization's and the instance's totals. A caller
// without it on the organization it names gets the same permission error
// whether the organization exists or not. Days are UTC days written
// YYYY-MM-DD, both ends included, at most report.MaxDays apart; without
// them a query covers the 30 days ending today.
package reportapi
