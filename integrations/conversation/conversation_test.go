package conversation

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/activity"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// merge interleaves by time, a message first at the same instant; a list
// cut short hides the other's entries from before its first one.
func TestMerge(t *testing.T) {
	t.Parallel()
	at := func(s int) time.Time { return time.Date(2026, 12, 1, 18, 0, s, 0, time.UTC) }
	msg := func(seq int64, s int) launch.Message { return launch.Message{Seq: seq, Body: "m", CreatedAt: at(s)} }
	act := func(seq int64, s int) activity.Activity {
		return activity.Activity{Seq: seq, Body: "a", CreatedAt: at(s)}
	}
	cases := []struct {
		name          string
		msgs          []launch.Message
		acts          []activity.Activity
		want          string
		earlierM, eaA int64
	}{
		{"nothing", nil, nil, "", 0, 0},
		{"task only", []launch.Message{msg(1, 0)}, nil, "m1", 0, 0},
		{"interleaved", []launch.Message{msg(1, 0), msg(2, 5)}, []activity.Activity{act(1, 1), act(2, 5), act(3, 9)}, "m1 a1 m2 a2 a3", 0, 0},
		{"activities cut short", []launch.Message{msg(1, 0), msg(2, 5), msg(3, 8)}, []activity.Activity{act(7, 6), act(8, 9)}, "a7 m3 a8", 2, 6},
		{"messages cut short", []launch.Message{msg(4, 5), msg(5, 8)}, []activity.Activity{act(1, 1), act(2, 6)}, "m4 a2 m5", 3, 1},
		{"all activities older than the shown messages", []launch.Message{msg(4, 5)}, []activity.Activity{act(1, 1)}, "m4", 3, 1},
	}
	for _, tc := range cases {
		entries, em, ea := merge(tc.msgs, tc.acts)
		var got []string
		for _, e := range entries {
			switch {
			case e.Message != nil:
				got = append(got, "m"+strconv.FormatInt(e.Message.Seq, 10))
			case e.Activity != nil:
				got = append(got, "a"+strconv.FormatInt(e.Activity.Seq, 10))
			}
		}
		if g := strings.Join(got, " "); g != tc.want || em != tc.earlierM || ea != tc.eaA {
			t.Errorf("%s: %q, earlier %d messages %d activities; want %q, %d, %d", tc.name, g, em, ea, tc.want, tc.earlierM, tc.eaA)
		}
	}
}

// fakeWorkspaces holds workspaces by id and answers as launch.Service does:
// ErrNotFound for an actor who does not see one.
type fakeWorkspaces struct {
	ws   map[string]launch.Workspace
	sent []launch.Actor
}

func (f *fakeWorkspaces) Workspace(_ context.Context, id string, by launch.Actor) (launch.Workspace, error) {
	w, ok := f.ws[id]
	if !ok || !by.Sees(w) {
		return launch.Workspace{}, launch.ErrNotFound
	}
	return w, nil
}

func (f *fakeWorkspaces) LatestMessages(context.Context, string, int) ([]launch.Message, error) {
	return []launch.Message{{Seq: 1, Body: "task"}}, nil
}

func (f *fakeWorkspaces) Send(_ context.Context, id string, by launch.Actor, _ string) (launch.Message, error) {
	f.sent = append(f.sent, by)
	if w := f.ws[id]; w.UserID != by.UserID || w.OrgID != by.OrgID {
		return launch.Message{}, launch.ErrNotFound
	}
	return launch.Message{Seq: 2}, nil
}

func (f *fakeWorkspaces) Cancel(_ context.Context, id string, by launch.Actor) (launch.Workspace, error) {
	return f.Workspace(context.Background(), id, by)
}

type noActivities struct{}

func (noActivities) List(context.Context, string, int) ([]activity.Activity, error) { return nil, nil }

type orgsOf map[string][]identity.OrgRole

func (o orgsOf) OrgsOf(_ context.Context, userID string) ([]identity.OrgRole, error) {
	return o[userID], nil
}

// A workspace is seen, and acted on, in its own org, whichever org the
// viewer is looking at: by its owner and that org's admins only.
func TestViewInTheWorkspacesOrg(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ws := &fakeWorkspaces{ws: map[string]launch.Workspace{
		"ws_a":    {ID: "ws_a", OrgID: "org_a", UserID: "usr_owner", Status: launch.StatusRunning},
		"ws_done": {ID: "ws_done", OrgID: "org_a", UserID: "usr_owner", Status: launch.StatusFinished},
	}}
	member := func(org string, role identity.Role) identity.OrgRole {
		return identity.OrgRole{Org: identity.Org{ID: org}, Role: role}
	}
	s := New(ws, noActivities{}, orgsOf{
		"usr_owner":  {member("org_b", identity.RoleAdmin), member("org_a", identity.RoleMember)},
		"usr_admin":  {member("org_b", identity.RoleMember), member("org_a", identity.RoleAdmin)},
		"usr_member": {member("org_a", identity.RoleMember)},
		"usr_other":  {member("org_b", identity.RoleAdmin)},
	})
	cases := []struct {
		name              string
		by                launch.Actor
		id                string
		found             bool
		owner, send, stop bool
	}{
		{"owner looking at org b", launch.Actor{OrgID: "org_b", UserID: "usr_owner", Admin: true}, "ws_a", true, true, true, true},
		{"owner in org a", launch.Actor{OrgID: "org_a", UserID: "usr_owner"}, "ws_a", true, true, true, true},
		{"org a's admin looking at org b", launch.Actor{OrgID: "org_b", UserID: "usr_admin"}, "ws_a", true, false, false, true},
		{"a member of org a", launch.Actor{OrgID: "org_a", UserID: "usr_member"}, "ws_a", false, false, false, false},
		{"an admin of org b only", launch.Actor{OrgID: "org_b", UserID: "usr_other", Admin: true}, "ws_a", false, false, false, false},
		{"signed in without an org", launch.Actor{UserID: "usr_other"}, "ws_a", false, false, false, false},
		{"no such workspace", launch.Actor{OrgID: "org_a", UserID: "usr_owner"}, "ws_none", false, false, false, false},
		{"an ended workspace", launch.Actor{OrgID: "org_a", UserID: "usr_owner"}, "ws_done", true, true, false, false},
	}
	for _, tc := range cases {
		v, err := s.View(ctx, tc.id, tc.by)
		if tc.found != (err == nil) || (err != nil && !errors.Is(err, errs.ErrNotFound)) {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if err == nil && (v.Owner != tc.owner || v.CanSend != tc.send || v.CanStop != tc.stop || v.Viewer.OrgID != "org_a" || len(v.Entries) != 1) {
			t.Errorf("%s: owner %v send %v stop %v as %+v", tc.name, v.Owner, v.CanSend, v.CanStop, v.Viewer)
		}
	}
	// The owner's follow-up from another org acts in the workspace's org;
	// an admin's is refused by launch as anyone's but the owner's.
	if m, err := s.Send(ctx, "ws_a", launch.Actor{OrgID: "org_b", UserID: "usr_owner", Admin: true}, "more"); err != nil || m.Seq != 2 {
		t.Fatalf("owner's follow-up: %+v, %v", m, err)
	}
	if last := ws.sent[len(ws.sent)-1]; last.OrgID != "org_a" || last.Admin {
		t.Fatalf("sent as %+v", last)
	}
	if _, err := s.Send(ctx, "ws_a", launch.Actor{OrgID: "org_b", UserID: "usr_admin"}, "more"); !errors.Is(err, errs.ErrNotFound) {
		t.Fatalf("admin's follow-up: %v", err)
	}
	if _, err := s.Stop(ctx, "ws_a", launch.Actor{OrgID: "org_a", UserID: "usr_member"}); !errors.Is(err, errs.ErrNotFound) {
		t.Fatalf("a member's stop: %v", err)
	}
	if w, err := s.Stop(ctx, "ws_a", launch.Actor{OrgID: "org_b", UserID: "usr_admin"}); err != nil || w.ID != "ws_a" {
		t.Fatalf("org a's admin's stop: %+v, %v", w, err)
	}
}
