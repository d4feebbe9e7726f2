//! Which version of a function the data plane's pool runs, when calls name old versions.
//!
//! The executor keeps one pool per function and one version in it: a newer spec replaces the
//! pool's, an older one is served by the newer instances. So a call of an old version must find
//! the pool holding that version, and keep it so until it has its instance. The gate arranges it
//! from Nova's side, without the data plane knowing of versions:
//!
//! - calls of the newest version pass at once (the pool adopts a newer spec by itself), except
//!   while calls of an old version are in flight, which they wait for;
//! - the first call of an old version waits until no other old version is in flight, evicts the
//!   function's instances unless the pool last received this very version, and lets the calls
//!   of its version through until the last of them ends.
//!
//! Calls of one version run side by side; switching between versions drains the calls of the
//! one before and cold-starts the next. Warm instances of several versions side by side are
//! issue 15's aliases step, in the data plane.

use std::collections::HashMap;
use std::sync::Mutex;

use comet::DataPlane;
use nova_api::FunctionSpec;
use tokio::sync::Notify;

/// A version as the pool tells them apart.
type Identity = (u64, String);

/// The gate of every function. One per service.
#[derive(Default)]
pub struct Gate {
    slots: Mutex<HashMap<String, Slot>>,
    changed: Notify,
}

#[derive(Default)]
struct Slot {
    /// The newest spec the pool was given since it was last emptied, as far as this service
    /// knows (forgotten when the function changes, since that may empty or refill it).
    adopted: Option<Identity>,
    /// The old version calls are running, if any.
    old: Option<Old>,
}

struct Old {
    version: Identity,
    /// Calls of it in flight.
    calls: usize,
    /// Whether the pool was emptied for it: until then its calls wait.
    ready: bool,
}

/// A call let through; an old version's call counts until it is dropped.
pub struct Pass<'g> {
    gate: &'g Gate,
    old: Option<String>,
}

enum Next {
    Pass(bool),
    Evict,
    Wait,
}

impl Gate {
    /// Waits until a call of `spec` (the newest version when `newest`) may go to the data plane.
    pub async fn enter(
        &self,
        spec: &FunctionSpec,
        newest: bool,
        dataplane: &dyn DataPlane,
    ) -> Pass<'_> {
        let want: Identity = (spec.version, spec.code_hash.clone());
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next = {
                let mut slots = comet_util::lock(&self.slots);
                let slot = slots.entry(spec.name.clone()).or_default();
                Gate::next(slot, &want, newest)
            };
            match next {
                Next::Pass(counted) => {
                    return Pass {
                        gate: self,
                        old: counted.then(|| spec.name.clone()),
                    };
                }
                Next::Evict => {
                    // Counted first: a call dropped while evicting still leaves the gate.
                    let pass = Pass {
                        gate: self,
                        old: Some(spec.name.clone()),
                    };
                    dataplane.evict(&spec.name).await;
                    if let Some(slot) = comet_util::lock(&self.slots).get_mut(&spec.name) {
                        slot.adopted = Some(want.clone());
                        if let Some(old) = &mut slot.old {
                            old.ready = true;
                        }
                    }
                    self.changed.notify_waiters();
                    return pass;
                }
                Next::Wait => notified.await,
            }
        }
    }

    fn next(slot: &mut Slot, want: &Identity, newest: bool) -> Next {
        match (&mut slot.old, newest) {
            (Some(_), true) => Next::Wait,
            (None, true) => {
                let newer = slot.adopted.as_ref().is_none_or(|(v, _)| want.0 >= *v);
                if newer {
                    slot.adopted = Some(want.clone());
                }
                Next::Pass(false)
            }
            (Some(old), false) if old.version == *want && old.ready => {
                old.calls += 1;
                Next::Pass(true)
            }
            (Some(_), false) => Next::Wait,
            (None, false) => {
                let ready = slot.adopted.as_ref() == Some(want);
                slot.old = Some(Old {
                    version: want.clone(),
                    calls: 1,
                    ready,
                });
                if ready { Next::Pass(true) } else { Next::Evict }
            }
        }
    }

    /// Forgets what the pool of `function` holds: it changed, was deleted or was evicted.
    pub fn reset(&self, function: &str) {
        if let Some(slot) = comet_util::lock(&self.slots).get_mut(function) {
            slot.adopted = None;
        }
    }

    /// Forgets what every pool holds.
    pub fn reset_all(&self) {
        for slot in comet_util::lock(&self.slots).values_mut() {
            slot.adopted = None;
        }
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let Some(name) = &self.old else {
            return;
        };
        let mut slots = comet_util::lock(&self.gate.slots);
        if let Some(slot) = slots.get_mut(name)
            && let Some(old) = &mut slot.old
        {
            old.calls -= 1;
            if old.calls == 0 {
                slot.old = None;
            }
        }
        drop(slots);
        self.gate.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(v: u64) -> Identity {
        (v, format!("h{v}"))
    }

    #[test]
    fn the_newest_passes_unless_an_old_version_runs() {
        let mut slot = Slot::default();
        assert!(matches!(
            Gate::next(&mut slot, &id(3), true),
            Next::Pass(false)
        ));
        assert!(matches!(Gate::next(&mut slot, &id(1), false), Next::Evict));
        assert!(
            matches!(Gate::next(&mut slot, &id(1), false), Next::Wait),
            "not evicted yet"
        );
        assert!(matches!(Gate::next(&mut slot, &id(3), true), Next::Wait));
        assert!(matches!(Gate::next(&mut slot, &id(2), false), Next::Wait));
        // Evicted: version 1's calls run side by side; the newest still waits.
        slot.adopted = Some(id(1));
        slot.old.as_mut().expect("old").ready = true;
        assert!(matches!(
            Gate::next(&mut slot, &id(1), false),
            Next::Pass(true)
        ));
        assert_eq!(slot.old.as_ref().expect("old").calls, 2);
        assert!(matches!(Gate::next(&mut slot, &id(3), true), Next::Wait));
        slot.old = None;
        // The pool still holds version 1: another call of it needs no eviction.
        assert!(matches!(
            Gate::next(&mut slot, &id(1), false),
            Next::Pass(true)
        ));
        slot.old = None;
        assert!(matches!(
            Gate::next(&mut slot, &id(3), true),
            Next::Pass(false)
        ));
        assert_eq!(slot.adopted, Some(id(3)));
        // A stale newest (resolved before an update) does not lower what the pool holds.
        assert!(matches!(
            Gate::next(&mut slot, &id(2), true),
            Next::Pass(false)
        ));
        assert_eq!(slot.adopted, Some(id(3)));
    }
}
