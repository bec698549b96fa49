//! The shortest tour: two nodes in one process, a `#[gen_server]` on one called by
//! `(name, node)` from the other, a monitor on it, and what the monitor says when its node
//! halts (as `erlang:halt/0` or a crash would).
//!
//! ```text
//! cargo run --example first_steps
//! ```
//!
//! prints
//!
//! ```text
//! b@127.0.0.1 answered: hello, a@127.0.0.1 (1 greeting so far)
//! monitoring #PID<..@b@127.0.0.1>
//! b@127.0.0.1 halted
//! Down: greeter on b@127.0.0.1 ended: noconnection
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use locus::prelude::*;

/// Greets whoever asks, counting.
#[derive(Default)]
struct Greeter {
    greeted: u64,
}

#[gen_server]
impl Greeter {
    #[call]
    fn greet(&mut self, who: String) -> String {
        self.greeted += 1;
        format!("hello, {who} ({} greeting so far)", self.greeted)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Two named nodes in one process. `epmd_port(0)`: `a` serves a private port mapper on
    // a free loopback port, and `b` uses it (nothing to pick, nothing on 4369).
    let a = Node::builder()
        .name("a@127.0.0.1")
        .cookie("first-steps")
        .epmd_port(0)
        .start()
        .await?;
    let port = a.epmd_port().expect("a is distributed");
    let b = Node::builder()
        .name("b@127.0.0.1")
        .cookie("first-steps")
        .epmd_port(port)
        .start()
        .await?;
    Greeter::start(&b, Greeter::default())
        .register("greeter")
        .await?;

    // GenServer.call({:greeter, :"b@127.0.0.1"}, {:greet, "a@127.0.0.1"}) from a.
    let greeter = Greeter::client(&a, ("greeter", b.name()));
    let answer = greeter.greet(a.name().to_string()).await?;
    println!("{} answered: {answer}", b.name());

    // Process.monitor of the server, from a process on a.
    let pid = a
        .whereis_on(b.name(), "greeter", Duration::from_secs(5))
        .await?
        .expect("greeter is registered on b");
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    a.spawn(move |mut ctx: Ctx<()>| async move {
        ctx.monitor(&pid);
        let _ = ready_tx.send(pid.clone());
        loop {
            if let Signal::Down(down) = ctx.recv().await {
                let _ = tx.send(down);
                return;
            }
        }
    });
    println!("monitoring {}", ready.await?);

    // b stops abruptly: no goodbye, so a sees the connection lost.
    b.halt().await;
    println!("{} halted", b.name());
    let down = rx.await?;
    println!(
        "Down: greeter on {} ended: {}",
        down.pid.node(),
        down.reason
    );
    a.shutdown().await;
    Ok(())
}
