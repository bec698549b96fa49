//! The process table: pid id → process, without a global lock.

use std::sync::Arc;

use dashmap::DashMap;
use rustc_hash::FxBuildHasher;

use super::cell::ProcessCell;

/// Every live process of one node, by local id.
///
/// Implementation notes (may change): a sharded hash map with a fast integer hash, so lookups
/// from many threads contend only when they hit the same shard.
pub(crate) struct ProcessTable {
    map: DashMap<u64, Arc<dyn ProcessCell>, FxBuildHasher>,
}

impl ProcessTable {
    pub(crate) fn new() -> Self {
        Self {
            map: DashMap::with_hasher(FxBuildHasher),
        }
    }

    pub(crate) fn insert(&self, cell: Arc<dyn ProcessCell>) {
        self.map.insert(cell.core().pid().id(), cell);
    }

    pub(crate) fn remove(&self, id: u64) {
        self.map.remove(&id);
    }

    /// Runs `f` on the process with this id, without cloning its handle.
    pub(crate) fn with<R>(&self, id: u64, f: impl FnOnce(&dyn ProcessCell) -> R) -> Option<R> {
        self.map.get(&id).map(|cell| f(&**cell))
    }

    pub(crate) fn get(&self, id: u64) -> Option<Arc<dyn ProcessCell>> {
        self.map.get(&id).map(|cell| cell.clone())
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The `n` processes with the longest mailboxes (longest first), without copying the
    /// table: one pass, keeping the best `n`.
    pub(crate) fn busiest(&self, n: usize) -> Vec<(super::Pid, usize)> {
        let mut best: Vec<(usize, super::Pid)> = Vec::with_capacity(n + 1);
        for entry in self.map.iter() {
            let len = entry.value().mailbox_len();
            if best.len() == n && best.last().is_some_and(|(l, _)| *l >= len) {
                continue;
            }
            let pid = entry.value().core().pid().clone();
            let at = best.partition_point(|(l, _)| *l >= len);
            best.insert(at, (len, pid));
            best.truncate(n);
        }
        best.into_iter().map(|(l, p)| (p, l)).collect()
    }

    /// A snapshot of every process (for shutdown and introspection).
    pub(crate) fn all(&self) -> Vec<Arc<dyn ProcessCell>> {
        self.map.iter().map(|e| e.value().clone()).collect()
    }
}
