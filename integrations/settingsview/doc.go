// Package settingsview is each settings page as it shows to one caller,
// gathered in one call: the user's own settings (credentials and chains,
// GitHub account, personal tokens, orgs), and for admins of the org the
// members with their chains and the pending invitations, the integrations
// (GitHub, Linear and its team mapping), and the audit log with its actors
// named. An admin page refuses anyone but an admin of the caller's current
// org. Members' chains are read at once, whatever their number; another
// member's personal credentials show by method and status only.
package settingsview
