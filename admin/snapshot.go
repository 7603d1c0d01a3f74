package admin

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/routerd/routerd/config"
)

// snapshot is the cluster as the console shows it, once a second.
type snapshot struct {
	Time       time.Time    `json:"time"`
	Node       string       `json:"node"` // the node serving this console
	Nodes      []nodeView   `json:"nodes"`
	Namespaces []nsView     `json:"namespaces"`
	Streams    []streamView `json:"streams"`
	// Rates are the cluster's, over the last interval; nil in the first
	// snapshot of a stream (no interval yet) and in /api/snapshot.
	Rates *rates `json:"rates"`
	// Partial reports that a live node did not answer (its console is
	// off, or it did not answer in time): its figures are missing.
	Partial bool `json:"partial"`
}

// nodeView is one node in a snapshot.
type nodeView struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Answered    bool       `json:"answered"` // false: only heartbeats tell of it
	Version     string     `json:"version,omitempty"`
	Started     *time.Time `json:"started,omitempty"`
	Connections int        `json:"connections"`
	Sockets     int        `json:"sockets"`
	NATS        *natsState `json:"nats,omitempty"`
}

// nsView is one namespace in a snapshot: every declared namespace, and the
// namespaces of glob keys that have sockets.
type nsView struct {
	Name      string     `json:"name"`
	Key       string     `json:"key"` // the namespaces key it matches (itself, or a glob)
	Policy    policyView `json:"policy"`
	Sockets   int        `json:"sockets"`
	RoomCount int        `json:"room_count"`
	Rooms     []roomView `json:"rooms"` // by members, most first
}

// policyView is a namespace's policy.
type policyView struct {
	Auth           string `json:"auth"`
	ClientJoin     bool   `json:"client_join"`
	ClientPublish  string `json:"client_publish"`
	Direct         bool   `json:"direct"`
	Presence       bool   `json:"presence"`
	PresenceEvents bool   `json:"presence_events"`
	History        string `json:"history,omitempty"` // "100 msgs, 24h" or "" without
}

// roomView is one room in a snapshot.
type roomView struct {
	Room    string  `json:"room"`
	Members int     `json:"members"`
	Rate    float64 `json:"rate"` // events published to the room per second
}

// rates are the cluster's rates over an interval.
type rates struct {
	Deliveries   float64  `json:"deliveries"`    // events queued to sockets per second
	SlowConsumer float64  `json:"slow_consumer"` // connections closed as slow consumers per second
	RateLimited  float64  `json:"rate_limited"`  // frames refused over the rate per second
	Dropped      float64  `json:"dropped"`       // messages dropped per second (routerd_dropped_total)
	AckMeanMS    *float64 `json:"ack_mean_ms"`   // mean round trip of server-bound requests; nil without any
	AckP99MS     *float64 `json:"ack_p99_ms"`    // the bucket bound its 99th percentile is in
}

// sample is what the previous interval's reports said of a node, for its
// rates.
type sample struct {
	at time.Time
	c  counters
}

// build merges the nodes' reports (a), the rooms' events per second
// (roomRates: by namespace and room; nil for none) and the history streams
// into a snapshot, with the cluster's rates when withRates; prev holds
// each node's previous counters and is updated: a node's rates need two
// reports.
func (c *Console) build(a asked, roomRates map[string]map[string]float64, withRates bool, streams []streamView, prev map[string]sample, now time.Time) snapshot {
	s := snapshot{Time: now.UTC(), Node: c.r.Node(), Streams: streams, Partial: len(a.missing) > 0}
	if s.Streams == nil {
		s.Streams = []streamView{}
	}
	type nsAcc struct {
		sockets, roomCount int
		rooms              map[string]int
	}
	acc := map[string]*nsAcc{}
	for _, rep := range a.reports {
		v := nodeView{ID: rep.ID, Name: rep.Name, Answered: true, Version: rep.Version, Connections: rep.Connections}
		started, nats := rep.Started, rep.NATS
		v.Started, v.NATS = &started, &nats
		for _, ns := range rep.Namespaces {
			v.Sockets += ns.Sockets
			e := acc[ns.Name]
			if e == nil {
				e = &nsAcc{rooms: map[string]int{}}
				acc[ns.Name] = e
			}
			e.sockets += ns.Sockets
			e.roomCount = max(e.roomCount, ns.RoomCount)
			for room, n := range ns.Rooms {
				e.rooms[room] += n
			}
		}
		s.Nodes = append(s.Nodes, v)
	}
	for _, n := range a.missing {
		s.Nodes = append(s.Nodes, nodeView{ID: n.ID, Name: n.Name})
	}
	if withRates {
		s.Rates = clusterRates(a.reports, prev, now)
	}
	for _, rep := range a.reports {
		prev[rep.ID] = sample{at: now, c: rep.Counters}
	}
	for id, p := range prev {
		if now.Sub(p.at) > time.Minute {
			delete(prev, id) // a node gone
		}
	}

	names := map[string]bool{}
	for key := range c.cfg.Namespaces {
		if config.ValidNamespaceName(key) {
			names[key] = true
		}
	}
	for name := range acc {
		names[name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		key, policy, ok := c.cfg.NamespaceKey(name)
		if !ok {
			continue
		}
		v := nsView{Name: name, Key: key, Policy: viewPolicy(policy), Rooms: []roomView{}}
		if e := acc[name]; e != nil {
			v.Sockets = e.sockets
			v.RoomCount = max(e.roomCount, len(e.rooms))
			for room, n := range e.rooms {
				v.Rooms = append(v.Rooms, roomView{Room: room, Members: n, Rate: roomRates[name][room]})
			}
		}
		slices.SortFunc(v.Rooms, func(a, b roomView) int {
			if d := b.Members - a.Members; d != 0 {
				return d
			}
			return strings.Compare(a.Room, b.Room)
		})
		s.Namespaces = append(s.Namespaces, v)
	}
	if s.Namespaces == nil {
		s.Namespaces = []nsView{}
	}
	return s
}

// clusterRates sums the nodes' counters' growth since their previous samples in
// prev, per second. A node seen for the first time counts from its next
// report; a counter that went down (the node restarted under the same
// instance id, which cannot happen, or a reset) counts from zero.
func clusterRates(reports []nodeReport, prev map[string]sample, now time.Time) *rates {
	out := &rates{}
	var acks, ackSeconds float64
	var buckets []bucket
	for _, rep := range reports {
		p, ok := prev[rep.ID]
		dt := now.Sub(p.at).Seconds()
		if !ok || dt <= 0 {
			continue
		}
		cur := rep.Counters
		out.Deliveries += growth(cur.Deliveries, p.c.Deliveries) / dt
		out.SlowConsumer += growth(cur.SlowConsumer, p.c.SlowConsumer) / dt
		out.RateLimited += growth(cur.RateLimited, p.c.RateLimited) / dt
		out.Dropped += growth(cur.Dropped, p.c.Dropped) / dt
		acks += growth(cur.Acks, p.c.Acks)
		ackSeconds += growth(cur.AckSeconds, p.c.AckSeconds)
		for i, b := range cur.AckBuckets {
			if i >= len(p.c.AckBuckets) || p.c.AckBuckets[i].Le != b.Le {
				break
			}
			if i >= len(buckets) {
				buckets = append(buckets, bucket{Le: b.Le})
			}
			if buckets[i].Le == b.Le {
				buckets[i].N += growth(b.N, p.c.AckBuckets[i].N)
			}
		}
	}
	if acks > 0 {
		mean := ackSeconds / acks * 1000
		out.AckMeanMS = &mean
		for _, b := range buckets {
			if b.N >= 0.99*acks {
				p99 := b.Le * 1000
				out.AckP99MS = &p99
				break
			}
		}
		if out.AckP99MS == nil && len(buckets) > 0 {
			last := buckets[len(buckets)-1].Le * 1000 // beyond the last bound: at least that
			out.AckP99MS = &last
		}
	}
	return out
}

// growth is how much a counter grew from was to now; a counter that went
// down was reset, and grew by now.
func growth(now, was float64) float64 {
	if now < was {
		return now
	}
	return now - was
}

// viewPolicy describes a namespace policy.
func viewPolicy(p config.Namespace) policyView {
	v := policyView{Auth: p.Auth, ClientJoin: p.ClientJoin, ClientPublish: p.ClientPublish, Direct: p.Direct, Presence: p.Presence, PresenceEvents: p.PresenceEvents}
	if h := p.History; h != nil {
		v.History = fmt.Sprintf("%d msgs", h.MaxMsgs)
		if h.MaxAge > 0 {
			v.History += ", " + h.MaxAge.String()
		}
	}
	return v
}
