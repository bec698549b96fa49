//! Local registered names (Erlang's `register/2`, `whereis/1`, `unregister/1`).
//!
//! A name belongs to at most one process and a process has at most one name. The name is
//! freed when its process ends, before anyone is told of the end, so a supervisor restarting
//! the process can register the name again.

use std::sync::Arc;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use rustc_hash::FxBuildHasher;

use crate::process::{Pid, ProcessCell, RegisterError};

/// The longest accepted name, in bytes.
const MAX_NAME_LEN: usize = 255;

pub(crate) struct Registry {
    map: DashMap<Arc<str>, Arc<dyn ProcessCell>, FxBuildHasher>,
}

pub(crate) fn validate_name(name: &str) -> Result<(), RegisterError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.contains('@') {
        return Err(RegisterError::InvalidName(name.to_owned()));
    }
    Ok(())
}

impl Registry {
    pub(crate) fn new() -> Self {
        Self {
            map: DashMap::with_hasher(FxBuildHasher),
        }
    }

    pub(crate) fn register(
        &self,
        name: &str,
        cell: Arc<dyn ProcessCell>,
    ) -> Result<(), RegisterError> {
        validate_name(name)?;
        let core = cell.core();
        // Lock order: the process's state, then the registry shard.
        core.with_name_slot(|dead, slot| {
            if dead {
                return Err(RegisterError::NoProc(core.pid().clone()));
            }
            if let Some(current) = slot {
                return Err(RegisterError::HasName {
                    pid: core.pid().clone(),
                    name: current.to_string(),
                });
            }
            match self.map.entry(Arc::from(name)) {
                Entry::Occupied(e) => Err(RegisterError::Taken {
                    name: name.to_owned(),
                    holder: e.get().core().pid().clone(),
                }),
                Entry::Vacant(v) => {
                    *slot = Some(v.key().clone());
                    v.insert(cell.clone());
                    Ok(())
                }
            }
        })
    }

    pub(crate) fn unregister(&self, name: &str) -> Option<Pid> {
        let (_, cell) = self.map.remove(name)?;
        cell.core().with_name_slot(|_, slot| {
            if slot.as_deref() == Some(name) {
                *slot = None;
            }
        });
        Some(cell.core().pid().clone())
    }

    /// Frees `name` if `pid` still holds it (a process that ends).
    pub(crate) fn remove_if_owner(&self, name: &str, pid: &Pid) {
        self.map.remove_if(name, |_, cell| cell.core().pid() == pid);
    }

    pub(crate) fn whereis(&self, name: &str) -> Option<Pid> {
        self.map.get(name).map(|cell| cell.core().pid().clone())
    }

    pub(crate) fn get(&self, name: &str) -> Option<Arc<dyn ProcessCell>> {
        self.map.get(name).map(|cell| cell.clone())
    }

    /// Runs `f` on the process registered as `name`.
    pub(crate) fn with<R>(&self, name: &str, f: impl FnOnce(&dyn ProcessCell) -> R) -> Option<R> {
        self.map.get(name).map(|cell| f(&**cell))
    }

    /// The name `pid` is registered under, if any (a scan: for reports, not hot paths).
    pub(crate) fn name_of(&self, pid: &Pid) -> Option<String> {
        self.map
            .iter()
            .find(|e| e.value().core().pid() == pid)
            .map(|e| e.key().to_string())
    }

    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.map.iter().map(|e| e.key().to_string()).collect();
        names.sort();
        names
    }
}
