// How a workspace's conversation reads on its page: one list in time order,
// each entry labelled (message number and kind, or the activity's type), its
// author and time, and its text, long texts folded.

package web

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tryreplicas/gateway/integrations/activity"
	"github.com/tryreplicas/gateway/integrations/conversation"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// Text lengths on the page, in characters: shown at once, and at most
// behind "Show the rest".
const (
	shortText = 600
	maxText   = 8000
)

type wsView struct {
	workspaceRow
	Owner, CanSend, CanStop            bool
	Entries                            []entryView
	EarlierMessages, EarlierActivities int64
}

type entryView struct {
	Anchor    string // m<seq> or a<seq>
	Class     string // message, stop, thought, action, response, error, elicitation
	Label     string
	Who       string
	At        time.Time
	Text      clipped
	Action    string
	Parameter string
	Result    clipped
}

// clipped is a text cut for the page: Short is shown, Rest is folded, and
// Hidden characters past maxText are left out.
type clipped struct {
	Short, Rest string
	Hidden      int
}

func (c clipped) Empty() bool { return c.Short == "" }

func workspaceView(v conversation.View, viewerID string) wsView {
	out := wsView{workspaceRow: row(v.Workspace, viewerID), Owner: v.Owner, CanSend: v.CanSend, CanStop: v.CanStop,
		EarlierMessages: v.EarlierMessages, EarlierActivities: v.EarlierActivities}
	for _, e := range v.Entries {
		switch {
		case e.Message != nil:
			out.Entries = append(out.Entries, messageEntry(*e.Message))
		case e.Activity != nil:
			out.Entries = append(out.Entries, activityEntry(*e.Activity))
		}
	}
	return out
}

func messageEntry(m launch.Message) entryView {
	e := entryView{Anchor: fmt.Sprintf("m%d", m.Seq), Class: "message", Label: fmt.Sprintf("Message %d · %s", m.Seq, m.Kind), At: m.CreatedAt, Text: clip(m.Body)}
	if m.Kind == launch.MessageStop {
		e.Class = "stop"
	}
	switch {
	case m.Author.Login != "":
		e.Who = "@" + m.Author.Login
	case m.Author.Email != "":
		e.Who = m.Author.Email
	}
	return e
}

var activityLabels = map[activity.Type]string{activity.Thought: "Thought", activity.Action: "Action", activity.Response: "Response",
	activity.Error: "Error", activity.Elicitation: "Question"}

func activityEntry(a activity.Activity) entryView {
	label := activityLabels[a.Type]
	if label == "" {
		label = string(a.Type)
	}
	return entryView{Anchor: fmt.Sprintf("a%d", a.Seq), Class: string(a.Type), Label: label, Who: "agent", At: a.CreatedAt,
		Text: clip(a.Body), Action: a.Action, Parameter: a.Parameter, Result: clip(a.Result)}
}

// clip cuts s after about shortText characters, at a line end or a space
// when one is near, and leaves out what is past maxText.
func clip(s string) clipped {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= shortText {
		return clipped{Short: s}
	}
	cut := byteIndex(s, shortText)
	if i := strings.LastIndexAny(s[:cut], "\n "); i > byteIndex(s, shortText*2/3) {
		cut = i
	}
	c := clipped{Short: strings.TrimRight(s[:cut], " \n"), Rest: strings.TrimLeft(s[cut:], " \n")}
	if n := utf8.RuneCountInString(c.Rest); n > maxText-shortText {
		end := byteIndex(c.Rest, maxText-shortText)
		c.Hidden = utf8.RuneCountInString(c.Rest[end:])
		c.Rest = c.Rest[:end]
	}
	return c
}

// byteIndex is where the n-th character of s starts (len(s) past its end).
func byteIndex(s string, n int) int {
	for i := range s {
		if n == 0 {
			return i
		}
		n--
	}
	return len(s)
}
