package natsbus

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// nonceDigest stands for keyID's nonce in the log and in memory.
func nonceDigest(keyID, nonce string) [nonceDigestLen]byte {
	h := sha256.New()
	h.Write([]byte(keyID))
	h.Write([]byte{0})
	h.Write([]byte(nonce))
	var sum [sha256.Size]byte
	var d [nonceDigestLen]byte
	copy(d[:], h.Sum(sum[:0]))
	return d
}

// nonceSubject is keyID's subject in the log: a digest, so that any key id
// makes a valid subject token and the subject does not show it.
func nonceSubject(keyID string) string {
	sum := sha256.Sum256([]byte("etaxd nonce subject\x00" + keyID))
	return "_ETAXD.nonces." + hex.EncodeToString(sum[:12])
}

// nonceSet is the nonces a node remembers, each with the Unix second until
// which it counts as used, in two generations that rotate every
// nonceGeneration: an entry stays at least that long.
type nonceSet struct {
	gen       int64
	cur, prev map[[nonceDigestLen]byte]int64
}

func newNonceSet() nonceSet {
	return nonceSet{cur: map[[nonceDigestLen]byte]int64{}, prev: map[[nonceDigestLen]byte]int64{}}
}

func (s *nonceSet) rotate(now int64) {
	gen := now / int64(nonceGeneration/time.Second)
	switch {
	case gen <= s.gen: // the same period, or the clock stepped back: keep all
	case gen == s.gen+1:
		s.prev, s.cur = s.cur, make(map[[nonceDigestLen]byte]int64, len(s.cur))
	default: // the first use, or a jump: both generations are old
		clear(s.prev)
		clear(s.cur)
	}
	s.gen = max(s.gen, gen)
}

func (s *nonceSet) has(d [nonceDigestLen]byte, now int64) bool {
	s.rotate(now)
	if u, ok := s.cur[d]; ok && u >= now {
		return true
	}
	u, ok := s.prev[d]
	return ok && u >= now
}

// add remembers d until until; an entry already past is not kept.
func (s *nonceSet) add(d [nonceDigestLen]byte, until, now int64) {
	s.rotate(now)
	if until < now {
		return
	}
	s.cur[d] = max(s.cur[d], until)
}

// room reports whether another entry fits in capacity, dropping expired
// entries when the set is at its bound.
func (s *nonceSet) room(capacity int, now int64) bool {
	if len(s.cur)+len(s.prev) < capacity {
		return true
	}
	maps := [2]map[[nonceDigestLen]byte]int64{s.prev, s.cur}
	for _, m := range maps {
		for d, u := range m {
			if u < now {
				delete(m, d)
			}
		}
	}
	return len(s.cur)+len(s.prev) < capacity
}
