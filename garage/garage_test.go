package garage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/handoff-dev/handoff/garage"
	"github.com/handoff-dev/handoff/garage/garagetest"
)

var ctx = context.Background()

// local lets the adapters reach the fake devices on 127.0.0.1.
var local = garage.Timeouts{Call: 5 * time.Second, Retries: 2, AllowPrivate: true}

func TestAdapters(t *testing.T) {
	og := garagetest.StartOpenGarage(t, "secret-dkey")
	ha := garagetest.StartHomeAssistant(t, "secret-token", "cover.garage")
	sims := garage.NewSimulators()
	for name, cfg := range map[string]garage.Config{
		"opengarage":    {Kind: garage.KindOpenGarage, URL: og.Srv.URL, DeviceKey: "secret-dkey"},
		"homeassistant": {Kind: garage.KindHomeAssistant, URL: ha.Srv.URL, Token: "secret-token", EntityID: "cover.garage"},
		"simulator":     {Kind: garage.KindSimulator, SimulatorID: "s1"},
	} {
		t.Run(name, func(t *testing.T) {
			d, err := garage.New(cfg, local, sims)
			if err != nil {
				t.Fatal(err)
			}
			if s, err := d.State(ctx); err != nil || s != garage.Closed {
				t.Fatalf("state = %v, %v", s, err)
			}
			if err := d.Open(ctx); err != nil {
				t.Fatal(err)
			}
			if err := garage.Confirm(ctx, d, garage.Open, time.Second, 10*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			if err := d.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if err := garage.Confirm(ctx, d, garage.Closed, time.Second, 10*time.Millisecond); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestWrongCredentialsNeverLeak(t *testing.T) {
	og := garagetest.StartOpenGarage(t, "the-right-key")
	d, _ := garage.New(garage.Config{Kind: garage.KindOpenGarage, URL: og.Srv.URL, DeviceKey: "a-wrong-key"}, local, nil)
	err := d.Open(ctx)
	if err == nil {
		t.Fatal("a wrong key opened the door")
	}
	if strings.Contains(err.Error(), "a-wrong-key") {
		t.Errorf("error shows the key: %v", err)
	}
	og.Srv.Close() // unreachable: the URL with the key must not be in the error
	if err := d.Open(ctx); err == nil || strings.Contains(err.Error(), "a-wrong-key") {
		t.Errorf("unreachable device error: %v", err)
	}
}

func TestStuckDoorTimesOut(t *testing.T) {
	og := garagetest.StartOpenGarage(t, "k")
	og.Set(1, true, 0)
	d, _ := garage.New(garage.Config{Kind: garage.KindOpenGarage, URL: og.Srv.URL, DeviceKey: "k"}, local, nil)
	d.Close(ctx)
	start := time.Now()
	if err := garage.Confirm(ctx, d, garage.Closed, 300*time.Millisecond, 20*time.Millisecond); err != garage.ErrTimeout {
		t.Fatalf("Confirm = %v, want ErrTimeout", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Error("Confirm did not respect its bound")
	}
}

func TestHangingDeviceFailsWithinBound(t *testing.T) {
	og := garagetest.StartOpenGarage(t, "k")
	og.Set(0, false, 5*time.Second)
	d, _ := garage.New(garage.Config{Kind: garage.KindOpenGarage, URL: og.Srv.URL, DeviceKey: "k"}, garage.Timeouts{Call: 200 * time.Millisecond, Retries: 1, AllowPrivate: true}, nil)
	start := time.Now()
	if _, err := d.State(ctx); err == nil {
		t.Fatal("a hanging device answered")
	}
	if err := d.Open(ctx); err == nil {
		t.Fatal("a hanging device accepted a command")
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("took %v: the bounds did not hold", time.Since(start))
	}
}

func TestCheckCredentials(t *testing.T) {
	og := garagetest.StartOpenGarage(t, "right")
	for key, ok := range map[string]bool{"right": true, "wrong": false} {
		d, _ := garage.New(garage.Config{Kind: garage.KindOpenGarage, URL: og.Srv.URL, DeviceKey: key}, local, nil)
		if err := d.(garage.Checker).CheckCredentials(ctx); (err == nil) != ok {
			t.Errorf("key %s: %v", key, err)
		}
	}
	if door, cmds := og.Snapshot(); door != 0 || len(cmds) != 0 {
		t.Errorf("checking moved the door: %d %v", door, cmds)
	}
}

// TestPrivateAddressesRefused checks a recipient's URL cannot point the
// server at its own network.
func TestPrivateAddressesRefused(t *testing.T) {
	og := garagetest.StartOpenGarage(t, "k")
	d, _ := garage.New(garage.Config{Kind: garage.KindOpenGarage, URL: og.Srv.URL, DeviceKey: "k"}, garage.DefaultTimeouts, nil)
	if _, err := d.State(ctx); err == nil || !strings.Contains(err.Error(), "not a public address") {
		t.Fatalf("reached %s: %v", og.Srv.URL, err)
	}
}
