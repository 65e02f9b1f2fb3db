package launch

import (
	"encoding/json"
	"fmt"
)

// Kinds of source.
const (
	SourceGitHub = "github"
	SourceLinear = "linear"
	SourceAPI    = "api"
)

// Source says where a workspace came from. The field of its Kind holds what
// that source needs to report back; the others are nil.
//
// In JSON (the API, the launch request and the workspaces table) the details
// of every kind are the object "details", its numbers written as strings, so
// rows written before the details were typed decode unchanged.
type Source struct {
	Kind   string
	URL    string
	GitHub *GitHubSource
	Linear *LinearSource
	API    *APISource
}

// GitHubSource is the pull request comment or review that asked.
type GitHubSource struct {
	CommentID      int64  `json:"comment_id,string"`
	CommentKind    string `json:"comment_kind"` // issue_comment, review_comment or review
	InstallationID int64  `json:"installation_id,string"`
	PullRequest    int    `json:"pull_request,string"`
	Repository     string `json:"repository"` // owner/name
	Sender         string `json:"sender"`     // the GitHub login that asked
}

// LinearSource is the issue, and the agent session when there is one.
type LinearSource struct {
	AgentSessionID string `json:"agent_session_id,omitempty"`
	Identifier     string `json:"identifier"` // e.g. ENG-42
	IssueID        string `json:"issue_id"`
	OrganizationID string `json:"organization_id"` // Linear's
	Team           string `json:"team,omitempty"`  // the team's key
}

// APISource is the API caller that asked.
type APISource struct {
	RequestedBy string `json:"requested_by"`
}

type sourceJSON struct {
	Kind    string          `json:"kind"`
	URL     string          `json:"url,omitempty"`
	Details json.RawMessage `json:"details,omitempty"`
}

// MarshalJSON writes the details of the set field as "details".
func (s Source) MarshalJSON() ([]byte, error) {
	out := sourceJSON{Kind: s.Kind, URL: s.URL}
	var details any
	switch {
	case s.GitHub != nil:
		details = s.GitHub
	case s.Linear != nil:
		details = s.Linear
	case s.API != nil:
		details = s.API
	}
	if details != nil {
		b, err := json.Marshal(details)
		if err != nil {
			return nil, err
		}
		out.Details = b
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads "details" into the field of the source's kind; the
// details of another kind are not kept.
func (s *Source) UnmarshalJSON(b []byte) error {
	var in sourceJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*s = Source{Kind: in.Kind, URL: in.URL}
	if len(in.Details) == 0 || string(in.Details) == "null" {
		return nil
	}
	var details any
	switch in.Kind {
	case SourceGitHub:
		s.GitHub = &GitHubSource{}
		details = s.GitHub
	case SourceLinear:
		s.Linear = &LinearSource{}
		details = s.Linear
	case SourceAPI:
		s.API = &APISource{}
		details = s.API
	default:
		return nil
	}
	if err := json.Unmarshal(in.Details, details); err != nil {
		return fmt.Errorf("%s source details: %w", in.Kind, err)
	}
	return nil
}
