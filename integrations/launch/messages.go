// Conversations: a workspace's thread and its numbered messages. The first
// message is the task, written with the workspace; a later trigger of the
// same person on the same thread appends a message instead of launching,
// wakes a hibernated workspace, or stops it.

package launch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
)

// MessageKind says what a message asks of the workspace.
type MessageKind string

// Kinds of message.
const (
	MessagePrompt MessageKind = "prompt"
	MessageStop   MessageKind = "stop"
)

// Author is the person a message comes from.
type Author struct {
	UserID string `json:"user_id"`
	Login  string `json:"login"`
	Email  string `json:"email"`
}

// Message is one entry of a workspace's conversation, numbered from 1 in the
// order it was written.
type Message struct {
	Seq       int64       `json:"seq"`
	Kind      MessageKind `json:"kind"`
	Body      string      `json:"body"`
	Author    Author      `json:"author"`
	Source    Source      `json:"source"`
	CreatedAt time.Time   `json:"created_at"`
}

// Follow-ups: a trigger that became a message to an existing workspace
// rather than a new workspace. LaunchTx returns that workspace with one of
// these errors, which Outcome counts as handled.
var (
	// ErrFollowUp: the trigger is a message to its thread's active workspace.
	ErrFollowUp = errors.New("launch: sent as a message to the thread's active workspace")
	// ErrStopping: the trigger stopped its thread's active workspace.
	ErrStopping = errors.New("launch: the thread's active workspace is stopping")
	// ErrNothingToStop: a stop on a thread where the person has no active
	// workspace.
	ErrNothingToStop = errors.New("launch: no active workspace to stop")
	// ErrNotActive: a message for a workspace that has ended (or is stopping).
	ErrNotActive = errs.New(errs.ErrConflict, "workspace_not_active", "the workspace has ended and takes no more messages")
)

// Outcomes of follow-ups.
const (
	OutcomeMessage       = "message: sent to the active workspace"
	OutcomeStop          = "stop: the active workspace is stopping"
	OutcomeNothingToStop = "ignored: no active workspace to stop"
)

// MaxWait is the longest long poll of Messages.
const MaxWait = 60 * time.Second

// messagePage bounds the messages one answer carries; the cursor fetches the
// rest.
const messagePage = 100

// lockThread takes the row of (org, thread, user), creating it, and returns
// the workspace currently recorded for it ("" for none). The row stays
// locked until tx ends (PostgreSQL: the upsert's row lock; a SQLite
// transaction has the database to itself), so concurrent triggers of one
// person on one thread are decided one after the other.
func (s *Store) lockThread(ctx context.Context, q sqldb.Querier, orgID, thread, userID string) (string, error) {
	if _, err := q.Exec(ctx, `INSERT INTO workspace_threads (org_id, thread, user_id, workspace_id, updated_at) VALUES ($1, $2, $3, '', $4)
		ON CONFLICT (org_id, thread, user_id) DO UPDATE SET updated_at = excluded.updated_at`, orgID, thread, userID, s.now()); err != nil {
		return "", fmt.Errorf("lock thread: %w", err)
	}
	var id string
	if err := q.QueryRow(ctx, `SELECT workspace_id FROM workspace_threads WHERE org_id = $1 AND thread = $2 AND user_id = $3`, orgID, thread, userID).Scan(&id); err != nil {
		return "", fmt.Errorf("read thread: %w", err)
	}
	return id, nil
}

// setThread records the person's current workspace on a thread (its row is
// locked by lockThread).
func (s *Store) setThread(ctx context.Context, q sqldb.Querier, orgID, thread, userID, workspaceID string) error {
	if _, err := q.Exec(ctx, `UPDATE workspace_threads SET workspace_id = $1, updated_at = $2 WHERE org_id = $3 AND thread = $4 AND user_id = $5`,
		workspaceID, s.now(), orgID, thread, userID); err != nil {
		return fmt.Errorf("set thread: %w", err)
	}
	return nil
}

// triggerSeen reports whether a trigger key already made a workspace or a
// message.
func (s *Store) triggerSeen(ctx context.Context, q sqldb.Querier, key string) (bool, error) {
	if key == "" {
		return false, nil
	}
	var n int
	err := q.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM workspaces WHERE trigger_key = $1) + (SELECT COUNT(*) FROM workspace_messages WHERE trigger_key = $1)`, key).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("check trigger: %w", err)
	}
	return n > 0, nil
}

// appendMessage writes the next message of a workspace whose row the caller
// has locked (lockStatus), and wakes the long polls waiting for it: on
// PostgreSQL a NOTIFY that is delivered when tx commits. A trigger key seen
// before gives ErrDuplicate.
func (s *Store) appendMessage(ctx context.Context, q sqldb.Querier, workspaceID string, m Message, triggerKey string) (Message, error) {
	if err := q.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM workspace_messages WHERE workspace_id = $1`, workspaceID).Scan(&m.Seq); err != nil {
		return Message{}, fmt.Errorf("next message: %w", err)
	}
	m.CreatedAt = s.now()
	var key any
	if triggerKey != "" {
		key = triggerKey
	}
	n, err := q.Exec(ctx, `INSERT INTO workspace_messages (workspace_id, seq, kind, body, author, source, trigger_key, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
		workspaceID, m.Seq, string(m.Kind), m.Body, mustJSON(m.Author), mustJSON(m.Source), key, m.CreatedAt)
	if err != nil {
		return Message{}, fmt.Errorf("insert message: %w", err)
	}
	if n == 0 {
		return Message{}, ErrDuplicate
	}
	if err := notifyTx(ctx, q, workspaceID); err != nil {
		return Message{}, err
	}
	return m, nil
}

// messages reads a workspace's messages after seq, oldest first.
func (s *Store) messages(ctx context.Context, q sqldb.Querier, workspaceID string, after int64, limit int) ([]Message, error) {
	rows, err := q.Query(ctx, `SELECT seq, kind, body, author, source, created_at FROM workspace_messages
		WHERE workspace_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, workspaceID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	return sqldb.Collect(rows, scanMessage)
}

// latestMessages reads a workspace's newest messages (at most limit),
// oldest first.
func (s *Store) latestMessages(ctx context.Context, q sqldb.Querier, workspaceID string, limit int) ([]Message, error) {
	rows, err := q.Query(ctx, `SELECT seq, kind, body, author, source, created_at FROM workspace_messages
		WHERE workspace_id = $1 ORDER BY seq DESC LIMIT $2`, workspaceID, limit)
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	list, err := sqldb.Collect(rows, scanMessage)
	if err != nil {
		return nil, err
	}
	slices.Reverse(list)
	return list, nil
}

func scanMessage(r sqldb.Rows) (Message, error) {
	var m Message
	var author, source string
	if err := r.Scan(&m.Seq, &m.Kind, &m.Body, &author, &source, &m.CreatedAt); err != nil {
		return m, err
	}
	if err := json.Unmarshal([]byte(author), &m.Author); err != nil {
		return m, fmt.Errorf("decode message author: %w", err)
	}
	if err := json.Unmarshal([]byte(source), &m.Source); err != nil {
		return m, fmt.Errorf("decode message source: %w", err)
	}
	return m, nil
}

// userEmail is the email of a user (the identity package's users), "" when
// unknown.
func (s *Store) userEmail(ctx context.Context, q sqldb.Querier, userID string) (string, error) {
	var email string
	err := q.QueryRow(ctx, `SELECT email FROM users WHERE id = $1`, userID).Scan(&email)
	if errors.Is(err, sqldb.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read user email: %w", err)
	}
	return email, nil
}

// PageURL is the workspace's page in the gateway's web interface.
func (s *Service) PageURL(id string) string { return PageURL(s.GatewayURL, id) }

// author completes the trigger's author with its user id and email.
func (s *Service) author(ctx context.Context, q sqldb.Querier, t Trigger) (Author, error) {
	a := t.Author
	a.UserID = t.UserID
	if a.Email == "" {
		email, err := s.store.userEmail(ctx, q, t.UserID)
		if err != nil {
			return Author{}, err
		}
		a.Email = email
	}
	return a, nil
}

// firstMessage is message 1 of a new workspace: its task, and the link to
// the workspace it continues.
func (s *Service) firstMessage(ctx context.Context, q sqldb.Querier, w Workspace, t Trigger) (Message, error) {
	a, err := s.author(ctx, q, t)
	if err != nil {
		return Message{}, err
	}
	body := t.Task.Body
	if w.PreviousWorkspaceID != "" {
		body = strings.TrimSpace(body + "\n\nThis continues the earlier workspace on this thread: " + s.PageURL(w.PreviousWorkspaceID))
	}
	return Message{Kind: MessagePrompt, Body: body, Author: a, Source: t.Source}, nil
}

// threadTx decides a trigger on a thread with the thread's row locked: a
// message (or stop) to the person's active workspace there, or the
// previous workspace a new one continues ("" for none).
func (s *Service) threadTx(ctx context.Context, tx sqldb.Tx, t Trigger) (w Workspace, previous string, err error) {
	cur, err := s.store.lockThread(ctx, tx, t.OrgID, t.Thread, t.UserID)
	if err != nil {
		return Workspace{}, "", err
	}
	if seen, err := s.store.triggerSeen(ctx, tx, t.TriggerKey); err != nil || seen {
		if err == nil {
			err = ErrDuplicate
		}
		return Workspace{}, "", err
	}
	if cur != "" {
		status, err := s.store.lockStatus(ctx, tx, cur)
		switch {
		case err == nil && status.Active():
			w, err := s.followUpTx(ctx, tx, cur, status, t)
			return w, "", err
		case err != nil && !errors.Is(err, ErrNotFound):
			return Workspace{}, "", err
		}
	}
	if t.Stop {
		return Workspace{}, "", ErrNothingToStop
	}
	return Workspace{}, cur, nil
}

// followUpTx appends the trigger to the active workspace id (row locked,
// with status): a prompt wakes a hibernated workspace; a stop makes it
// stopping and asks the launcher to stop it.
func (s *Service) followUpTx(ctx context.Context, tx sqldb.Tx, id string, status Status, t Trigger) (Workspace, error) {
	a, err := s.author(ctx, tx, t)
	if err != nil {
		return Workspace{}, err
	}
	m := Message{Kind: MessagePrompt, Body: t.Message, Author: a, Source: t.Source}
	if m.Body == "" {
		m.Body = t.Task.Body
	}
	if t.Stop {
		m.Kind = MessageStop
	}
	m, err = s.store.appendMessage(ctx, tx, id, m, t.TriggerKey)
	if err != nil {
		return Workspace{}, err
	}
	if t.Stop {
		w, err := s.move(ctx, tx, id, Update{Status: StatusStopping, Summary: "Stopped by " + a.display() + "."})
		if err != nil {
			return Workspace{}, err
		}
		if _, err := s.queue.InsertTx(ctx, tx, SignalArgs{WorkspaceID: id, Type: RequestStop, Seq: m.Seq}, nil); err != nil {
			return Workspace{}, err
		}
		return w, ErrStopping
	}
	if status == StatusHibernated {
		if _, err := s.queue.InsertTx(ctx, tx, SignalArgs{WorkspaceID: id, Type: RequestWake, Seq: m.Seq}, nil); err != nil {
			return Workspace{}, err
		}
	}
	w, err := s.store.Get(ctx, tx, id)
	if err != nil {
		return Workspace{}, err
	}
	return w, ErrFollowUp
}

func (a Author) display() string {
	switch {
	case a.Login != "":
		return "@" + a.Login
	case a.Email != "":
		return a.Email
	}
	return a.UserID
}

// Messages returns the messages of a workspace after seq (the last one it
// has handled), oldest first. With wait > 0 and none there yet, it waits up
// to wait (at most MaxWait) for one to be written, on any replica, and
// returns what arrived, or none when the wait ends first.
func (s *Service) Messages(ctx context.Context, workspaceID string, after int64, wait time.Duration) ([]Message, error) {
	if after < 0 {
		return nil, errs.Invalid("after must be a message number (0 or more)")
	}
	if wait < 0 || wait > MaxWait {
		return nil, errs.Invalid("wait must be between 0 and %d seconds", int(MaxWait/time.Second))
	}
	list, err := s.store.messages(ctx, s.db, workspaceID, after, messagePage)
	if err != nil || len(list) > 0 || wait == 0 {
		return nonNilMessages(list), err
	}
	sub := s.notifier.subscribe(ctx, workspaceID)
	defer sub.cancel()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(s.notifier.poll)
	defer tick.Stop()
	for {
		// Subscribed before reading: a message committed after this read
		// wakes the subscription.
		list, err := s.store.messages(ctx, s.db, workspaceID, after, messagePage)
		if err != nil || len(list) > 0 {
			return nonNilMessages(list), err
		}
		select {
		case <-sub.c:
		case <-tick.C:
		case <-deadline.C:
			return []Message{}, nil
		case <-s.notifier.closing():
			return []Message{}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// LatestMessages returns the newest messages of a workspace (at most
// limit), oldest first, for its page; the caller has checked who may read
// them (Workspace).
func (s *Service) LatestMessages(ctx context.Context, workspaceID string, limit int) ([]Message, error) {
	list, err := s.store.latestMessages(ctx, s.db, workspaceID, limit)
	return nonNilMessages(list), err
}

func nonNilMessages(l []Message) []Message {
	if l == nil {
		return []Message{}
	}
	return l
}

// MaxMessageBody bounds a follow-up sent from the API or a page, as GitHub
// bounds a comment (65,536 characters).
const MaxMessageBody = 65536

// Send writes a message from a workspace's owner (through the API or the
// web page) to their active workspace; a hibernated one is woken. Anyone
// else gets ErrNotFound; a workspace that ended gets ErrNotActive; a body
// over MaxMessageBody bytes is invalid.
func (s *Service) Send(ctx context.Context, id string, by Actor, body string) (Message, error) {
	if strings.TrimSpace(body) == "" {
		return Message{}, errs.Invalid("body is required")
	}
	if len(body) > MaxMessageBody {
		return Message{}, errs.Invalid("body is longer than %d bytes", MaxMessageBody)
	}
	var m Message
	err := s.db.InTx(ctx, func(tx sqldb.Tx) error {
		status, err := s.store.lockStatus(ctx, tx, id)
		if err != nil {
			return err
		}
		w, err := s.store.Get(ctx, tx, id)
		if err != nil {
			return err
		}
		if w.OrgID != by.OrgID || w.UserID != by.UserID {
			return ErrNotFound
		}
		if !status.Active() {
			return ErrNotActive
		}
		a, err := s.author(ctx, tx, Trigger{UserID: by.UserID})
		if err != nil {
			return err
		}
		src := Source{Kind: SourceAPI, API: &APISource{RequestedBy: by.UserID}}
		if m, err = s.store.appendMessage(ctx, tx, id, Message{Kind: MessagePrompt, Body: body, Author: a, Source: src}, ""); err != nil {
			return err
		}
		if status == StatusHibernated {
			_, err = s.queue.InsertTx(ctx, tx, SignalArgs{WorkspaceID: id, Type: RequestWake, Seq: m.Seq}, nil)
		}
		return err
	})
	return m, err
}
