// The workspace's activity stream: what it is thinking and doing, relayed to
// the issue or pull request it works for.

package httpapi

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/tryreplicas/gateway/integrations/activity"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// ActivityPoster records a workspace's activities (activity.Service).
type ActivityPoster interface {
	Post(ctx context.Context, ws launch.Workspace, a activity.Activity) (activity.Activity, error)
}

func (s *Server) activityRoutes(ws *gin.RouterGroup) {
	ws.POST("/activities", s.h(s.postActivity))
}

type activityRequest struct {
	Type      activity.Type `json:"type"`
	Body      string        `json:"body"`
	Action    string        `json:"action"`
	Parameter string        `json:"parameter"`
	Result    string        `json:"result"`
	Ephemeral bool          `json:"ephemeral"`
}

func (s *Server) postActivity(c *gin.Context) error {
	var req activityRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	a, err := s.Activities.Post(c.Request.Context(), workspaceCaller(c), activity.Activity{
		Type: req.Type, Body: req.Body, Action: req.Action, Parameter: req.Parameter, Result: req.Result, Ephemeral: req.Ephemeral,
	})
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, a)
	return nil
}
