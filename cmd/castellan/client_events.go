package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"

	eventv1 "github.com/castellan-iam/castellan/gen/castellan/event/v1"
)

const eventsUsage = `Usage: castellan events COMMAND [flags]

  export [--org ID] [--type T]… [--after POSITION]   (events as JSON Lines on standard output)

"castellan events COMMAND --help" describes a command.
` + apiCallsHelp

func eventsCommand(ctx context.Context, args []string, s streams) error {
	return s.group("events", eventsUsage, args, func(name string, rest []string) error {
		if name != "export" {
			return errUnknownCommand
		}
		return exportEvents(ctx, rest, s)
	})
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return fmt.Sprint(*l) }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// exportEvents writes the audit trail as JSON Lines — one event per line,
// in commit order, as ListEvents returns them — with its progress on
// standard error. Interrupted, it says the position to resume --after.
func exportEvents(ctx context.Context, args []string, s streams) error {
	cmd := s.command("events export", "", "Writes the instance's (or one organization's) events as JSON Lines on standard output, in commit order, "+
		"page by page; progress and the position to resume from go to standard error. Needs event.read.")
	org := cmd.fs.String("org", "", "only the events of what organization `ID` owns")
	after := cmd.fs.String("after", "", "start after `POSITION` (from an earlier export's last line or its resume hint)")
	var types listFlag
	cmd.fs.Var(&types, "type", "only events of `TYPE` (repeatable)")
	if _, err := cmd.parse(args, 0, 0); err != nil {
		return err
	}
	api, err := cmd.client()
	if err != nil {
		return err
	}
	out := bufio.NewWriterSize(s.stdout, 1<<16)
	defer out.Flush()
	marshal := protojson.MarshalOptions{}
	pos, n, start, last := *after, 0, time.Now(), time.Now()
	for {
		resp, err := api.Events.ListEvents(ctx, connect.NewRequest(&eventv1.ListEventsRequest{OrganizationId: *org, EventTypes: types, After: pos, Limit: 1000}))
		if err != nil {
			out.Flush()
			if pos != "" {
				fmt.Fprintf(s.stderr, "exported %d events; resume with --after %s\n", n, pos)
			}
			return err
		}
		for _, e := range resp.Msg.GetEvents() {
			b, err := marshal.Marshal(e)
			if err != nil {
				return err
			}
			var compact json.RawMessage = b // protojson may add spaces; one line per event
			if b, err = json.Marshal(compact); err != nil {
				return err
			}
			out.Write(b)
			out.WriteByte('\n')
			pos = e.GetPosition()
			n++
		}
		if time.Since(last) > time.Second {
			fmt.Fprintf(s.stderr, "\r%d events, at %s", n, pos)
			last = time.Now()
		}
		if resp.Msg.GetNext() == "" {
			break
		}
		pos = resp.Msg.GetNext()
	}
	if err := out.Flush(); err != nil {
		return err
	}
	rate := float64(n) / max(time.Since(start).Seconds(), 1e-3)
	fmt.Fprintf(s.stderr, "\rexported %d events (%.0f/s); the last position is %s\n", n, rate, pos)
	return nil
}
