//! Spinning: after traffic a connection's reader polls its socket for a short window
//! before it sleeps, since waking a parked thread costs more than a reply takes to come.
//! One reader per node spins at a time ([`SpinClaim`]), so the spin costs at most one core.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

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

/// The pace of a connection's incoming traffic, which decides whether its reader spins.
///
/// A reader spins its node's whole window after a read only while the reads have lately
/// come within two windows of each other (a moving average of the gaps between them: at
/// two windows, about half the next reads still come within one); otherwise it parks at
/// once. At a steady 1,000 calls a second, say, no spin catches the
/// next request, so spinning would only burn a core's window per message and, on a
/// machine whose cores are all busy, keep the process's other threads from a core for as
/// long. Back-to-back traffic starts the spin within a few reads, after which the gaps
/// shrink to the round trip and it stays on.
///
/// Socket-free: the reader tells it what it sees, and asks it.
#[derive(Debug, Clone)]
pub(crate) struct Pace {
    /// The node's spin window; zero turns spinning off.
    max: Duration,
    /// A moving average of the gaps between reads that brought data.
    gap: Duration,
}

impl Pace {
    pub(crate) fn new(max: Duration) -> Pace {
        // Until traffic says otherwise the gap is long: a fresh connection does not spin.
        Pace { max, gap: max * 4 }
    }

    /// A read brought data `since` after the previous one.
    pub(crate) fn arrived(&mut self, since: Duration) {
        // A long silence counts as a few windows: enough to stop spinning, not so much
        // that a burst after it takes long to be seen as one.
        let since = since.min(self.max * 4);
        self.gap = (self.gap * 3 + since) / 4;
    }

    /// How long to spin after a read: the node's window, or nothing.
    pub(crate) fn window(&self) -> Duration {
        if self.gap <= self.max * 2 {
            self.max
        } else {
            Duration::ZERO
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: Duration = Duration::from_micros(100);

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn a_fresh_or_slow_connection_does_not_spin() {
        let mut pace = Pace::new(MAX);
        assert_eq!(pace.window(), Duration::ZERO);
        // 1,000 messages a second.
        for _ in 0..20 {
            pace.arrived(us(1_000));
        }
        assert_eq!(pace.window(), Duration::ZERO);
    }

    #[test]
    fn back_to_back_traffic_spins_the_whole_window_within_a_few_reads() {
        let mut pace = Pace::new(MAX);
        // Parked round trips are slower than spinning ones, but within the window.
        let mut reads = 0;
        while pace.window().is_zero() {
            pace.arrived(us(80));
            reads += 1;
            assert!(reads < 10, "spinning starts within a few reads");
        }
        assert_eq!(pace.window(), MAX);
        for _ in 0..20 {
            pace.arrived(us(9));
        }
        assert_eq!(pace.window(), MAX);
    }

    #[test]
    fn a_silence_stops_the_spin_and_a_burst_starts_it_again() {
        let mut pace = Pace::new(MAX);
        for _ in 0..20 {
            pace.arrived(us(10));
        }
        assert_eq!(pace.window(), MAX);
        // Reads a few seconds apart: the spin stops after a few of them.
        let mut reads = 0;
        while !pace.window().is_zero() {
            pace.arrived(Duration::from_secs(5));
            reads += 1;
            assert!(reads < 5, "a silence is seen within a few reads");
        }
        let mut reads = 0;
        while pace.window().is_zero() {
            pace.arrived(us(10));
            reads += 1;
            assert!(reads < 10, "a burst is seen within a few reads");
        }
    }

    #[test]
    fn a_zero_window_never_spins() {
        let mut pace = Pace::new(Duration::ZERO);
        pace.arrived(us(1));
        assert_eq!(pace.window(), Duration::ZERO);
    }
}
