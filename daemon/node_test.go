package daemon_test

// The node_*_test.go files hold routerd's whole-node black-box tests: each
// test starts one or more complete nodes in-process (internal/routertest:
// embedded or external NATS, router, WebSocket bridge, HTTP) and checks
// what only the node as a whole does: clusters, an external NATS and its
// outages, NATS users and tenant accounts, TLS and the HTTP server's
// limits, static files, /metrics, logs, and the backend contract package
// end to end.
//
// Tests of one package's behaviour through a whole node live beside that
// package, in its external test package (router_test, bridge_test,
// socketio), and start their nodes with the same helpers.
