package userapi_test

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	eventv1 "github.com/castellan-iam/castellan/gen/castellan/event/v1"
	"github.com/castellan-iam/castellan/gen/castellan/event/v1/eventv1connect"
	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	"github.com/castellan-iam/castellan/gen/castellan/user/v1/userv1connect"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/pairbench"
	"github.com/castellan-iam/castellan/internal/user"
)

// BenchmarkExport1000Events: the export of a user with 1,000 events
// (user.added, then metadata changes) against ListEvents of the same
// user's events (one page of 1,000), alternately in one loop, as an
// organization owner over Connect on loopback (docs/benchmarks.md). Each
// export appends its own event, so the last export of a run holds 1,000
// plus the run's earlier exports; run it with -benchtime=40x.
func BenchmarkExport1000Events(b *testing.B) {
	for _, backend := range dbtest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			env := startExport(b, backend.New(b))
			ctx := context.Background()
			alice := createUser(b, env, env.OrgID, "human", "alice")
			agg := eventstore.Aggregate{InstanceID: env.InstanceID, Type: user.AggregateType, ID: alice, Owner: env.OrgID}
			for i := 0; i < 999; i += 100 {
				var events []eventstore.Payload
				for j := i; j < min(i+100, 999); j++ {
					events = append(events, &user.MetadataSet{Key: fmt.Sprintf("key-%d", j%20), Value: []byte(fmt.Sprintf("value %d", j))})
				}
				if _, err := env.App.Store.Push(ctx, eventstore.SystemEditor, eventstore.Append{Aggregate: agg, ExpectedSequence: eventstore.AnySequence, Events: events}); err != nil {
					b.Fatal(err)
				}
			}
			env.WaitSettled(b)
			exports := userv1connect.NewDataExportServiceClient(env.Client, env.URL)
			events := eventv1connect.NewEventServiceClient(env.Client, env.URL)
			first, err := events.ListEvents(ctx, as(env.AdminToken, &eventv1.ListEventsRequest{AggregateType: "user", AggregateId: alice, Limit: 1000}))
			if err != nil || len(first.Msg.GetEvents()) != 1000 {
				b.Fatalf("%d events: %v", len(first.Msg.GetEvents()), err)
			}
			var size, held int
			pairbench.Alternate(b, "export", func(int) error {
				r, err := exports.ExportUserData(ctx, as(env.AdminToken, &userv1.ExportUserDataRequest{UserId: alice}))
				if err == nil && len(r.Msg.GetExport().GetEvents()) < 1000 {
					err = fmt.Errorf("the export held %d events", len(r.Msg.GetExport().GetEvents()))
				}
				if err == nil {
					size, held = proto.Size(r.Msg), len(r.Msg.GetExport().GetEvents())
				}
				return err
			}, "list", func(int) error {
				_, err := events.ListEvents(ctx, as(env.AdminToken, &eventv1.ListEventsRequest{AggregateType: "user", AggregateId: alice, Limit: 1000}))
				return err
			})
			// The size of an export in binary protobuf, per event it held.
			b.ReportMetric(float64(size)/float64(held), "export-bytes/event")
		})
	}
}
