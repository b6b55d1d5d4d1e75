package app

import (
	"context"

	"github.com/castellan-iam/castellan/internal/report"
)

// Reports returns the reports' read model (package report).
func (a *App) Reports() *report.Report { return report.New(a.Store, a.Log) }

// KeepReports keeps the reports current, from their subscription of the
// event log, until ctx ends.
func (a *App) KeepReports(ctx context.Context) {
	a.Reports().Run(ctx, a.Config.Subscriptions.PollInterval)
}
