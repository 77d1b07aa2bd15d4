package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestPrintClusterNamesTheExternalNATS: etaxd cluster status says which
// external NATS cluster and server a node is connected to, and lists the
// servers it knows.
func TestPrintClusterNamesTheExternalNATS(t *testing.T) {
	doc := `{"node":"n1","mode":"cluster","members":[{"name":"n1","alive":true,"state":"member"}],
		"nats":{"server":"nats2","cluster":"ext","routes":[],"external":true,"connected":"nats://10.0.0.22:4222",
		"servers":["nats://10.0.0.21:4222","nats://10.0.0.22:4222"]},
		"streams":[{"name":"KV_etaxd","leader":"nats2","lagging":[]}]}`
	var out bytes.Buffer
	if err := printCluster(&out, []byte(doc)); err != nil {
		t.Fatal(err)
	}
	want := "external NATS cluster ext: connected to nats2 at nats://10.0.0.22:4222; servers nats://10.0.0.21:4222,nats://10.0.0.22:4222"
	if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "KV_etaxd") {
		t.Fatalf("printed:\n%s\nwant a line %q", out.String(), want)
	}
	embedded := strings.Replace(doc, `"external":true`, `"external":false`, 1)
	out.Reset()
	if err := printCluster(&out, []byte(embedded)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "external NATS") {
		t.Fatalf("an embedded NATS printed as external:\n%s", out.String())
	}
}
