package launch

import "time"

// SetClock makes s read the time from now (token expiry tests).
func SetClock(s *Service, now func() time.Time) { s.store.now = now }
