package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// soakGrowthBound is how much RSS and goroutines may grow over the second
// half of a soak run: the mean of the last third of its samples against
// the mean of the first third.
const soakGrowthBound = 0.10

// soakFigures are the results of a soak run.
type soakFigures struct {
	Samples []soakSample `json:"samples"`
	History *histCheck   `json:"history"`
	Latency latency      `json:"latency"` // live deliveries, the whole run
}

// soakSample is one reading, every -sample.
type soakSample struct {
	At         float64 `json:"at_seconds"`
	RSS        float64 `json:"rss_bytes"`
	Goroutines float64 `json:"goroutines"`
	HeapInuse  float64 `json:"heap_inuse_bytes"`
	P99        float64 `json:"p99_ms"`                // live deliveries since the previous sample
	PerSecond  float64 `json:"deliveries_per_second"` // live deliveries since the previous sample
}

func (f *soakFigures) rows(row rowFunc) {
	for _, s := range f.Samples {
		row(fmt.Sprintf("sample %4.0fs", s.At), "rss %.1f MiB  goroutines %.0f  heap_inuse %.1f MiB  p99 %.1fms  deliveries/s %.0f",
			s.RSS/(1<<20), s.Goroutines, s.HeapInuse/(1<<20), s.P99, s.PerSecond)
	}
	f.Latency.rows(row, "latency (live)")
	f.History.rows(row)
}

func soakFlags(fs *flag.FlagSet) runFunc {
	conns := fs.Int("conns", 5000, "connections, each a member of one room")
	rooms := fs.Int("rooms", 500, "history rooms, round robin")
	rate := fs.Int("rate", 20000, "deliveries per second (messages/s × (members per room - 1)); one publisher per room")
	reconnect := fs.Float64("reconnect", 1, "percent of the connections closed by the client each second (each reconnects and rejoins with since)")
	duration := fs.Duration("duration", 10*time.Minute, "how long to publish")
	sample := fs.Duration("sample", 10*time.Second, "how often RSS, goroutines, heap and p99 are sampled")
	return func(ctx context.Context, o *options) (*report, error) {
		if err := positive(map[string]int{"conns": *conns, "rooms": *rooms, "rate": *rate}); err != nil {
			return nil, err
		}
		if *conns < 2**rooms {
			return nil, errors.New("-conns must give every room at least two members")
		}
		if o.metrics == "" {
			return nil, errors.New("soak samples the server's /metrics: set -metrics")
		}
		nsSet := false
		fs.Visit(func(f *flag.Flag) { nsSet = nsSet || f.Name == "ns" })
		if !nsSet {
			o.ns = chaosNs // bench/routerd.yaml's history namespace
		}
		return runSoak(ctx, o, *conns, *rooms, *rate, *reconnect, *duration, *sample)
	}
}

// lockedHist is a histogram shared by every client's reader.
type lockedHist struct {
	mu           sync.Mutex
	window, full histogram
}

func (l *lockedHist) record(d time.Duration) {
	l.mu.Lock()
	l.window.record(d)
	l.full.record(d)
	l.mu.Unlock()
}

// take returns the window's p99 and count and empties it.
func (l *lockedHist) take() (p99 float64, n uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.window.summary()
	l.window = histogram{}
	return s.P99, s.Count
}

func runSoak(ctx context.Context, o *options, conns, rooms, rate int, reconnect float64, duration, every time.Duration) (*report, error) {
	note, err := ensureFiles(uint64(conns) + spareFiles)
	if err != nil {
		return nil, err
	}
	if note != "" {
		o.logf("%s", note)
	}
	lat := &lockedHist{}
	clients := make([]*hclient, conns)
	var pubs []*hclient
	only := func(int) int { return 0 }
	for i := range clients {
		clients[i] = newHClient(i, o.ns, o.roomName(i%rooms), []string{o.url}, only)
		clients[i].onLat = lat.record
		if i < rooms {
			pubs = append(pubs, clients[i])
		}
	}
	cctx, stopClients := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stopClients(); wg.Wait() }()
	setup := time.Now()
	for i, cl := range clients {
		wg.Go(func() { cl.run(cctx) })
		if (i+1)%o.concurrency == 0 || i == len(clients)-1 {
			for _, w := range clients[max(0, i+1-o.concurrency) : i+1] {
				select {
				case <-w.joinedCh:
				case <-time.After(60 * time.Second):
					return nil, fmt.Errorf("client %d not joined within 60s", w.id)
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
		}
	}
	setupSeconds := time.Since(setup).Seconds()
	o.logf("soak: %d connections joined in %.1fs; publishing for %s", conns, setupSeconds, duration)

	before, err := scrape(ctx, o.metrics)
	if err != nil {
		return nil, err
	}
	pctx, stopPubs := context.WithTimeout(ctx, duration)
	defer stopPubs()
	var pwg sync.WaitGroup
	publishSteady(pctx, &pwg, pubs, rate, conns/rooms, true)
	// Reconnects: every second, reconnect% of the connections are closed.
	pwg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		drops := reconnect / 100 * float64(conns)
		owed := 0.0
		for {
			select {
			case <-pctx.Done():
				return
			case <-t.C:
				owed += drops
				for ; owed >= 1; owed-- {
					clients[rand.IntN(len(clients))].drop()
				}
			}
		}
	})

	start := time.Now()
	fig := &soakFigures{}
	_, _ = lat.take()
	prev := start
	tick := time.NewTicker(every)
	defer tick.Stop()
sampling:
	for {
		select {
		case <-pctx.Done():
			break sampling
		case <-tick.C:
		}
		m, err := scrape(ctx, o.metrics)
		if err != nil {
			return nil, err
		}
		p99, n := lat.take()
		now := time.Now()
		s := soakSample{At: now.Sub(start).Seconds(), RSS: m["process_resident_memory_bytes"], Goroutines: m["go_goroutines"],
			HeapInuse: m["go_memstats_heap_inuse_bytes"], P99: p99, PerSecond: float64(n) / now.Sub(prev).Seconds()}
		prev = now
		fig.Samples = append(fig.Samples, s)
		o.logf("soak %4.0fs: rss %.1f MiB, goroutines %.0f, heap_inuse %.1f MiB, p99 %.1fms, %.0f live deliveries/s",
			s.At, s.RSS/(1<<20), s.Goroutines, s.HeapInuse/(1<<20), s.P99, s.PerSecond)
	}
	pwg.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	fig.History = drainHistory(clients, stopClients, &wg)
	var server *serverFigures
	if after, err := scrape(ctx, o.metrics); err != nil {
		o.logf("server counters left out: %v", err)
	} else {
		server = compare(before, after)
	}
	lat.mu.Lock()
	fig.Latency = lat.full.summary()
	lat.mu.Unlock()

	var failures []string
	if h := fig.History; h.Lost > 0 || h.Duplicated > 0 || h.OutOfOrder > 0 || h.Acked == 0 {
		failures = append(failures, fmt.Sprintf("history: acked %d, lost %d, duplicated %d, out of order %d", h.Acked, h.Lost, h.Duplicated, h.OutOfOrder))
	}
	failures = append(failures, secondHalfGrowth(fig.Samples, duration)...)
	return &report{Connections: conns, SetupSeconds: setupSeconds, Soak: fig, Server: server, Failures: failures}, nil
}

// secondHalfGrowth names what grew by more than soakGrowthBound over the
// run's second half: the mean of the last third of its samples against the
// mean of the first third, so that one sample's swing with the GC cycle is
// not taken for growth.
func secondHalfGrowth(samples []soakSample, duration time.Duration) []string {
	half := duration.Seconds() / 2
	i := slices.IndexFunc(samples, func(s soakSample) bool { return s.At >= half })
	if i < 0 || len(samples)-i < 3 {
		return []string{"too few samples for the second half: run longer or sample more often"}
	}
	second := samples[i:]
	w := len(second) / 3
	first, last := meanSample(second[:w]), meanSample(second[len(second)-w:])
	var out []string
	if last.RSS > first.RSS*(1+soakGrowthBound) {
		out = append(out, fmt.Sprintf("RSS grew %.1f -> %.1f MiB over the second half (means of %d samples)", first.RSS/(1<<20), last.RSS/(1<<20), w))
	}
	if last.Goroutines > first.Goroutines*(1+soakGrowthBound) {
		out = append(out, fmt.Sprintf("goroutines grew %.0f -> %.0f over the second half (means of %d samples)", first.Goroutines, last.Goroutines, w))
	}
	return out
}

// meanSample is the mean RSS and goroutines of samples (not empty).
func meanSample(samples []soakSample) soakSample {
	var m soakSample
	for _, s := range samples {
		m.RSS += s.RSS
		m.Goroutines += s.Goroutines
	}
	n := float64(len(samples))
	m.RSS /= n
	m.Goroutines /= n
	return m
}
