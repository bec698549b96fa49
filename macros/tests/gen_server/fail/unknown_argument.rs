use locus::gen_server;

struct S;

#[gen_server(remote_only)]
impl S {
    #[call]
    async fn get(&mut self) -> u64 {
        1
    }
}

fn main() {}
