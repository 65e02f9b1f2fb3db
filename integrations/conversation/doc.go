// Package conversation is a workspace as its page shows it: the workspace,
// its messages and its activities in the order they happened, and what the
// viewer may do there. Its owner sends follow-ups while it is active; the
// owner or an admin of its org stops it. Anyone else is told it does not
// exist. The viewer may be looking at another of their orgs: the workspace's
// own org decides, by the viewer's membership and role there.
package conversation
