package conversation

import (
	"strconv"
	"strings"
	"testing"
	"time"

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
