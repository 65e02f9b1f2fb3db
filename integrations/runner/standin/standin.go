package standin

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Control says how the stand-in behaves.
type Control struct {
	// Reject lists credential values the provider refuses.
	Reject []string `json:"reject,omitempty"`
	// RejectAll refuses every credential.
	RejectAll bool `json:"reject_all,omitempty"`
	// FailCalls are call numbers (1-based) that fail authentication.
	FailCalls []int `json:"fail_calls,omitempty"`
	// Sleep makes each successful call take this long (a Go duration),
	// with a child process in the same process group.
	Sleep string `json:"sleep,omitempty"`
	// Edit appends the prompt to STANDIN.md in the working directory.
	Edit bool `json:"edit,omitempty"`
	// AuthGiveUp is how long a refused call keeps retrying before it prints
	// its final error (default 20s, like the real CLIs' backoff).
	AuthGiveUp string `json:"auth_give_up,omitempty"`
}

// Call is one recorded invocation.
type Call struct {
	N          int      `json:"n"`
	Agent      string   `json:"agent"`
	Args       []string `json:"args"`
	Prompt     string   `json:"prompt"`
	Credential string   `json:"credential"` // the value it authenticated with
	Method     string   `json:"method"`
	Home       string   `json:"home"`
	Dir        string   `json:"dir"`
	Resume     string   `json:"resume,omitempty"`
	Refused    bool     `json:"refused"`
	PID        int      `json:"pid"`
	ChildPID   int      `json:"child_pid,omitempty"`
	// EnvNames are the names of the variables it got.
	EnvNames []string `json:"env_names"`
	// RefreshTokenInAuthJSON says Codex's auth.json held a refresh token.
	RefreshTokenInAuthJSON bool `json:"refresh_token_in_auth_json,omitempty"`
}

// WriteControl writes dir/control.json.
func WriteControl(dir string, c Control) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "control.json"), b, 0o600)
}

// Calls reads dir/calls.jsonl.
func Calls(dir string) ([]Call, error) {
	b, err := os.ReadFile(filepath.Join(dir, "calls.jsonl"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Call
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var c Call
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Install writes executable scripts named claude and codex into dir that run
// command (followed by the agent and dir) with their arguments.
func Install(dir string, command ...string) error {
	var quoted []string
	for _, c := range command {
		quoted = append(quoted, "'"+strings.ReplaceAll(c, "'", `'\''`)+"'")
	}
	for _, agent := range []string{"claude", "codex"} {
		script := fmt.Sprintf("#!/bin/sh\nexec %s %s '%s' \"$@\"\n", strings.Join(quoted, " "), agent, dir)
		if err := os.WriteFile(filepath.Join(dir, agent), []byte(script), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// Main runs the stand-in: args are the agent ("claude" or "codex"), the
// control directory, then the CLI's own arguments. It returns the exit code.
func Main(args []string, stdin io.Reader, stdout io.Writer) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: stand-in claude|codex DIR ARGS...")
		return 2
	}
	agent, dir, cli := args[0], args[1], args[2:]
	var ctl Control
	if b, err := os.ReadFile(filepath.Join(dir, "control.json")); err == nil {
		if err := json.Unmarshal(b, &ctl); err != nil {
			fmt.Fprintln(os.Stderr, "control.json:", err)
			return 2
		}
	}
	prompt, _ := io.ReadAll(stdin)
	prev, _ := Calls(dir)
	wd, _ := os.Getwd()
	call := Call{N: len(prev) + 1, Agent: agent, Args: cli, Prompt: string(prompt), Home: os.Getenv("HOME"), Dir: wd, PID: os.Getpid()}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		call.EnvNames = append(call.EnvNames, k)
	}
	slices.Sort(call.EnvNames)
	call.Credential, call.Method, call.RefreshTokenInAuthJSON = credential(agent)
	call.Refused = call.Credential == "" || ctl.RejectAll || slices.Contains(ctl.Reject, call.Credential) || slices.Contains(ctl.FailCalls, call.N)
	if i := slices.Index(cli, "--resume"); i >= 0 && i+1 < len(cli) {
		call.Resume = cli[i+1]
	}
	if i := slices.Index(cli, "resume"); agent == "codex" && i >= 0 && i+1 < len(cli) {
		call.Resume = cli[i+1]
	}
	if !call.Refused && ctl.Sleep != "" {
		// A child in the same process group, as a real agent's shell
		// commands are: a stop must end it too.
		child := exec.Command("sleep", "600")
		if child.Start() == nil {
			call.ChildPID = child.Process.Pid
		}
	}
	if err := record(dir, call); err != nil {
		fmt.Fprintln(os.Stderr, "calls.jsonl:", err)
		return 2
	}
	giveUp := 20 * time.Second
	if d, err := time.ParseDuration(ctl.AuthGiveUp); err == nil {
		giveUp = d
	}
	w := bufio.NewWriter(stdout)
	emit := func(v any) {
		b, _ := json.Marshal(v)
		w.Write(b)
		w.WriteByte('\n')
		w.Flush()
	}
	session := call.Resume
	if session == "" {
		session = newID()
	}
	if agent == "codex" {
		return codex(emit, call, ctl, session, giveUp)
	}
	return claude(emit, call, ctl, session, giveUp)
}

func claude(emit func(any), call Call, ctl Control, session string, giveUp time.Duration) int {
	source := map[string]string{"ANTHROPIC_API_KEY": "ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN": "CLAUDE_CODE_OAUTH_TOKEN", "bedrock": "none"}[call.Method]
	emit(map[string]any{"type": "system", "subtype": "init", "session_id": session, "apiKeySource": source, "model": "claude-stand-in", "tools": []string{"Bash", "Edit"}})
	if call.Refused {
		for attempt := 1; attempt <= 10; attempt++ {
			emit(map[string]any{"type": "system", "subtype": "api_retry", "attempt": attempt, "max_retries": 10, "retry_delay_ms": 500 * attempt,
				"error_status": 401, "error": "authentication_failed", "session_id": session})
			time.Sleep(giveUp / 10)
		}
		text := "Not logged in · Please run /login"
		emit(map[string]any{"type": "assistant", "session_id": session, "message": map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "text", "text": text}}}})
		emit(map[string]any{"type": "result", "subtype": "success", "is_error": true, "api_error_status": 401, "terminal_reason": "api_error", "result": text, "session_id": session})
		return 1
	}
	emit(map[string]any{"type": "assistant", "session_id": session, "message": map[string]any{"role": "assistant", "content": []any{
		map[string]any{"type": "text", "text": "Looking at the repository."},
		map[string]any{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": map[string]any{"command": "ls", "description": "List files"}},
	}}})
	emit(map[string]any{"type": "user", "session_id": session, "message": map[string]any{"role": "user", "content": []any{
		map[string]any{"type": "tool_result", "tool_use_id": "toolu_1", "content": "README.md"},
	}}})
	work(ctl, call)
	answer := answerFor(call)
	emit(map[string]any{"type": "assistant", "session_id": session, "message": map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "text", "text": answer}}}})
	emit(map[string]any{"type": "result", "subtype": "success", "is_error": false, "num_turns": 2, "result": answer, "session_id": session})
	return 0
}

func codex(emit func(any), call Call, ctl Control, thread string, giveUp time.Duration) int {
	emit(map[string]any{"type": "thread.started", "thread_id": thread})
	emit(map[string]any{"type": "turn.started"})
	if call.Refused {
		msg := "unexpected status 401 Unauthorized: Missing bearer or basic authentication in header"
		for attempt := 1; attempt <= 5; attempt++ {
			emit(map[string]any{"type": "error", "message": fmt.Sprintf("Reconnecting... %d/5 (%s)", attempt, msg)})
			time.Sleep(giveUp / 5)
		}
		emit(map[string]any{"type": "turn.failed", "error": map[string]any{"message": msg}})
		return 1
	}
	emit(map[string]any{"type": "item.completed", "item": map[string]any{"id": "item_0", "type": "reasoning", "text": "**Looking at the repository**"}})
	emit(map[string]any{"type": "item.started", "item": map[string]any{"id": "item_1", "type": "command_execution", "command": "bash -lc ls", "aggregated_output": "", "status": "in_progress"}})
	emit(map[string]any{"type": "item.completed", "item": map[string]any{"id": "item_1", "type": "command_execution", "command": "bash -lc ls", "aggregated_output": "README.md\n", "exit_code": 0, "status": "completed"}})
	work(ctl, call)
	if ctl.Edit {
		emit(map[string]any{"type": "item.completed", "item": map[string]any{"id": "item_2", "type": "file_change", "changes": []any{map[string]any{"path": "STANDIN.md", "kind": "update"}}, "status": "completed"}})
	}
	emit(map[string]any{"type": "item.completed", "item": map[string]any{"id": "item_3", "type": "agent_message", "text": answerFor(call)}})
	emit(map[string]any{"type": "turn.completed", "usage": map[string]any{"input_tokens": 100, "cached_input_tokens": 0, "output_tokens": 10}})
	return 0
}

// work runs long and edits, as the control says.
func work(ctl Control, call Call) {
	if d, err := time.ParseDuration(ctl.Sleep); err == nil {
		time.Sleep(d)
	}
	if ctl.Edit {
		f, err := os.OpenFile("STANDIN.md", os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(f, "- %s\n", strings.TrimSpace(firstLine(call.Prompt)))
			f.Close()
		}
	}
}

func answerFor(call Call) string {
	if call.Resume != "" {
		return "Follow-up done: " + lastLine(call.Prompt)
	}
	return "Done: " + lastLine(call.Prompt)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// credential is the value the CLI would authenticate with, and its kind.
func credential(agent string) (value, method string, refreshInFile bool) {
	if agent == "claude" {
		// Claude Code takes the first of Bedrock, API key, OAuth token.
		switch {
		case os.Getenv("CLAUDE_CODE_USE_BEDROCK") == "1":
			return os.Getenv("AWS_ACCESS_KEY_ID"), "bedrock", false
		case os.Getenv("ANTHROPIC_API_KEY") != "":
			return os.Getenv("ANTHROPIC_API_KEY"), "ANTHROPIC_API_KEY", false
		default:
			return os.Getenv("CLAUDE_CODE_OAUTH_TOKEN"), "CLAUDE_CODE_OAUTH_TOKEN", false
		}
	}
	home := os.Getenv("CODEX_HOME")
	if home == "" {
		home = filepath.Join(os.Getenv("HOME"), ".codex")
	}
	var auth struct {
		APIKey string `json:"OPENAI_API_KEY"`
		Tokens *struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		} `json:"tokens"`
	}
	if b, err := os.ReadFile(filepath.Join(home, "auth.json")); err == nil {
		_ = json.Unmarshal(b, &auth)
	}
	refresh := auth.Tokens != nil && auth.Tokens.RefreshToken != ""
	switch {
	case auth.Tokens != nil && auth.Tokens.AccessToken != "":
		return auth.Tokens.AccessToken, "chatgpt", refresh
	case auth.APIKey != "":
		return auth.APIKey, "apikey", refresh
	default:
		return os.Getenv("CODEX_API_KEY"), "CODEX_API_KEY", refresh
	}
}

func record(dir string, c Call) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, "calls.jsonl"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(append(b, '\n'))
	return err
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
