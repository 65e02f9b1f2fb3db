package launch

import (
	"context"
	"time"

	"github.com/tryreplicas/gateway/gateway/sqldb"
)

// Status of a workspace. queued → launching → launched → running /
// hibernated / finished / failed; the owner or an admin may cancel it at any
// point before it ends.
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
)

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
}

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
