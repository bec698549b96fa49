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

    /// A snapshot of every process (for shutdown and introspection).
    pub(crate) fn all(&self) -> Vec<Arc<dyn ProcessCell>> {
        self.map.iter().map(|e| e.value().clone()).collect()
    }
}
