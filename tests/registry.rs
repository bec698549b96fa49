//! Registered names.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use locus::{Ctx, ExitReason, RegisterError, SpawnOpts};
use support::{node, within};

fn idle(node: &locus::Node) -> locus::Addr<()> {
    node.spawn(|mut ctx: Ctx<()>| async move {
        ctx.recv().await;
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_whereis_unregister() {
    let node = node().await;
    let a = idle(&node);
    node.register("worker", a.pid()).unwrap();
    assert_eq!(node.whereis("worker").as_ref(), Some(a.pid()));
    assert_eq!(node.registered(), vec!["worker".to_string()]);
    assert_eq!(node.unregister("worker").as_ref(), Some(a.pid()));
    assert_eq!(node.whereis("worker"), None);
    assert_eq!(node.unregister("worker"), None);
    // Once unregistered, the process can take another name.
    node.register("other", a.pid()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_name_is_an_error_naming_the_holder() {
    let node = node().await;
    let a = idle(&node);
    let b = idle(&node);
    node.register("worker", a.pid()).unwrap();
    let err = node.register("worker", b.pid()).unwrap_err();
    assert_eq!(
        err,
        RegisterError::Taken {
            name: "worker".into(),
            holder: a.pid().clone()
        }
    );
    assert!(err.to_string().contains(&a.pid().to_string()), "{err}");
    // The same through spawn options: nothing is spawned.
    let before = node.process_count();
    let r = node.spawn_opts(SpawnOpts::new().register("worker"), |_: Ctx<()>| async {});
    assert!(matches!(r, Err(RegisterError::Taken { .. })));
    assert_eq!(node.process_count(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_has_at_most_one_name_and_names_are_validated() {
    let node = node().await;
    let a = idle(&node);
    node.register("first", a.pid()).unwrap();
    assert!(matches!(
        node.register("second", a.pid()),
        Err(RegisterError::HasName { .. })
    ));
    let b = idle(&node);
    for bad in ["", "a@b", &"x".repeat(256)] {
        assert!(
            matches!(
                node.register(bad, b.pid()),
                Err(RegisterError::InvalidName(_))
            ),
            "{bad:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_is_freed_when_its_process_ends() {
    let node = node().await;
    let a = idle(&node);
    node.register("worker", a.pid()).unwrap();
    let w = node.watch(a.pid());
    node.exit(a.pid(), ExitReason::Kill);
    within("exit", w).await;
    // Freed before the watch resolved.
    assert_eq!(node.whereis("worker"), None);
    let b = idle(&node);
    node.register("worker", b.pid()).unwrap();
    // And a dead pid cannot be registered.
    assert!(matches!(
        node.register("ghost", a.pid()),
        Err(RegisterError::NoProc(_))
    ));
}
