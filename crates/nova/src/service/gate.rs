//! Which version of a function the data plane's pool runs, when calls name old versions.
//!
//! The executor keeps one pool per function and one version in it: a newer spec replaces the
//! pool's, an older one is served by the newer instances. So a call of an old version must find
//! the pool holding that version, and keep it so until it has its instance. The gate arranges it
//! from Nova's side, without the data plane knowing of versions:
//!
//! - calls of the newest version pass at once (the pool adopts a newer spec by itself, so an
//!   update never waits), except while an old version has the pool, which they wait for;
//! - the first call of an old version takes the pool: it keeps new calls of other versions out,
//!   waits for the newest version's calls in flight to end (evicting under them would fail
//!   them), evicts the function's instances unless the pool last received this very version, and
//!   lets the calls of its version through until the last of them ends.
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
    /// Calls of the newest version in flight.
    newest_calls: usize,
    /// The old version that has the pool, if any.
    old: Option<Old>,
}

struct Old {
    version: Identity,
    /// Calls of it in flight (the first one included while it waits to evict).
    calls: usize,
    /// Whether the pool was emptied for it: until then its other calls wait.
    ready: bool,
}

/// What a call that was let through counts as, until it is dropped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Newest,
    Old,
}

/// A call let through.
pub struct Pass<'g> {
    gate: &'g Gate,
    function: &'g str,
    role: Role,
}

#[derive(Debug)]
enum Next {
    Pass(Role),
    /// The call has taken the pool for its old version and must evict before it goes.
    Evict,
    Wait,
}

impl Gate {
    /// Waits until a call of `spec` (the newest version when `newest`) may go to the data plane.
    pub async fn enter<'g>(
        &'g self,
        spec: &'g FunctionSpec,
        newest: bool,
        dataplane: &dyn DataPlane,
    ) -> Pass<'g> {
        let want: Identity = (spec.version, spec.code_hash.clone());
        let function = spec.name.as_str();
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next = self.with_slot(function, |slot| Gate::next(slot, &want, newest));
            match next {
                Next::Pass(role) => return self.pass(function, role),
                Next::Evict => {
                    // Counted already: a call dropped while it waits or evicts leaves the gate.
                    let pass = self.pass(function, Role::Old);
                    self.until(function, |slot| slot.newest_calls == 0).await;
                    dataplane.evict(function).await;
                    self.with_slot(function, |slot| {
                        slot.adopted = Some(want.clone());
                        if let Some(old) = &mut slot.old {
                            old.ready = true;
                        }
                    });
                    self.changed.notify_waiters();
                    return pass;
                }
                Next::Wait => notified.await,
            }
        }
    }

    fn pass<'g>(&'g self, function: &'g str, role: Role) -> Pass<'g> {
        Pass {
            gate: self,
            function,
            role,
        }
    }

    /// Runs `f` on the slot of `function`, made if there is none.
    fn with_slot<T>(&self, function: &str, f: impl FnOnce(&mut Slot) -> T) -> T {
        let mut slots = comet_util::lock(&self.slots);
        match slots.get_mut(function) {
            Some(slot) => f(slot),
            None => f(slots.entry(function.to_string()).or_default()),
        }
    }

    /// Waits until `ready` holds of the slot of `function`.
    async fn until(&self, function: &str, ready: impl Fn(&Slot) -> bool) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.with_slot(function, |slot| ready(slot)) {
                return;
            }
            notified.await;
        }
    }

    fn next(slot: &mut Slot, want: &Identity, newest: bool) -> Next {
        match (&mut slot.old, newest) {
            (Some(_), true) => Next::Wait,
            (None, true) => {
                if slot.adopted.as_ref().is_none_or(|(v, _)| want.0 >= *v) {
                    slot.adopted = Some(want.clone());
                }
                slot.newest_calls += 1;
                Next::Pass(Role::Newest)
            }
            (Some(old), false) if old.version == *want && old.ready => {
                old.calls += 1;
                Next::Pass(Role::Old)
            }
            (Some(_), false) => Next::Wait,
            (None, false) => {
                let ready = slot.adopted.as_ref() == Some(want);
                slot.old = Some(Old {
                    version: want.clone(),
                    calls: 1,
                    ready,
                });
                if ready {
                    Next::Pass(Role::Old)
                } else {
                    Next::Evict
                }
            }
        }
    }

    /// Forgets what the pool of `function` holds: it changed, was deleted or was evicted. A slot
    /// with no call in it goes altogether, so deleted functions leave nothing behind.
    pub fn reset(&self, function: &str) {
        let mut slots = comet_util::lock(&self.slots);
        if let Some(slot) = slots.get_mut(function) {
            if slot.newest_calls == 0 && slot.old.is_none() {
                slots.remove(function);
            } else {
                slot.adopted = None;
            }
        }
    }

    /// Forgets what every pool holds.
    pub fn reset_all(&self) {
        for slot in comet_util::lock(&self.slots).values_mut() {
            slot.adopted = None;
        }
    }
}

impl Slot {
    /// A call of `role` ended; whether anyone may be waiting for it.
    fn leave(&mut self, role: Role) -> bool {
        match role {
            Role::Newest => {
                self.newest_calls -= 1;
                self.newest_calls == 0 && self.old.is_some()
            }
            Role::Old => {
                if let Some(old) = &mut self.old {
                    old.calls -= 1;
                    if old.calls == 0 {
                        self.old = None;
                    }
                }
                true
            }
        }
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let waiting = comet_util::lock(&self.gate.slots)
            .get_mut(self.function)
            .is_some_and(|slot| slot.leave(self.role));
        if waiting {
            self.gate.changed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(v: u64) -> Identity {
        (v, format!("h{v}"))
    }

    fn next(slot: &mut Slot, v: u64, newest: bool) -> String {
        format!("{:?}", Gate::next(slot, &id(v), newest))
    }

    #[test]
    fn an_old_version_takes_the_pool_and_the_newest_waits() {
        let mut slot = Slot::default();
        assert_eq!(next(&mut slot, 3, true), "Pass(Newest)");
        assert_eq!(slot.newest_calls, 1);
        // Version 1 takes the pool (its caller then waits for the newest call to end).
        assert_eq!(next(&mut slot, 1, false), "Evict");
        assert_eq!(next(&mut slot, 1, false), "Wait", "not evicted yet");
        assert_eq!(next(&mut slot, 3, true), "Wait");
        assert_eq!(next(&mut slot, 2, false), "Wait");
        assert!(slot.leave(Role::Newest), "the evicting call is told");
        // Evicted: version 1's calls run side by side; the newest still waits.
        slot.adopted = Some(id(1));
        slot.old.as_mut().expect("old").ready = true;
        assert_eq!(next(&mut slot, 1, false), "Pass(Old)");
        assert_eq!(slot.old.as_ref().expect("old").calls, 2);
        assert_eq!(next(&mut slot, 3, true), "Wait");
        slot.leave(Role::Old);
        slot.leave(Role::Old);
        assert!(slot.old.is_none());
        // The pool still holds version 1: another call of it needs no eviction.
        assert_eq!(next(&mut slot, 1, false), "Pass(Old)");
        slot.leave(Role::Old);
        assert_eq!(next(&mut slot, 3, true), "Pass(Newest)");
        assert_eq!(slot.adopted, Some(id(3)));
        // A stale newest (resolved before an update) does not lower what the pool holds.
        assert_eq!(next(&mut slot, 2, true), "Pass(Newest)");
        assert_eq!(slot.adopted, Some(id(3)));
        assert_eq!(slot.newest_calls, 2);
    }
}
