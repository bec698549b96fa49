use std::sync::Arc;

use locus::{Flow, ReplyHandle, gen_server};

/// A local-only server: its messages hold things that cannot cross nodes.
struct Registry {
    items: Vec<Arc<String>>,
}

#[gen_server(local)]
impl Registry {
    /// Sync handlers are fine.
    #[call]
    fn len(&mut self) -> usize {
        self.items.len()
    }

    #[cast]
    fn put(&mut self, item: Arc<String>) -> Flow {
        self.items.push(item);
        Flow::Continue
    }

    /// Answered later, from another task.
    #[call]
    async fn later(&mut self, reply: ReplyHandle<usize>) {
        let n = self.items.len();
        tokio::spawn(async move { reply.reply(n) });
    }
}

fn main() {
    let _ = Registry { items: Vec::new() };
}
