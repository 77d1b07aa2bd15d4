package membership

import (
	"encoding/json"
	"net"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
)

// Record is a member's entry in the bucket, under the key of its id.
// Every beat rewrites the same record; only its revision moves.
type Record struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Cluster string    `json:"cluster"`
	Host    string    `json:"host"`
	Port    int       `json:"port"`
	Kinds   []string  `json:"kinds"`
	Joined  time.Time `json:"joined"`
}

// Address is host:port of the member's protoactor remote.
func (r Record) Address() string { return net.JoinHostPort(r.Host, strconv.Itoa(r.Port)) }

// member is r as protoactor's cluster member.
func (r Record) member() *cluster.Member {
	return &cluster.Member{Id: r.ID, Host: r.Host, Port: int32(r.Port), Kinds: append([]string(nil), r.Kinds...)}
}

func (r Record) encode() []byte {
	b, _ := json.Marshal(r) // a struct of strings, ints and a time: cannot fail
	return b
}

func decodeRecord(b []byte) (Record, error) {
	var r Record
	err := json.Unmarshal(b, &r)
	return r, err
}
