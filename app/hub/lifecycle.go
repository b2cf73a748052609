package hub

import (
	"errors"
	"time"

	"contactpoint/app/childlog"
	"contactpoint/app/linker"
	"contactpoint/app/retention"
)

// startLifecycle builds the retention service and, unless switched off,
// runs it daily. Every instance runs the schedule; the advisory lock in
// Run lets one at a time act, and what is done is recorded, so a second
// instance (or a second run the same day) does nothing twice.
func (h *Hub) startLifecycle(children *childlog.Log) {
	h.Retention = &retention.Service{JS: h.NATS.JS, DB: h.DB, Store: h.Store, Children: children, Linker: h.Linker,
		Audit: h.AuditLog, Log: h.log, Now: h.cfg.Now, Rebuild: h.rebuildWherever}
	every := h.cfg.LifecycleEvery
	if every < 0 {
		return
	}
	if every == 0 {
		every = 24 * time.Hour
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		// The first run waits a minute, for the linker to rebuild its index.
		wait := time.Minute
		for {
			select {
			case <-h.runCtx.Done():
				return
			case <-time.After(wait):
			}
			rep, err := h.Retention.Run(h.runCtx, false)
			switch {
			case errors.Is(err, retention.ErrBusy):
			case errors.Is(err, linker.ErrNotReady):
				wait = time.Minute
				continue
			case err != nil && h.runCtx.Err() == nil:
				h.log.Error("lifecycle run failed", "err", err)
			default:
				h.log.Info("lifecycle run", "day", rep.Day, "actions", len(rep.Items))
			}
			wait = every
		}
	}()
}
