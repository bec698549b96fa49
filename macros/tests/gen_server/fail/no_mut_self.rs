use locus::gen_server;

struct S;

#[gen_server]
impl S {
    #[call]
    async fn get(&self) -> u64 {
        1
    }
}

fn main() {}
