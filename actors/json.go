// json.go: JSON encoding of the package's own records.

package actors

import "encoding/json"

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// jsonMarshal encodes our own record types, which always encode.
func jsonMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("actors: encode record: " + err.Error())
	}
	return b
}
