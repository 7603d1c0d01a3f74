package admin

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Bounds of the history streams a snapshot lists.
const (
	maxStreams     = 500             // streams listed
	streamsEvery   = 5 * time.Second // how often a live console reads them again
	streamsTimeout = 2 * time.Second // bound on reading them
)

// streamView is a namespace's history stream (docs/history.md) as JetStream reports it.
type streamView struct {
	Name     string     `json:"name"`
	NS       string     `json:"ns"`
	Account  string     `json:"account,omitempty"` // the tenant account; "" for routerd's own
	Messages uint64     `json:"messages"`
	Bytes    uint64     `json:"bytes"`
	FirstSeq uint64     `json:"first_seq"`
	LastSeq  uint64     `json:"last_seq"`
	LastTime *time.Time `json:"last_time,omitempty"`
	Subjects uint64     `json:"subjects"` // room and event pairs kept
	Replicas int        `json:"replicas"`
}

// historyStreams lists the history streams of routerd's namespaces, in
// every account routerd works in, by name; nil when no namespace keeps
// history. A JetStream that cannot be read leaves its account's streams
// out (it is logged at debug: the console shows what it can).
func (c *Console) historyStreams(ctx context.Context) []streamView {
	if !c.history {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, streamsTimeout)
	defer cancel()
	prefix := c.names.HistoryStream("")
	out := []streamView{}
	for _, conn := range c.bus.Conns() {
		l := conn.JetStream().ListStreams(ctx, jetstream.WithStreamListSubject(c.subj.Prefix()+".>"))
		for info := range l.Info() {
			ns, ok := strings.CutPrefix(info.Config.Name, prefix)
			if !ok || len(out) >= maxStreams {
				continue
			}
			v := streamView{
				Name: info.Config.Name, NS: ns, Account: conn.Account(),
				Messages: info.State.Msgs, Bytes: info.State.Bytes,
				FirstSeq: info.State.FirstSeq, LastSeq: info.State.LastSeq,
				Subjects: info.State.NumSubjects, Replicas: info.Config.Replicas,
			}
			if t := info.State.LastTime; !t.IsZero() {
				t = t.UTC()
				v.LastTime = &t
			}
			out = append(out, v)
		}
		if err := l.Err(); err != nil {
			c.log.Debug("admin: list history streams", "account", conn.Account(), "err", err)
		}
	}
	slices.SortFunc(out, func(a, b streamView) int { return strings.Compare(a.Name, b.Name) })
	return out
}
