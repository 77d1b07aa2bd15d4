package config

import (
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
)

// TestPasswordGuardOptions: the guard's options default to 2 wrong
// passwords in 24h and reach the engine.
func TestPasswordGuardOptions(t *testing.T) {
	o := Default()
	if o.PasswordGuard != (domain.PasswordGuard{MaxWrong: 2, Window: 24 * time.Hour}) || o.PasswordPerOpenID != 5 {
		t.Errorf("defaults = %+v, %d", o.PasswordGuard, o.PasswordPerOpenID)
	}
	o.PasswordGuard = domain.PasswordGuard{MaxWrong: 3, Window: 48 * time.Hour}
	o.PasswordPerOpenID, o.Activation = 7, ActivationOptions{PerAddress: 4, Total: 9}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	c := o.EngineConfig()
	if c.PasswordGuard != o.PasswordGuard || c.PasswordFlowLimit != 7 || c.ActivationPerAddress != 4 || c.ActivationTotal != 9 {
		t.Errorf("EngineConfig() = %+v does not carry the guard's options", c)
	}
}
