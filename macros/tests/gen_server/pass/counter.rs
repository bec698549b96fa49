use locus::{ExitReason, Node, Pid, ServerCtx, Signal, gen_server};

#[derive(Default)]
pub struct Counter {
    n: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Tick;

#[gen_server]
impl Counter {
    #[init]
    async fn init(&mut self, ctx: &mut ServerCtx<Self>) {
        ctx.trap_exit(true);
    }

    #[call]
    async fn get(&mut self) -> u64 {
        self.n
    }

    #[call]
    async fn add_and_get(&mut self, by: u64, ctx: &mut ServerCtx<Self>) -> (Pid, u64) {
        self.n += by;
        (ctx.pid().clone(), self.n)
    }

    #[cast]
    async fn add(&mut self, by: u64) {
        self.n += by;
    }

    #[info]
    async fn tick(&mut self, _tick: Tick) {}

    #[info]
    async fn signals(&mut self, _signal: Signal<CounterInfo>) {}

    #[terminate]
    async fn terminate(&mut self, _reason: &ExitReason) {}
}

async fn use_it(node: &Node) -> Result<(), Box<dyn std::error::Error>> {
    let c: CounterClient = Counter::start(node, Counter::default()).register("c").await?;
    c.add(1).await?;
    let _: u64 = c.get().await?;
    let _: (Pid, u64) = c.add_and_get(2).await?;
    c.tick(Tick).await?;
    let remote = Counter::client(node, ("c", node.name())).timeout(std::time::Duration::from_secs(1));
    let _ = remote.get().await;
    Ok(())
}

fn main() {
    let _ = use_it;
}
