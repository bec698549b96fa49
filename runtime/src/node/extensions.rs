//! State that the layers above the node core keep on a node, one value per type.
//!
//! The node core does not know the services built on it (distribution, rpc, global names,
//! process groups...). Each keeps its own state here, keyed by the state's type, the way an
//! OTP application keeps its servers' state to itself: the node only holds it, so that it
//! lives as long as the node and every clone of the node sees the same value.
//!
//! A value is created on first use ([`Node::extension`]) or set once
//! ([`Node::set_extension`]), and never replaced or removed while the node lives.

use std::any::{Any, TypeId};
use std::sync::Arc;

use parking_lot::RwLock;
use rustc_hash::FxHashMap;

use super::Node;

type Value = Arc<dyn Any + Send + Sync>;

/// The typed map behind [`Node::extension`].
#[derive(Default)]
pub(crate) struct Extensions {
    map: RwLock<FxHashMap<TypeId, Value>>,
}

impl Extensions {
    fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        let v = self.map.read().get(&TypeId::of::<T>())?.clone();
        v.downcast::<T>().ok()
    }

    fn get_or_insert_with<T: Any + Send + Sync>(&self, make: impl FnOnce() -> T) -> Arc<T> {
        if let Some(v) = self.get::<T>() {
            return v;
        }
        // Made outside the lock: `make` may itself use other extensions.
        let fresh = Arc::new(make());
        let mut map = self.map.write();
        match map.get(&TypeId::of::<T>()) {
            // Another thread made one meanwhile: everyone shares the first. (The value under
            // `T`'s id is always a `T`.)
            Some(existing) => existing.clone().downcast::<T>().unwrap_or(fresh),
            None => {
                map.insert(TypeId::of::<T>(), fresh.clone());
                fresh
            }
        }
    }

    fn insert<T: Any + Send + Sync>(&self, value: Arc<T>) -> bool {
        let mut map = self.map.write();
        if map.contains_key(&TypeId::of::<T>()) {
            return false;
        }
        map.insert(TypeId::of::<T>(), value);
        true
    }
}

impl Node {
    /// This node's value of type `T`, made with `T::default()` on first use.
    pub(crate) fn extension<T: Any + Send + Sync + Default>(&self) -> Arc<T> {
        self.inner.extensions.get_or_insert_with(T::default)
    }

    /// This node's value of type `T`, if one was made.
    pub(crate) fn try_extension<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.inner.extensions.get::<T>()
    }

    /// Sets this node's value of type `T`; false (and nothing changes) if it has one.
    pub(crate) fn set_extension<T: Any + Send + Sync>(&self, value: Arc<T>) -> bool {
        self.inner.extensions.insert(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Counter(std::sync::atomic::AtomicU32);

    #[tokio::test]
    async fn one_value_per_type_shared_by_every_clone() {
        let node = Node::builder().start().await.unwrap();
        let clone = node.clone();
        node.extension::<Counter>()
            .0
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            clone
                .extension::<Counter>()
                .0
                .load(std::sync::atomic::Ordering::SeqCst),
            1
        );
        assert!(node.try_extension::<String>().is_none());
        assert!(node.set_extension(Arc::new(String::from("first"))));
        assert!(!node.set_extension(Arc::new(String::from("second"))));
        assert_eq!(*clone.try_extension::<String>().unwrap(), "first");
        let other = Node::builder().start().await.unwrap();
        assert!(
            other.try_extension::<String>().is_none(),
            "nodes do not share"
        );
    }
}
