// Package metrics holds routerd's Prometheus collectors. A nil *Metrics
// records nothing, so packages can be used without metrics in tests.
package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics is the set of routerd's collectors, registered on one registry.
type Metrics struct {
	connections   prometheus.Gauge
	refused       *prometheus.CounterVec
	sockets       *prometheus.GaugeVec
	namespaces    prometheus.Gauge
	rooms         prometheus.Gauge
	framesIn      *prometheus.CounterVec
	framesOut     *prometheus.CounterVec
	published     *prometheus.CounterVec
	deliveries    prometheus.Counter
	eventsOut     prometheus.Counter // frames_out{type="event"}
	fanout        prometheus.Histogram
	dropped       *prometheus.CounterVec
	closes        *prometheus.CounterVec
	errors        *prometheus.CounterVec
	natsConnected prometheus.Gauge
	ackRTT        prometheus.Histogram
	peerSockets   prometheus.Gauge
	nodes         prometheus.Gauge
	nodesBack     prometheus.Counter
	partial       *prometheus.CounterVec
	nodesLost     prometheus.Counter
	replays       *prometheus.CounterVec
	replayed      prometheus.Counter
	replayTime    prometheus.Histogram
	tunnels       *prometheus.GaugeVec
	natsRedials   prometheus.Counter
	clientAcks    *prometheus.CounterVec
	sioUnanswered prometheus.Counter
	sioRecoveries *prometheus.CounterVec
	sioParked     prometheus.Gauge
	leafnodes     atomic.Pointer[func() (up, remotes int)] // see CountLeafnodes
}

// New creates the collectors and registers them on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "routerd_connections", Help: "Open WebSocket connections."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routerd_connections_refused_total", Help: "Connections refused before or at the upgrade, by reason."}, []string{"reason"}),
		sockets: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "routerd_sockets", Help: "Attached sockets by namespace."}, []string{"namespace"}),
		namespaces: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "routerd_namespaces", Help: "Namespaces with local sockets."}),
		rooms: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "routerd_rooms", Help: "Rooms with local members (one NATS subscription each)."}),
		framesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routerd_frames_in_total", Help: "Client frames received, by type."}, []string{"type"}),
		framesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routerd_frames_out_total", Help: "Frames queued to clients, by type."}, []string{"type"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routerd_published_total", Help: "Messages published to NATS for clients, by namespace."}, []string{"namespace"}),
		deliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routerd_deliveries_total", Help: "Event frames queued to sockets."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routerd_dropped_total", Help: "Messages dropped, by reason."}, []string{"reason"}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routerd_closes_total", Help: "Connections closed by the server, by reason."}, []string{"reason"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routerd_errors_total", Help: "Error frames sent to clients, by code."}, []string{"code"}),
		natsConnected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "routerd_nats_connected", Help: "1 while connected to NATS."}),
		ackRTT: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "routerd_ack_roundtrip_seconds", Help: "Round trip of server-bound requests to backends.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}),
	}
	m.replays = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "routerd_history_replays_total", Help: "Joins with since, by outcome: recovered, not_recovered, failed."}, []string{"outcome"})
	m.replayed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "routerd_history_replayed_events_total", Help: "Stored events replayed to joining sockets."})
	m.replayTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "routerd_history_replay_seconds", Help: "Time from a join with since to live delivery.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)})
	reg.MustRegister(m.replays, m.replayed, m.replayTime)
	m.peerSockets = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "routerd_peer_sockets", Help: "Sockets held by other nodes that this node knows of (to speak for them if their node dies)."})
	m.nodes = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "routerd_nodes", Help: "routerd nodes alive on the bus as heartbeats show, this one included; updated once a lost node's sockets are accounted for."})
	m.tunnels = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "routerd_socketio_tunnels", Help: "Socket.IO WebSockets tunnelled between nodes, by this node's side: edge (accepted the WebSocket) or owner (holds the session)."}, []string{"side"})
	reg.MustRegister(m.peerSockets, m.nodes, m.tunnels)
	m.nodesBack = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "routerd_nodes_returned_total", Help: "routerd nodes found lost that this node heard again, the same instance (a network partition healed)."})
	m.partial = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "routerd_gather_partial_total", Help: "Cluster-wide requests (presence, ctl) answered without the answer of a node counted alive, by operation."}, []string{"op"})
	reg.MustRegister(m.nodesBack, m.partial)
	m.nodesLost = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "routerd_nodes_lost_total", Help: "routerd nodes this node found lost (no heartbeat within 6 s, or restarted without leaving) and spoke for; every surviving node counts each loss. A node that shuts down is not lost."})
	reg.MustRegister(m.nodesLost)
	m.eventsOut = m.framesOut.WithLabelValues("event")
	m.fanout = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "routerd_fanout_seconds", Help: "Time to queue one NATS message to every local recipient.",
		Buckets: prometheus.ExponentialBuckets(0.000001, 4, 10)})
	reg.MustRegister(m.fanout)
	m.natsRedials = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "routerd_nats_redials_total", Help: "NATS connections dialled anew after the client library gave one up for good (subscriptions restored)."})
	reg.MustRegister(m.natsRedials)
	m.clientAcks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "routerd_client_acks_total", Help: "Acks backends asked of clients (NATS requests to sockets), by outcome: answered, timeout, disconnected, refused (over the limit of acks owed, or the socket ending as it was asked)."}, []string{"outcome"})
	m.sioUnanswered = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "routerd_socketio_no_responders_total", Help: "Acked Socket.IO events no backend serves, left without an ack (socketio.no_responders: ignore)."})
	reg.MustRegister(m.clientAcks, m.sioUnanswered)
	m.sioRecoveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "routerd_socketio_recoveries_total", Help: "Socket.IO connects that asked to resume a socket (pid and offset), by outcome: local (a socket parked on this node), remote (taken over from the node that held it), history (its node gone: rooms back from history), none (a fresh socket)."}, []string{"outcome"})
	m.sioParked = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "routerd_socketio_parked", Help: "Socket.IO sockets of lost sessions kept for their clients to resume."})
	reg.MustRegister(m.sioRecoveries, m.sioParked)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "routerd_nats_leafnodes", Help: "Leafnode connections of the embedded NATS server to its remotes (nats.leafnodes.remotes) that are up: on an edge, fewer than routerd_nats_leafnode_remotes means it is cut off from the hub (it still serves its own clients, and stays ready)."},
		func() float64 { up, _ := m.countLeafnodes(); return float64(up) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "routerd_nats_leafnode_remotes", Help: "Leafnode remotes the embedded NATS server dials (nats.leafnodes.remotes); 0 on a node that is not an edge."},
		func() float64 { _, remotes := m.countLeafnodes(); return float64(remotes) }))
	reg.MustRegister(m.connections, m.refused, m.sockets, m.namespaces, m.rooms, m.framesIn, m.framesOut,
		m.published, m.deliveries, m.dropped, m.closes, m.errors, m.natsConnected, m.ackRTT)
	return m
}

// CountLeafnodes has routerd_nats_leafnodes and
// routerd_nats_leafnode_remotes read, at each scrape, from count: the
// embedded server's leafnode connections that are up, and its remotes.
func (m *Metrics) CountLeafnodes(count func() (up, remotes int)) {
	if m != nil {
		m.leafnodes.Store(&count)
	}
}

// countLeafnodes is what CountLeafnodes set, or none.
func (m *Metrics) countLeafnodes() (up, remotes int) {
	if f := m.leafnodes.Load(); f != nil {
		return (*f)()
	}
	return 0, 0
}

// ConnectionOpened counts an accepted connection.
func (m *Metrics) ConnectionOpened() {
	if m != nil {
		m.connections.Inc()
	}
}

// ConnectionClosed counts a connection gone.
func (m *Metrics) ConnectionClosed() {
	if m != nil {
		m.connections.Dec()
	}
}

// Refused counts a connection refused for reason.
func (m *Metrics) Refused(reason string) {
	if m != nil {
		m.refused.WithLabelValues(reason).Inc()
	}
}

// SocketUp counts a socket attached to ns.
func (m *Metrics) SocketUp(ns string) {
	if m != nil {
		m.sockets.WithLabelValues(ns).Inc()
	}
}

// SocketDown counts a socket detached from ns.
func (m *Metrics) SocketDown(ns string) {
	if m != nil {
		m.sockets.WithLabelValues(ns).Dec()
	}
}

// NamespaceUp counts a namespace that got its first local socket.
func (m *Metrics) NamespaceUp(ns string) {
	if m != nil {
		m.namespaces.Inc()
	}
}

// NamespaceDown counts a namespace whose last local socket left; its
// per-namespace series are dropped.
func (m *Metrics) NamespaceDown(ns string) {
	if m != nil {
		m.namespaces.Dec()
		m.sockets.DeleteLabelValues(ns)
		m.published.DeleteLabelValues(ns)
	}
}

// RoomUp counts a room that got its first local member.
func (m *Metrics) RoomUp() {
	if m != nil {
		m.rooms.Inc()
	}
}

// RoomDown counts a room whose last local member left.
func (m *Metrics) RoomDown() {
	if m != nil {
		m.rooms.Dec()
	}
}

// FrameIn counts a client frame of type t.
func (m *Metrics) FrameIn(t string) {
	if m != nil {
		m.framesIn.WithLabelValues(t).Inc()
	}
}

// FrameOut counts a frame of type t other than event queued to a client.
func (m *Metrics) FrameOut(t string) {
	if m != nil {
		m.framesOut.WithLabelValues(t).Inc()
	}
}

// Published counts a message published to NATS for a client of ns.
func (m *Metrics) Published(ns string) {
	if m != nil {
		m.published.WithLabelValues(ns).Inc()
	}
}

// Delivered counts n event frames queued to sockets by one fan-out that
// took d.
func (m *Metrics) Delivered(n int, d time.Duration) {
	if m != nil && n > 0 {
		m.deliveries.Add(float64(n))
		m.eventsOut.Add(float64(n))
		m.fanout.Observe(d.Seconds())
	}
}

// Dropped counts a message dropped for reason.
func (m *Metrics) Dropped(reason string) {
	if m != nil {
		m.dropped.WithLabelValues(reason).Inc()
	}
}

// Closed counts a connection the server closed for reason.
func (m *Metrics) Closed(reason string) {
	if m != nil {
		m.closes.WithLabelValues(reason).Inc()
	}
}

// Error counts an error frame with code.
func (m *Metrics) Error(code string) {
	if m != nil {
		m.errors.WithLabelValues(code).Inc()
	}
}

// NATSConnected records the NATS connection state.
func (m *Metrics) NATSConnected(up bool) {
	if m != nil {
		v := 0.0
		if up {
			v = 1
		}
		m.natsConnected.Set(v)
	}
}

// NATSRedialed counts a NATS connection dialled anew after nats.go gave
// the previous one up.
func (m *Metrics) NATSRedialed() {
	if m != nil {
		m.natsRedials.Inc()
	}
}

// AckRoundTrip records the round trip of one server-bound request.
func (m *Metrics) AckRoundTrip(d time.Duration) {
	if m != nil {
		m.ackRTT.Observe(d.Seconds())
	}
}

// ClientAck counts an ack a backend asked of a client, by its outcome:
// answered, timeout, disconnected or refused (not asked: over the limit,
// or the socket ending).
func (m *Metrics) ClientAck(outcome string) {
	if m != nil {
		m.clientAcks.WithLabelValues(outcome).Inc()
	}
}

// SocketIONoResponders counts an acked Socket.IO event no backend serves,
// left without an ack.
func (m *Metrics) SocketIONoResponders() {
	if m != nil {
		m.sioUnanswered.Inc()
	}
}

// Replayed records one join with since: its outcome (recovered,
// not_recovered, failed), the events replayed and how long it took.
func (m *Metrics) Replayed(outcome string, events int, d time.Duration) {
	if m != nil {
		m.replays.WithLabelValues(outcome).Inc()
		m.replayed.Add(float64(events))
		m.replayTime.Observe(d.Seconds())
	}
}

// PeerSockets adds n (which may be negative) to the sockets known on other
// nodes.
func (m *Metrics) PeerSockets(n int) {
	if m != nil {
		m.peerSockets.Add(float64(n))
	}
}

// Nodes sets the number of live routerd nodes.
func (m *Metrics) Nodes(n int) {
	if m != nil {
		m.nodes.Set(float64(n))
	}
}

// NodeLost counts a routerd node found lost (not one that left).
func (m *Metrics) NodeLost() {
	if m != nil {
		m.nodesLost.Inc()
	}
}

// NodeReturned counts a lost node heard again (a partition healed).
func (m *Metrics) NodeReturned() {
	if m != nil {
		m.nodesBack.Inc()
	}
}

// GatherPartial counts a cluster-wide request of operation op answered
// without the answer of a node counted alive.
func (m *Metrics) GatherPartial(op string) {
	if m != nil {
		m.partial.WithLabelValues(op).Inc()
	}
}

// Tunnel adds n (1 or -1) to the open Socket.IO tunnels of side ("edge" or
// "owner").
func (m *Metrics) Tunnel(side string, n int) {
	if m != nil {
		m.tunnels.WithLabelValues(side).Add(float64(n))
	}
}

// SocketIORecovery counts a Socket.IO connect that asked to resume a
// socket, by outcome: local, remote, history or none.
func (m *Metrics) SocketIORecovery(outcome string) {
	if m != nil {
		m.sioRecoveries.WithLabelValues(outcome).Inc()
	}
}

// SocketIOParked adds n (1 or -1) to the parked Socket.IO sockets.
func (m *Metrics) SocketIOParked(n int) {
	if m != nil {
		m.sioParked.Add(float64(n))
	}
}
