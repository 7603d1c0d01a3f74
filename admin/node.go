package admin

import (
	"encoding/json"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	dto "github.com/prometheus/client_model/go"

	"github.com/routerd/routerd/contract"
	"github.com/routerd/routerd/router"
)

// What each node tells the console: every node with the console on
// answers the requests of the consoles of the cluster on
// $routerd.{P}.admin (relay.Names.Admin) with a nodeReport of its own
// sockets, rooms and metrics. The node serving a console asks every node
// and merges the answers; a node without the console (admin.enabled off)
// does not answer and is listed without its figures.

// Bounds of a report, so that it fits a NATS message with room to spare
// whatever the node holds.
const (
	maxReportNamespaces = 200  // the namespaces with the most sockets
	maxReportRooms      = 500  // the rooms with the most members, per namespace
	maxReportRoomsAll   = 2000 // the rooms of every namespace together
	maxSockets          = 500  // the sockets a sockets request lists per node
)

// Operations of a nodeRequest.
const (
	opInfo    = "info"    // the node's figures and namespaces
	opSockets = "sockets" // the node's sockets of a namespace, or of one of its rooms
)

// nodeRequest is a console's request to every node.
type nodeRequest struct {
	Op    string `json:"op"`
	NS    string `json:"ns,omitempty"`    // sockets: the namespace
	Room  string `json:"room,omitempty"`  // sockets: only this room's members
	Limit int    `json:"limit,omitempty"` // sockets: at most this many (maxSockets)
}

// nodeReport is one node's answer to a nodeRequest.
type nodeReport struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Version string    `json:"version,omitempty"`
	Started time.Time `json:"started"`
	Error   string    `json:"error,omitempty"`

	// info
	Connections int       `json:"connections"`
	NATS        natsState `json:"nats"`
	Namespaces  []nsCount `json:"namespaces,omitempty"`
	Counters    counters  `json:"counters"`

	// sockets
	Sockets []socketInfo `json:"sockets,omitempty"`
	Total   int          `json:"total,omitempty"` // the sockets that matched, listed or not
}

// natsState is the state of a node's NATS connections.
type natsState struct {
	Connected  bool   `json:"connected"`  // every connection is
	Status     string `json:"status"`     // routerd's own connection's (CONNECTED, RECONNECTING, ...)
	Server     string `json:"server"`     // the server it is connected to, without credentials
	Reconnects uint64 `json:"reconnects"` // of routerd's own connection
	Accounts   int    `json:"accounts"`   // connections: routerd's own and one per tenant account
}

// nsCount is what a node holds of a namespace.
type nsCount struct {
	Name      string         `json:"name"`
	Sockets   int            `json:"sockets"`
	RoomCount int            `json:"room_count"` // rooms with members here, listed or not
	Rooms     map[string]int `json:"rooms"`      // members here, of the rooms with the most
}

// socketInfo is one socket as the console lists it.
type socketInfo struct {
	NS    string   `json:"ns"`
	SID   string   `json:"sid"`
	User  string   `json:"user,omitempty"`
	Rooms []string `json:"rooms,omitempty"`
	Node  string   `json:"node"`
	detail
}

// detail is what the handshake of a socket tells of its connection.
type detail struct {
	Transport string     `json:"transport,omitempty"` // native, or socket.io/polling|websocket (what the connection opened with)
	Address   string     `json:"address,omitempty"`   // the client's IP address
	Since     *time.Time `json:"since,omitempty"`     // when it connected to the namespace
}

// detailOf reads the handshake of a socket of this node (router.SocketInfo):
// nothing of a socket another node handed over (Socket.IO recovery),
// whose handshake has no URL, its connection's request being that node's.
func (c *Console) detailOf(hs *contract.Handshake) detail {
	if hs == nil || hs.URL == "" {
		return detail{}
	}
	t := hs.Time
	return detail{Transport: c.transport(hs.URL), Address: hs.Address, Since: &t}
}

// transport names the transport of a connection that opened with the
// request target u: socket.io/polling or socket.io/websocket for the
// Socket.IO endpoint (the transport the session started with), native
// otherwise.
func (c *Console) transport(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	if c.cfg.SocketIO.Enabled && strings.HasPrefix(p.Path, c.cfg.SocketIO.Path) {
		if t := p.Query().Get("transport"); t == "polling" || t == "websocket" {
			return "socket.io/" + t
		}
		return "socket.io"
	}
	return "native"
}

// handleRequest answers a console's nodeRequest for this node.
func (c *Console) handleRequest(m *nats.Msg) {
	var req nodeRequest
	rep := nodeReport{ID: c.r.InstanceID(), Name: c.r.Node(), Version: c.version, Started: c.started}
	if err := json.Unmarshal(m.Data, &req); err != nil {
		rep.Error = "bad request: " + err.Error()
	} else {
		switch req.Op {
		case opInfo:
			c.info(&rep)
		case opSockets:
			c.sockets(req, &rep)
		default:
			rep.Error = "unknown operation " + req.Op
		}
	}
	b, err := json.Marshal(rep)
	if err != nil {
		c.log.Warn("admin: encode a node report", "err", err)
		return
	}
	if err := m.Respond(b); err != nil {
		c.log.Debug("admin: answer a node request", "err", err)
	}
}

// info fills rep with this node's figures and namespaces.
func (c *Console) info(rep *nodeReport) {
	conns := c.bus.Conns()
	nc := conns[0].NC()
	rep.NATS = natsState{
		Connected:  c.bus.Connected(),
		Status:     nc.Status().String(),
		Server:     nc.ConnectedUrlRedacted(),
		Reconnects: nc.Stats().Reconnects,
		Accounts:   len(conns),
	}
	families, err := c.reg.Gather()
	if err != nil {
		c.log.Debug("admin: gather metrics", "err", err) // a partial gather still has what it could read
	}
	rep.Connections, rep.Counters = readMetrics(families)
	local := c.r.LocalNamespaces()
	slices.SortStableFunc(local, func(a, b router.NamespaceCount) int { return b.Sockets - a.Sockets })
	if len(local) > maxReportNamespaces {
		local = local[:maxReportNamespaces]
	}
	budget := maxReportRoomsAll
	for _, ns := range local {
		rooms := make([]string, 0, len(ns.Rooms))
		for name := range ns.Rooms {
			rooms = append(rooms, name)
		}
		slices.SortFunc(rooms, func(a, b string) int {
			if d := ns.Rooms[b] - ns.Rooms[a]; d != 0 {
				return d
			}
			return strings.Compare(a, b)
		})
		rooms = rooms[:min(len(rooms), maxReportRooms, budget)]
		budget -= len(rooms)
		e := nsCount{Name: ns.Name, Sockets: ns.Sockets, RoomCount: len(ns.Rooms), Rooms: make(map[string]int, len(rooms))}
		for _, name := range rooms {
			e.Rooms[name] = ns.Rooms[name]
		}
		rep.Namespaces = append(rep.Namespaces, e)
	}
}

// sockets fills rep with this node's sockets that req asks for.
func (c *Console) sockets(req nodeRequest, rep *nodeReport) {
	limit := req.Limit
	if limit < 1 || limit > maxSockets {
		limit = maxSockets
	}
	list, total := c.r.LocalSockets(req.NS, req.Room, limit)
	rep.Total = total
	for _, s := range list {
		rep.Sockets = append(rep.Sockets, socketInfo{NS: s.NS, SID: s.SID, User: s.User, Rooms: s.Rooms, Node: rep.Name, detail: c.detailOf(s.Handshake)})
	}
}

// counters are the node's metrics the console charts, as totals since the
// node started: the console charts their rates.
type counters struct {
	Deliveries   float64  `json:"deliveries"`    // routerd_deliveries_total
	SlowConsumer float64  `json:"slow_consumer"` // routerd_closes_total{reason="slow_consumer"}
	RateLimited  float64  `json:"rate_limited"`  // routerd_errors_total{code="rate_limited"}: frames refused over the rate
	Dropped      float64  `json:"dropped"`       // routerd_dropped_total, every reason
	Acks         float64  `json:"acks"`          // routerd_ack_roundtrip_seconds: count
	AckSeconds   float64  `json:"ack_seconds"`   // and sum
	AckBuckets   []bucket `json:"ack_buckets,omitempty"`
}

// bucket is a histogram bucket: the observations up to Le seconds.
type bucket struct {
	Le float64 `json:"le"`
	N  float64 `json:"n"` // cumulative
}

// readMetrics reads the open connections and the counters from a node's
// metric families.
func readMetrics(families []*dto.MetricFamily) (connections int, c counters) {
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "routerd_connections":
				connections = int(m.GetGauge().GetValue())
			case "routerd_deliveries_total":
				c.Deliveries += m.GetCounter().GetValue()
			case "routerd_closes_total":
				if label(m, "reason") == "slow_consumer" {
					c.SlowConsumer += m.GetCounter().GetValue()
				}
			case "routerd_errors_total":
				if label(m, "code") == string(contract.CodeRateLimited) {
					c.RateLimited += m.GetCounter().GetValue()
				}
			case "routerd_dropped_total":
				c.Dropped += m.GetCounter().GetValue()
			case "routerd_ack_roundtrip_seconds":
				h := m.GetHistogram()
				c.Acks, c.AckSeconds = float64(h.GetSampleCount()), h.GetSampleSum()
				c.AckBuckets = c.AckBuckets[:0]
				for _, b := range h.GetBucket() {
					c.AckBuckets = append(c.AckBuckets, bucket{Le: b.GetUpperBound(), N: float64(b.GetCumulativeCount())})
				}
			}
		}
	}
	return connections, c
}

// label returns the value of a metric's label.
func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// buildVersion returns the version of the running binary as its build
// information has it: the main module's version and, when stamped, the
// first 12 hex digits of the commit ("v1.2.3", "(devel) 0123456789ab").
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return strings.TrimSpace(v)
}
