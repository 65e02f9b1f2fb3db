package launch

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/tryreplicas/gateway/gateway/sqldb"
)

// Status of a workspace. queued → launching → launched → running /
// hibernated / finished / failed; the owner or an admin may cancel it at any
// point before it ends. A stop asked for on its thread makes it stopping
// until the launcher has been told, then cancelled.
type Status string

const (
	StatusQueued     Status = "queued"
	StatusLaunching  Status = "launching"
	StatusLaunched   Status = "launched"
	StatusRunning    Status = "running"
	StatusHibernated Status = "hibernated"
	StatusFinished   Status = "finished"
	StatusFailed     Status = "failed"
	StatusCancelled  Status = "cancelled"
	// StatusStopping: its owner asked it to stop (a stop message is written
	// and the launcher gets a stop request); it becomes cancelled once the
	// launcher has the request, or finished or failed if it says so first.
	StatusStopping Status = "stopping"
)

// Active statuses take messages: a trigger of the owner on the workspace's
// thread becomes a message to it rather than a new workspace.
func (s Status) Active() bool {
	switch s {
	case StatusQueued, StatusLaunching, StatusLaunched, StatusRunning, StatusHibernated:
		return true
	}
	return false
}

// Task is what the agent is asked to do.
type Task struct {
	Title string `json:"title"`
	Body  string `json:"body"`
	URL   string `json:"url"`
}

// Repository is where the agent works.
type Repository struct {
	FullName string `json:"full_name"`
	Ref      string `json:"ref,omitempty"`
}

// ChainEntry is one credential of the workspace's resolved chain: ids and
// order only, never secrets.
type ChainEntry struct {
	CredentialID string `json:"credential_id"`
	Scope        string `json:"scope"`
	Method       string `json:"method"`
}

// Workspace is the record the API shows (the workspace token is never part
// of it: only the launcher receives it).
type Workspace struct {
	ID         string       `json:"id"`
	OrgID      string       `json:"org_id"`
	UserID     string       `json:"user_id"`
	Agent      string       `json:"agent"`
	Status     Status       `json:"status"`
	Source     Source       `json:"source"`
	Task       Task         `json:"task"`
	Repository Repository   `json:"repository"`
	Chain      []ChainEntry `json:"chain"`
	DryRun     bool         `json:"dry_run,omitempty"`
	LaunchFile string       `json:"launch_file,omitempty"` // dry run: where the launch request was written
	Error      string       `json:"error,omitempty"`       // why it failed
	Summary    string       `json:"summary,omitempty"`     // last lifecycle report
	ResultURL  string       `json:"result_url,omitempty"`  // e.g. the pull request it opened
	TriggerKey string       `json:"-"`
	DeliveryID string       `json:"delivery_id,omitempty"`
	CreatedAt  time.Time    `json:"created_at"`
	UpdatedAt  time.Time    `json:"updated_at"`
	// InstallationID is the GitHub App installation that holds Repository
	// (0 when there is no repository).
	InstallationID int64 `json:"installation_id,omitempty"`
	// Thread is the conversation the workspace belongs to (ThreadGitHub,
	// ThreadLinear, ThreadLinearIssue); empty for API-made workspaces.
	Thread string `json:"thread,omitempty"`
	// PreviousWorkspaceID is the ended workspace of the same person and
	// thread that this one continues.
	PreviousWorkspaceID string `json:"previous_workspace_id,omitempty"`
}

// Trigger asks for a workspace: who, for what, from where. TriggerKey makes
// the same trigger (e.g. one comment delivered twice under different delivery
// ids) create one workspace.
type Trigger struct {
	OrgID      string
	UserID     string
	Agent      string // optional: the user's/org's preference decides when empty
	TriggerKey string
	DeliveryID string // the recorded delivery, when there is one
	Source     Source
	Task       Task
	Repository Repository
	// InstallationID is set by sources whose trigger comes from the GitHub
	// installation holding Repository; otherwise LaunchTx finds it.
	InstallationID int64
	// Thread is the conversation the trigger belongs to; empty: none, every
	// trigger launches. On a thread where the same user has an active
	// workspace the trigger becomes a message to it.
	Thread string
	// Author is how the source knows the person (login, email); LaunchTx
	// sets the user id and fills a missing email from the user's record.
	Author Author
	// Message is the trigger's own text as a follow-up message (the comment,
	// the prompt); empty means Task.Body.
	Message string
	// Stop asks the person's active workspace on Thread to stop; it never
	// launches anything.
	Stop bool
}

// ThreadGitHub is the thread of a pull request or issue, by the
// repository's numeric id (which survives renames).
func ThreadGitHub(repositoryID int64, number int) string {
	return fmt.Sprintf("github:%d#%d", repositoryID, number)
}

// ThreadLinear is the thread of a Linear agent session.
func ThreadLinear(sessionID string) string { return "linear:" + sessionID }

// ThreadLinearIssue is the thread of a Linear issue without a session.
func ThreadLinearIssue(issueID string) string { return "linear:issue:" + issueID }

// Reporter tells the source of a workspace about its lifecycle (launched,
// running, finished with a summary or URL, failed with the reason). It runs
// in the transaction that changes the status and enqueues its own jobs, so a
// report is never lost and never blocks the caller. The github and linear
// packages implement it; launch keeps one per Source.Kind.
type Reporter interface {
	ReportTx(ctx context.Context, tx sqldb.Tx, ws Workspace) error
}

// CredentialIDs is the chain's credential ids in order.
func (w Workspace) CredentialIDs() []string {
	ids := make([]string, len(w.Chain))
	for i, c := range w.Chain {
		ids[i] = c.CredentialID
	}
	return ids
}

// PageURL is the address of a workspace's page, the one link the gateway
// posts on GitHub and Linear: signed out it leads through sign-in, and it
// shows the workspace only to its owner and the org's admins.
func PageURL(publicURL, workspaceID string) string {
	return strings.TrimRight(publicURL, "/") + "/workspaces/" + url.PathEscape(workspaceID)
}
