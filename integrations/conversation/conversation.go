// The page view of a workspace and the two things its page does.

package conversation

import (
	"context"
	"errors"
	"time"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/activity"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// Workspaces is what a conversation needs of launch.Service.
type Workspaces interface {
	Workspace(ctx context.Context, id string, by launch.Actor) (launch.Workspace, error)
	LatestMessages(ctx context.Context, workspaceID string, limit int) ([]launch.Message, error)
	Send(ctx context.Context, id string, by launch.Actor, body string) (launch.Message, error)
	Cancel(ctx context.Context, id string, by launch.Actor) (launch.Workspace, error)
}

// Activities reads what workspaces reported (activity.Service).
type Activities interface {
	List(ctx context.Context, workspaceID string, limit int) ([]activity.Activity, error)
}

// Orgs are a user's memberships (identity.Service).
type Orgs interface {
	OrgsOf(ctx context.Context, userID string) ([]identity.OrgRole, error)
}

// Limits of one view: the newest messages and activities.
const (
	MaxMessages   = 100
	MaxActivities = 200
)

// Service builds views and acts for the page.
type Service struct {
	workspaces Workspaces
	activities Activities
	orgs       Orgs
}

// New returns the service.
func New(w Workspaces, a Activities, o Orgs) *Service {
	return &Service{workspaces: w, activities: a, orgs: o}
}

// Entry is one step of a conversation: a message or an activity.
type Entry struct {
	At       time.Time
	Message  *launch.Message
	Activity *activity.Activity
}

// View is a workspace as its page shows it to one viewer.
type View struct {
	Workspace launch.Workspace
	// Viewer is the caller in the workspace's org.
	Viewer launch.Actor
	// Owner: the viewer owns the workspace.
	Owner bool
	// CanSend: the owner, while the workspace is active.
	CanSend bool
	// CanStop: the owner or an admin, while the workspace is active.
	CanStop bool
	// Entries are the messages and activities, oldest first; a message
	// comes before an activity of the same instant.
	Entries []Entry
	// EarlierMessages and EarlierActivities were left out (only the newest
	// are shown).
	EarlierMessages, EarlierActivities int64
}

// ErrNotFound: no such workspace, or not the viewer's to see.
var ErrNotFound = launch.ErrNotFound

// View is workspace id for by (the caller in the org they are looking at):
// the owner and the admins of its org see it, in whichever of their orgs it
// is; anyone else gets ErrNotFound.
func (s *Service) View(ctx context.Context, id string, by launch.Actor) (View, error) {
	w, actor, err := s.find(ctx, id, by)
	if err != nil {
		return View{}, err
	}
	msgs, err := s.workspaces.LatestMessages(ctx, w.ID, MaxMessages)
	if err != nil {
		return View{}, err
	}
	acts, err := s.activities.List(ctx, w.ID, MaxActivities)
	if err != nil {
		return View{}, err
	}
	v := View{Workspace: w, Viewer: actor, Owner: w.UserID == actor.UserID}
	v.CanSend = v.Owner && w.Status.Active()
	v.CanStop = w.Status.Active()
	v.Entries, v.EarlierMessages, v.EarlierActivities = merge(msgs, acts)
	return v, nil
}

// merge interleaves messages and activities by time. When one list was cut
// short (its first entry is not number 1), the other's entries from before
// its first entry are left out too, so no stretch of time is shown half.
func merge(msgs []launch.Message, acts []activity.Activity) (entries []Entry, earlierMsgs, earlierActs int64) {
	var from time.Time
	if len(msgs) > 0 && msgs[0].Seq > 1 {
		from = msgs[0].CreatedAt
	}
	if len(acts) > 0 && acts[0].Seq > 1 && acts[0].CreatedAt.After(from) {
		from = acts[0].CreatedAt
	}
	i, j := 0, 0
	for i < len(msgs) && msgs[i].CreatedAt.Before(from) {
		i++
	}
	for j < len(acts) && acts[j].CreatedAt.Before(from) {
		j++
	}
	if i < len(msgs) {
		earlierMsgs = msgs[i].Seq - 1
	} else if len(msgs) > 0 {
		earlierMsgs = msgs[len(msgs)-1].Seq
	}
	if j < len(acts) {
		earlierActs = acts[j].Seq - 1
	} else if len(acts) > 0 {
		earlierActs = acts[len(acts)-1].Seq
	}
	for i < len(msgs) || j < len(acts) {
		if j == len(acts) || (i < len(msgs) && !acts[j].CreatedAt.Before(msgs[i].CreatedAt)) {
			entries = append(entries, Entry{At: msgs[i].CreatedAt, Message: &msgs[i]})
			i++
			continue
		}
		entries = append(entries, Entry{At: acts[j].CreatedAt, Activity: &acts[j]})
		j++
	}
	return entries, earlierMsgs, earlierActs
}

// Send is a follow-up from the workspace's owner (launch.Service.Send, in
// the workspace's org); an admin who is not the owner gets ErrNotFound.
func (s *Service) Send(ctx context.Context, id string, by launch.Actor, body string) (launch.Message, error) {
	_, actor, err := s.find(ctx, id, by)
	if err != nil {
		return launch.Message{}, err
	}
	return s.workspaces.Send(ctx, id, actor, body)
}

// Stop cancels the workspace for its owner or an admin of its org
// (launch.Service.Cancel); one that already ended is a conflict.
func (s *Service) Stop(ctx context.Context, id string, by launch.Actor) (launch.Workspace, error) {
	_, actor, err := s.find(ctx, id, by)
	if err != nil {
		return launch.Workspace{}, err
	}
	return s.workspaces.Cancel(ctx, id, actor)
}

// find is the workspace and the caller as its org sees them: first in the
// org by looks at, then in the caller's other orgs.
func (s *Service) find(ctx context.Context, id string, by launch.Actor) (launch.Workspace, launch.Actor, error) {
	if by.UserID == "" {
		return launch.Workspace{}, launch.Actor{}, ErrNotFound
	}
	if by.OrgID != "" {
		w, err := s.workspaces.Workspace(ctx, id, by)
		if !errors.Is(err, errs.ErrNotFound) {
			return w, by, err
		}
	}
	orgs, err := s.orgs.OrgsOf(ctx, by.UserID)
	if err != nil {
		return launch.Workspace{}, launch.Actor{}, err
	}
	for _, o := range orgs {
		if o.ID == by.OrgID {
			continue
		}
		a := launch.Actor{OrgID: o.ID, UserID: by.UserID, Admin: o.Role == identity.RoleAdmin}
		w, err := s.workspaces.Workspace(ctx, id, a)
		if !errors.Is(err, errs.ErrNotFound) {
			return w, a, err
		}
	}
	return launch.Workspace{}, launch.Actor{}, ErrNotFound
}
