//! Spinning: after traffic a connection's reader polls its socket for a short window
//! before it sleeps, since waking a parked thread costs more than a reply takes to come.
//! One reader per node spins at a time ([`SpinClaim`]), so the spin costs at most one core.

use std::sync::atomic::{AtomicBool, Ordering};

/// The right to spin, held while a reader spins. A node's connections share one
/// ([`SpinClaim`]): one at a time spins, so the spin costs at most one core however many
/// connections (a 100-node mesh has 99 per node) have just seen traffic; the others park,
/// and the spinner's yields also let tokio poll the runtime's sockets when no other worker
/// is polling them, which keeps their wake-ups on a hot thread too.
pub(crate) struct Spinner<'a>(&'a AtomicBool);

impl<'a> Spinner<'a> {
    pub(crate) fn claim(claim: &'a SpinClaim) -> Option<Spinner<'a>> {
        claim
            .0
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            .then_some(Spinner(&claim.0))
    }
}

impl Drop for Spinner<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Whether one of a node's connections is spinning: the node's, shared by its connections
/// (two nodes in one process spin independently, each with its own setting).
#[derive(Debug, Default)]
pub(crate) struct SpinClaim(AtomicBool);
