// The agent CLIs: how each is invoked, and how its JSON-lines stream maps to
// activities, a session to resume, the final answer and authentication
// errors.

package runner

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// turn is what one run of the agent produced.
type turn struct {
	Session  string // Claude's session_id, Codex's thread_id
	Final    string // the agent's last answer
	Failed   bool   // the agent reported an error
	ErrText  string
	AuthFail bool // the provider refused the credential
	// pending is Claude's latest assistant text, shown as a thought once
	// something follows it, or dropped when the result repeats it.
	pending string
}

// flush shows the pending assistant text as a thought.
func (t *turn) flush(out []Activity) []Activity {
	if strings.TrimSpace(t.pending) != "" {
		out = append(out, Activity{Type: "thought", Body: t.pending})
	}
	t.pending = ""
	return out
}

// agent is one CLI.
type agent interface {
	// Display is the name users see ("Claude", "Codex").
	Display() string
	// Binary is the program looked up on PATH.
	Binary() string
	// Args runs one prompt (read from standard input), resuming session when set.
	Args(session string) []string
	// Parse reads one line of the stream into t and returns the activities it shows.
	Parse(line []byte, t *turn) []Activity
}

func agentFor(name string) (agent, error) {
	switch name {
	case "claude":
		return claudeAgent{}, nil
	case "codex":
		return codexAgent{}, nil
	}
	return nil, fmt.Errorf("unknown agent %q", name)
}

// claudeAgent is Claude Code: `claude -p --output-format stream-json
// --verbose` (stream-json needs --verbose in print mode). The first api_retry
// with error_status 401 is the authentication error: the CLI would retry
// ten times with growing delays before giving up.
type claudeAgent struct{}

func (claudeAgent) Display() string { return "Claude" }
func (claudeAgent) Binary() string  { return "claude" }
func (claudeAgent) Args(session string) []string {
	args := []string{"-p", "--output-format", "stream-json", "--verbose", "--permission-mode", "acceptEdits"}
	if session != "" {
		args = append(args, "--resume", session)
	}
	return args
}

type claudeLine struct {
	Type           string `json:"type"`
	Subtype        string `json:"subtype"`
	SessionID      string `json:"session_id"`
	ErrorStatus    int    `json:"error_status"`
	Error          any    `json:"error"`
	IsError        bool   `json:"is_error"`
	APIErrorStatus int    `json:"api_error_status"`
	Result         string `json:"result"`
	Message        struct {
		Content []struct {
			Type    string          `json:"type"`
			Text    string          `json:"text"`
			Name    string          `json:"name"`
			Input   json.RawMessage `json:"input"`
			Content json.RawMessage `json:"content"`
			IsError bool            `json:"is_error"`
		} `json:"content"`
	} `json:"message"`
}

func (claudeAgent) Parse(line []byte, t *turn) []Activity {
	var l claudeLine
	if json.Unmarshal(line, &l) != nil {
		return nil
	}
	if l.SessionID != "" {
		t.Session = l.SessionID
	}
	if strings.Contains(string(line), `"authentication_error"`) {
		t.AuthFail = true
		return nil
	}
	var out []Activity
	switch l.Type {
	case "system":
		if l.Subtype == "api_retry" && l.ErrorStatus == 401 {
			t.AuthFail = true
		}
	case "assistant":
		for _, c := range l.Message.Content {
			switch c.Type {
			case "text":
				out = t.flush(out)
				t.pending = c.Text
			case "tool_use":
				out = t.flush(out)
				out = append(out, Activity{Type: "action", Action: c.Name, Parameter: toolParameter(c.Input)})
			}
		}
	case "user":
		for _, c := range l.Message.Content {
			if c.Type == "tool_result" && c.IsError {
				out = append(out, Activity{Type: "action", Action: "tool error", Result: clip(rawText(c.Content), 500)})
			}
		}
	case "result":
		if t.pending == l.Result {
			t.pending = "" // the answer itself
		}
		out = t.flush(out)
		if l.IsError {
			t.Failed, t.ErrText = true, l.Result
			if l.APIErrorStatus == 401 {
				t.AuthFail = true
			}
			return out
		}
		t.Final = l.Result
	}
	return out
}

// codexAgent is Codex: `codex exec --json`, the prompt on standard input.
// A 401 from the API, or a refresh token the provider says was already used,
// is the authentication error.
type codexAgent struct{}

func (codexAgent) Display() string { return "Codex" }
func (codexAgent) Binary() string  { return "codex" }
func (codexAgent) Args(session string) []string {
	args := []string{"exec", "--json", "--skip-git-repo-check", "--full-auto"}
	if session != "" {
		args = append(args, "resume", session)
	}
	return append(args, "-")
}

type codexLine struct {
	Type     string `json:"type"`
	ThreadID string `json:"thread_id"`
	Message  string `json:"message"`
	Error    struct {
		Message string `json:"message"`
	} `json:"error"`
	Item struct {
		Type             string `json:"type"`
		Text             string `json:"text"`
		Command          string `json:"command"`
		AggregatedOutput string `json:"aggregated_output"`
		ExitCode         *int   `json:"exit_code"`
		Changes          []struct {
			Path string `json:"path"`
			Kind string `json:"kind"`
		} `json:"changes"`
	} `json:"item"`
}

// codexAuthError says whether an error message of Codex is an
// authentication failure.
func codexAuthError(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "401") || strings.Contains(m, "unauthorized") || strings.Contains(m, "refresh_token_reused") ||
		strings.Contains(m, "refresh token was already used") || strings.Contains(m, "token_expired")
}

func (codexAgent) Parse(line []byte, t *turn) []Activity {
	var l codexLine
	if json.Unmarshal(line, &l) != nil {
		return nil
	}
	switch l.Type {
	case "thread.started":
		t.Session = l.ThreadID
	case "error":
		if codexAuthError(l.Message) {
			t.AuthFail = true
		}
	case "turn.failed":
		t.Failed, t.ErrText = true, l.Error.Message
		if codexAuthError(l.Error.Message) {
			t.AuthFail = true
		}
	case "item.completed":
		switch l.Item.Type {
		case "reasoning":
			return []Activity{{Type: "thought", Body: l.Item.Text}}
		case "command_execution":
			return []Activity{{Type: "action", Action: "Ran", Parameter: l.Item.Command, Result: clip(l.Item.AggregatedOutput, 500)}}
		case "file_change":
			var paths []string
			for _, c := range l.Item.Changes {
				paths = append(paths, c.Kind+" "+c.Path)
			}
			return []Activity{{Type: "action", Action: "Edited", Parameter: strings.Join(paths, ", ")}}
		case "agent_message":
			t.Final = l.Item.Text
		case "error":
			if codexAuthError(l.Item.Text) {
				t.AuthFail = true
			}
		}
	}
	return nil
}

// toolParameter is a short form of a tool call's input.
func toolParameter(raw json.RawMessage) string {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return clip(string(raw), 200)
	}
	for _, k := range []string{"command", "file_path", "path", "pattern", "url", "description"} {
		if v, ok := m[k].(string); ok {
			return clip(v, 200)
		}
	}
	return clip(string(raw), 200)
}

func rawText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// clip keeps at most n characters of s (never splitting one).
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
