package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// MessageService serves a workspace's conversation (launch.Service).
type MessageService interface {
	Messages(ctx context.Context, workspaceID string, after int64, wait time.Duration) ([]launch.Message, error)
	Send(ctx context.Context, id string, by launch.Actor, body string) (launch.Message, error)
}

// writeSlack is how much longer than its wait a long poll may take to
// write its answer.
const writeSlack = 15 * time.Second

func (s *Server) messageRoutes(user, ws *gin.RouterGroup) {
	ws.GET("/messages", s.h(s.workspaceMessages))
	user.POST("/workspaces/:id/messages", s.h(s.sendMessage))
}

// workspaceMessages answers the messages after ?after= (the last one the
// workspace handled), waiting up to ?wait= seconds for one to arrive.
func (s *Server) workspaceMessages(c *gin.Context) error {
	after, err := intParam(c, "after")
	if err != nil {
		return err
	}
	wait, err := intParam(c, "wait")
	if err != nil {
		return err
	}
	if wait > 0 {
		// The server's write timeout is as long as the longest wait: give
		// this answer its own deadline past the wait.
		_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(time.Duration(wait)*time.Second + writeSlack))
	}
	list, err := s.Messages.Messages(c.Request.Context(), workspaceCaller(c).ID, after, time.Duration(wait)*time.Second)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"messages": list})
	return nil
}

type sendMessageRequest struct {
	Body string `json:"body"`
}

// sendMessage is a message from a workspace's owner to their active
// workspace.
func (s *Server) sendMessage(c *gin.Context) error {
	var req sendMessageRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	m, err := s.Messages.Send(c.Request.Context(), c.Param("id"), actor(principal(c)), req.Body)
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, m)
	return nil
}

// intParam is a non-negative integer query parameter, 0 when absent.
func intParam(c *gin.Context, key string) (int64, error) {
	v := queryParam(c, key)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > 1<<31 { // bounded: a wait in seconds never overflows a Duration
		return 0, errs.Invalid("%s must be a whole number (0 or more)", key)
	}
	return n, nil
}
