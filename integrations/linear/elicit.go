// Asking for the repository: a session whose repository cannot be
// determined gets an elicitation listing the org's installed repositories,
// and the requester's next prompt in that session is the answer. An answer
// naming an installed repository launches; any other is asked again.

package linear

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/integrations/intake"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// OutcomeAskedRepository: no repository could be determined, so the session
// was asked which one.
const OutcomeAskedRepository = "asked: repository"

// maxOffered bounds the repositories listed in one elicitation.
const maxOffered = 50

// elicitation is a session waiting for its repository.
type elicitation struct {
	UserID  string
	Request launch.Trigger
}

func (s *Store) saveElicitation(ctx context.Context, q sqldb.Querier, sessionID string, e elicitation) error {
	raw, err := json.Marshal(e.Request)
	if err != nil {
		return fmt.Errorf("linear: encode pending request: %w", err)
	}
	if _, err := q.Exec(ctx, `INSERT INTO linear_elicitations (session_id, org_id, user_id, request, created_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (session_id) DO UPDATE SET user_id = excluded.user_id, request = excluded.request, created_at = excluded.created_at`,
		sessionID, e.Request.OrgID, e.UserID, string(raw), time.Now().UTC()); err != nil {
		return fmt.Errorf("linear: save elicitation: %w", err)
	}
	return nil
}

// pendingElicitation is the session's open question, if any.
func (s *Store) pendingElicitation(ctx context.Context, q sqldb.Querier, sessionID string) (elicitation, bool, error) {
	var e elicitation
	var raw string
	err := q.QueryRow(ctx, `SELECT user_id, request FROM linear_elicitations WHERE session_id = $1`, sessionID).Scan(&e.UserID, &raw)
	if errors.Is(err, sqldb.ErrNoRows) {
		return e, false, nil
	}
	if err != nil {
		return e, false, fmt.Errorf("linear: read elicitation: %w", err)
	}
	if err := json.Unmarshal([]byte(raw), &e.Request); err != nil {
		return e, false, fmt.Errorf("linear: decode pending request: %w", err)
	}
	return e, true, nil
}

func (s *Store) deleteElicitation(ctx context.Context, q sqldb.Querier, sessionID string) error {
	if _, err := q.Exec(ctx, `DELETE FROM linear_elicitations WHERE session_id = $1`, sessionID); err != nil {
		return fmt.Errorf("linear: close elicitation: %w", err)
	}
	return nil
}

// askRepository plans the question: the pending request is stored and the
// elicitation posted together.
func (a *App) askRepository(ctx context.Context, r request, t *launch.Trigger, userID, preface string) (intake.Plan, error) {
	repos, err := a.repos.OrgRepositories(ctx, a.db, r.conn.OrgID)
	if err != nil {
		return intake.Plan{}, err
	}
	if len(repos) > maxOffered {
		repos = repos[:maxOffered]
	}
	body := preface + "Which repository should I work in? Answer with its name (owner/name)."
	if len(repos) == 0 {
		body = preface + "No repository of a GitHub App installation is connected to this Replicas organization yet. An org admin can install the GitHub App; then answer with the repository (owner/name)."
	} else {
		body += "\n\n- " + strings.Join(repos, "\n- ")
	}
	pending := *t
	pending.Repository = launch.Repository{}
	return intake.Plan{OrgID: r.conn.OrgID, Outcome: OutcomeAskedRepository, Then: func(ctx context.Context, tx sqldb.Tx, _ *launch.Workspace, _ error) error {
		if err := a.store.saveElicitation(ctx, tx, r.sessionID, elicitation{UserID: userID, Request: pending}); err != nil {
			return err
		}
		return a.postActivity(ctx, tx, ActivityArgs{OrgID: r.conn.OrgID, SessionID: r.sessionID, Type: "elicitation", Body: body, Options: repos}, nil)
	}}, nil
}

// fullNameIn finds "owner/name" words in an answer.
var fullNameIn = regexp.MustCompile(`[A-Za-z0-9-]+/[A-Za-z0-9._-]+`)

// answerElicitation treats a prompt in a session with an open question from
// its requester as the answer. ok is false when there is no such question:
// the prompt is then an ordinary follow-up.
func (a *App) answerElicitation(ctx context.Context, r request, userID string) (plan intake.Plan, ok bool, err error) {
	e, found, err := a.store.pendingElicitation(ctx, a.db, r.sessionID)
	if err != nil || !found || e.UserID != userID {
		return intake.Plan{}, false, err
	}
	choice, err := a.chosenRepository(ctx, r.conn.OrgID, r.prompt)
	if err != nil {
		return intake.Plan{}, true, err
	}
	if choice == "" {
		plan, err := a.askRepository(ctx, r, &e.Request, userID, "I couldn't find that repository among the installed ones. ")
		return plan, true, err
	}
	t := e.Request
	t.Repository = launch.Repository{FullName: choice}
	t.InstallationID = 0 // LaunchTx finds it, and refuses a repository no longer installed
	ack := a.then(r)
	return intake.Plan{OrgID: r.conn.OrgID, Trigger: &t, Then: func(ctx context.Context, tx sqldb.Tx, ws *launch.Workspace, launchErr error) error {
		if err := a.store.deleteElicitation(ctx, tx, r.sessionID); err != nil {
			return err
		}
		return ack(ctx, tx, ws, launchErr)
	}}, true, nil
}

// chosenRepository is the installed repository an answer names: a GitHub
// link or an "owner/name" that a GitHub installation bound to the org holds,
// or the bare name of exactly one listed repository; "" when none.
func (a *App) chosenRepository(ctx context.Context, orgID, answer string) (string, error) {
	var cands []string
	for _, word := range strings.Fields(answer) {
		if repo := githubRepository(strings.Trim(word, "<>()`'\",")); repo != "" {
			cands = append(cands, repo) // a link to the repository
		}
	}
	cands = append(cands, fullNameIn.FindAllString(answer, 5)...)
	for _, cand := range cands {
		cand = strings.TrimSuffix(strings.TrimRight(cand, "."), ".git")
		id, err := a.repos.InstallationFor(ctx, a.db, orgID, cand)
		if err != nil {
			return "", err
		}
		if id != 0 {
			return cand, nil
		}
	}
	repos, err := a.repos.OrgRepositories(ctx, a.db, orgID)
	if err != nil {
		return "", err
	}
	word := strings.ToLower(strings.Trim(strings.TrimSpace(answer), "`.!\"' "))
	match := ""
	for _, full := range repos {
		if _, name, _ := strings.Cut(full, "/"); strings.ToLower(name) == word {
			if match != "" {
				return "", nil // ambiguous
			}
			match = full
		}
	}
	return match, nil
}
