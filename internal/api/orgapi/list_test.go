package orgapi_test

import (
	"fmt"
	"testing"

	orgv1 "github.com/castellan-iam/castellan/gen/castellan/org/v1"
)

func TestListOrganizationsPagesByName(t *testing.T) {
	f := start(t)
	tok := f.AdminToken
	var want []string
	// Created out of order; listed by name.
	for _, i := range []int{4, 1, 6, 3, 0, 5, 2} {
		f.create(t, fmt.Sprintf("Team %02d", i))
	}
	for i := range 7 {
		want = append(want, fmt.Sprintf("Team %02d", i))
	}
	f.create(t, "Zeta") // outside the prefix

	var got []string
	req := &orgv1.ListOrganizationsRequest{NamePrefix: "Team ", PageSize: 3}
	for pages := 1; ; pages++ {
		resp, err := f.c.ListOrganizations(ctx, as(tok, req))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Msg.GetTotalSize() != 7 {
			t.Fatalf("page %d: total size %d, want 7", pages, resp.Msg.GetTotalSize())
		}
		for _, o := range resp.Msg.GetOrganizations() {
			got = append(got, o.GetName())
		}
		if resp.Msg.GetNextPageToken() == "" {
			if pages != 3 || len(resp.Msg.GetOrganizations()) != 1 {
				t.Fatalf("last page %d holds %d organizations, want page 3 with 1", pages, len(resp.Msg.GetOrganizations()))
			}
			break
		}
		req.PageToken = resp.Msg.GetNextPageToken()
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("listed %v, want %v", got, want)
	}

	// All organizations, default page size: First, Team 00..06, Zeta.
	all, err := f.c.ListOrganizations(ctx, as(tok, &orgv1.ListOrganizationsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(all.Msg.GetOrganizations()); n != 9 || all.Msg.GetTotalSize() != 9 || all.Msg.GetNextPageToken() != "" ||
		all.Msg.GetOrganizations()[0].GetName() != "First" || all.Msg.GetOrganizations()[8].GetName() != "Zeta" {
		t.Fatalf("all: %v", all.Msg)
	}

	// The state filter.
	team3 := all.Msg.GetOrganizations()[4]
	if _, err := f.c.DeactivateOrganization(ctx, as(tok, &orgv1.DeactivateOrganizationRequest{OrganizationId: team3.GetId()})); err != nil {
		t.Fatal(err)
	}
	for state, want := range map[orgv1.OrganizationState]int32{
		orgv1.OrganizationState_ORGANIZATION_STATE_INACTIVE: 1,
		orgv1.OrganizationState_ORGANIZATION_STATE_ACTIVE:   8,
	} {
		resp, err := f.c.ListOrganizations(ctx, as(tok, &orgv1.ListOrganizationsRequest{State: state}))
		if err != nil || resp.Msg.GetTotalSize() != want {
			t.Fatalf("%v: %v %v, want %d", state, resp, err, want)
		}
	}

	// Deleted organizations are gone from the list.
	if _, err := f.c.DeleteOrganization(ctx, as(tok, &orgv1.DeleteOrganizationRequest{OrganizationId: team3.GetId()})); err != nil {
		t.Fatal(err)
	}
	resp, err := f.c.ListOrganizations(ctx, as(tok, &orgv1.ListOrganizationsRequest{NamePrefix: "Team "}))
	if err != nil || resp.Msg.GetTotalSize() != 6 {
		t.Fatalf("after delete: %v %v", resp, err)
	}
}
