use locus::gen_server;

struct S;

#[gen_server]
impl S {
    #[call]
    async fn stop(&mut self) -> u64 {
        1
    }
}

fn main() {}
