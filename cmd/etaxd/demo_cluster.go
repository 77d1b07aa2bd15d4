package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/taxbureau"
)

// The demo of a cluster is seeded once for all its nodes. The first node
// to start claims the shared record meta/demo (a create-only write of the
// demo's description, sealed: it holds the API key's secret and the
// activation code), registers the demo's persons with the shared etax-sim
// through its test endpoints, seeds the tenant, and records the result in
// meta/demo. Every other node waits for that record and writes the same
// description to its own <data>/demo.json. A claiming node that stopped
// half-way takes the seeding up again when it starts: seedDemo finishes a
// run cut short.

// keyDemo is the cluster demo's shared record.
const keyDemo = persistence.PrefixMeta + "demo"

// clusterDemo is meta/demo's value (before sealing).
type clusterDemo struct {
	SeedingBy string    `json:"seeding_by"` // the node that claimed the seeding
	Seeded    bool      `json:"seeded"`
	Demo      *demoFile `json:"demo"`
}

// demoWait bounds a node's wait for another node's seeding.
const demoWait = 2 * time.Minute

func seedClusterDemo(ctx context.Context, st *stack, path string) (*demoFile, error) {
	node, log := st.opts.Node(), st.log.With("component", "demo")
	// Seed once the nodes of cluster.peers are members: a node joining
	// meanwhile moves tenants, and the verification flows of the demo's
	// accounts (actors of the tenant's node) would be lost with the move.
	st.awaitPeers(ctx, demoWait/2)
	deadline := time.Now().Add(demoWait)
	for {
		cd, rev, err := readClusterDemo(ctx, st)
		switch {
		case errors.Is(err, persistence.ErrNotFound):
			df, err := newDemoFile()
			if err != nil {
				return nil, err
			}
			cd = &clusterDemo{SeedingBy: node, Demo: df}
			if rev, err = writeClusterDemo(ctx, st, cd, 0); errors.Is(err, persistence.ErrRevisionMismatch) {
				continue // another node claimed it first
			} else if err != nil {
				return nil, err
			}
			log.Info("cluster demo: this node seeds it", "node", node)
			return finishClusterDemo(ctx, st, path, cd, rev)
		case err != nil:
			return nil, err
		case cd.Seeded:
			if err := writeDemoFile(path, cd.Demo); err != nil {
				return nil, err
			}
			log.Info("cluster demo: seeded by a node of the cluster; reusing it", "by", cd.SeedingBy, "file", path)
			return cd.Demo, nil
		case cd.SeedingBy == node:
			log.Info("cluster demo: taking up the seeding this node started", "node", node)
			return finishClusterDemo(ctx, st, path, cd, rev)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("cluster demo: node %s claimed the seeding %s ago and has not finished (start it, or delete %s)",
				cd.SeedingBy, demoWait, keyDemo)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// finishClusterDemo registers the persons, seeds the tenant and records
// the seeded demo for the other nodes.
func finishClusterDemo(ctx context.Context, st *stack, path string, cd *clusterDemo, rev uint64) (*demoFile, error) {
	if err := postDemoPersons(ctx, st.opts.TaxBureau.URL, cd.Demo.Persons); err != nil {
		return nil, err
	}
	if err := writeDemoFile(path, cd.Demo); err != nil {
		return nil, err
	}
	// seedDemo finishes a run cut short, so a failed attempt (a tenant that
	// moved under it: busy, a flow gone) is simply made again.
	var df *demoFile
	var err error
	for attempt := 1; ; attempt++ {
		if df, err = seedDemo(ctx, st, path); err == nil || attempt == 3 || ctx.Err() != nil {
			break
		}
		st.log.Warn("cluster demo: seeding failed; trying again", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
	if err != nil {
		return nil, err
	}
	cd.Demo, cd.Seeded = df, true
	if _, err := writeClusterDemo(ctx, st, cd, rev); err != nil {
		return nil, fmt.Errorf("cluster demo: record it: %w", err)
	}
	return df, nil
}

func readClusterDemo(ctx context.Context, st *stack) (*clusterDemo, uint64, error) {
	rec, err := st.store.Get(ctx, keyDemo)
	if err != nil {
		return nil, 0, err
	}
	plain, err := st.keys.Open(rec.Value, keyDemo)
	if err != nil {
		return nil, 0, fmt.Errorf("cluster demo: open %s: %w", keyDemo, err)
	}
	var cd clusterDemo
	if err := json.Unmarshal(plain, &cd); err != nil || cd.Demo == nil {
		return nil, 0, fmt.Errorf("cluster demo: %s does not decode (delete it to seed again): %v", keyDemo, err)
	}
	return &cd, rec.Revision, nil
}

func writeClusterDemo(ctx context.Context, st *stack, cd *clusterDemo, rev uint64) (uint64, error) {
	plain, err := json.Marshal(cd)
	if err != nil {
		return 0, err
	}
	sealed, err := st.keys.Seal(plain, keyDemo)
	if err != nil {
		return 0, err
	}
	return persistence.Put(ctx, st.store, keyDemo, sealed, rev)
}

// postDemoPersons registers the persons with the gateway's simulator
// (POST /sim/v1/persons, etax-sim's test endpoint); one it knows already
// (409) is left as it is.
func postDemoPersons(ctx context.Context, base string, persons []demoPerson) error {
	ps := make([]taxbureau.Person, 0, len(persons))
	for _, p := range persons {
		ps = append(ps, taxbureau.Person{Name: p.Name, IDType: p.IDType, IDNumber: p.IDNumber, Phone: p.Phone,
			Username: p.Username, Password: p.Password, Relations: p.Relations})
	}
	var buf bytes.Buffer
	if err := taxbureau.EncodePersons(&buf, ps); err != nil {
		return err
	}
	var bodies []json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &bodies); err != nil {
		return err
	}
	url := strings.TrimRight(base, "/") + taxbureau.SimPathPrefix + "persons"
	for i, b := range bodies {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("cluster demo: register %s with %s: %w", persons[i].Username, url, err)
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusCreated, http.StatusOK, http.StatusConflict:
		default:
			return fmt.Errorf("cluster demo: register %s with %s: %s: %s (is it etax-sim with its test endpoints on?)",
				persons[i].Username, url, resp.Status, bytes.TrimSpace(msg))
		}
	}
	return nil
}

// demoLastCode is the last SMS code the bureau sent to phone: from the
// in-process simulator, or a cluster's etax-sim (GET /sim/v1/sms).
func demoLastCode(ctx context.Context, st *stack, phone string) (string, error) {
	if st.sim != nil {
		return st.sim.LastCode(phone), nil
	}
	u := strings.TrimRight(st.opts.TaxBureau.URL, "/") + taxbureau.SimPathPrefix + "sms?phone=" + url.QueryEscape(phone)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("demo: read the code sent to %s: %w", phone, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("demo: read the code sent to %s: %s", phone, resp.Status)
	}
	var sent []taxbureau.SMS
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&sent); err != nil {
		return "", fmt.Errorf("demo: read the code sent to %s: %w", phone, err)
	}
	if len(sent) == 0 {
		return "", nil
	}
	return sent[0].Code, nil // newest first
}

// awaitPeers waits, at most for d, until this node counts every node of
// cluster.peers alive.
func (st *stack) awaitPeers(ctx context.Context, d time.Duration) {
	want := map[string]bool{st.opts.Cluster.Listen: true}
	for _, p := range st.opts.Cluster.Peers {
		want[p] = true
	}
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		alive := 0
		for _, m := range st.members.Snapshot().Members {
			if m.Alive {
				alive++
			}
		}
		if alive >= len(want) {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	st.log.Warn("cluster demo: not every node of cluster.peers has joined; seeding anyway", "want", len(want))
}
