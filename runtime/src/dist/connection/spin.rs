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

/// Reads at most this far apart on average may start a spin, however short the window:
/// a reader that parks sees gaps of a parked round trip (70-200 µs on the development VM),
/// which a short window alone would never admit.
const START_GAP: Duration = Duration::from_micros(200);

/// After this many spins in a row that caught nothing, a reader stops spinning until a
/// read comes within a window of the one before.
const MAX_MISSES: u32 = 4;

/// The pace of a connection's incoming traffic, which decides whether its reader spins.
///
/// A reader spins its node's whole window after a read only while the reads have lately
/// come close together: a moving average of the gaps between them within two windows (or
/// [`START_GAP`], for short windows). And only while spinning pays: after a few spins in a
/// row that caught nothing (reads evenly spaced a little beyond the window, say) it stops
/// until a read comes within a window again. Otherwise it parks at once. At a steady 1,000
/// calls a second no spin catches the next request, so spinning would only burn a core's
/// window per message and, on a machine whose cores are all busy, keep the process's other
/// threads from a core for as long. Back-to-back traffic starts the spin within a few
/// reads, after which the gaps shrink to the round trip and it stays on.
///
/// Socket-free: the reader tells it what it sees, and asks it.
#[derive(Debug, Clone)]
pub(crate) struct Pace {
    /// The node's spin window; zero turns spinning off.
    max: Duration,
    /// A moving average of the gaps between reads that brought data.
    gap: Duration,
    /// Spins in a row that ended with nothing read.
    misses: u32,
}

impl Pace {
    pub(crate) fn new(max: Duration) -> Pace {
        // Until traffic says otherwise the gap is long: a fresh connection does not spin.
        Pace {
            max,
            gap: Self::longest(max),
            misses: 0,
        }
    }

    /// The longest gap a read counts for: a long silence counts as a few windows, enough
    /// to stop spinning, not so much that a burst after it takes long to be seen as one.
    fn longest(max: Duration) -> Duration {
        max.saturating_mul(2).max(START_GAP).saturating_mul(2)
    }

    /// A read brought data `since` after the previous one.
    pub(crate) fn arrived(&mut self, since: Duration) {
        if since <= self.max {
            // A spin would have caught it.
            self.misses = 0;
        }
        let since = since.min(Self::longest(self.max));
        self.gap = (self.gap.saturating_mul(3).saturating_add(since)) / 4;
    }

    /// A spin's window passed with nothing read.
    pub(crate) fn missed(&mut self) {
        self.misses = self.misses.saturating_add(1);
    }

    /// How long to spin after a read: the node's window, or nothing.
    pub(crate) fn window(&self) -> Duration {
        let close = self.gap <= self.max.saturating_mul(2).max(START_GAP);
        if !self.max.is_zero() && close && self.misses < MAX_MISSES {
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

    #[test]
    fn a_short_window_starts_from_parked_round_trips() {
        let window = us(20);
        let mut pace = Pace::new(window);
        let mut reads = 0;
        while pace.window().is_zero() {
            pace.arrived(us(70));
            reads += 1;
            assert!(reads < 10, "spinning starts within a few reads");
        }
        assert_eq!(pace.window(), window);
    }

    #[test]
    fn spins_that_catch_nothing_stop_until_a_read_comes_within_a_window() {
        let mut pace = Pace::new(MAX);
        // Evenly spaced reads 150 µs apart: close, but never within a 100 µs spin.
        for _ in 0..20 {
            pace.arrived(us(150));
            if !pace.window().is_zero() {
                pace.missed();
            }
        }
        assert_eq!(pace.window(), Duration::ZERO);
        // A read within a window starts it again.
        pace.arrived(us(60));
        assert_eq!(pace.window(), MAX);
    }

    #[test]
    fn the_longest_window_allowed_does_not_overflow() {
        let mut pace = Pace::new(Duration::MAX);
        pace.arrived(Duration::MAX);
        pace.arrived(us(1));
        pace.missed();
        assert_eq!(pace.window(), Duration::MAX);
    }
}
