package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/routerd/routerd/router"
)

// askTimeout bounds how long a console waits for the nodes' reports: a
// node that has not answered by then (its console is off, or it is slow)
// is listed without its figures.
const askTimeout = 800 * time.Millisecond

// asked is what a request to every node collected.
type asked struct {
	reports []nodeReport     // the answers, in the order of live
	missing []router.NodeRef // the live nodes that did not answer
	live    []router.NodeRef // the live nodes as this node's router knows them, this one first
}

// ask sends req to every node and collects their reports until every live
// node answered or askTimeout passed.
func (c *Console) ask(ctx context.Context, req nodeRequest) (asked, error) {
	live := c.r.LiveNodes()
	b, err := json.Marshal(req)
	if err != nil {
		return asked{}, fmt.Errorf("admin: encode node request: %w", err)
	}
	nc := c.bus.Main().NC()
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return asked{}, fmt.Errorf("admin: ask the nodes: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest(c.names.Admin(), inbox, b); err != nil {
		return asked{}, fmt.Errorf("admin: ask the nodes: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, askTimeout)
	defer cancel()
	want := make(map[string]bool, len(live))
	for _, n := range live {
		want[n.ID] = true
	}
	got := make(map[string]nodeReport, len(live))
	others := []nodeReport{} // nodes heard of since live was read
	for len(want) > 0 {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			break
		}
		var rep nodeReport
		if json.Unmarshal(m.Data, &rep) != nil || rep.ID == "" {
			continue
		}
		if want[rep.ID] {
			delete(want, rep.ID)
			got[rep.ID] = rep
		} else if _, dup := got[rep.ID]; !dup {
			got[rep.ID] = rep
			others = append(others, rep)
		}
	}
	a := asked{live: live}
	for _, n := range live {
		if rep, ok := got[n.ID]; ok {
			a.reports = append(a.reports, rep)
		} else {
			a.missing = append(a.missing, n)
		}
	}
	a.reports = append(a.reports, others...)
	return a, nil
}
