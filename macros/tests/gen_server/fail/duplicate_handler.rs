use locus::gen_server;

struct S;

#[gen_server]
impl S {
    #[call]
    async fn get(&mut self) -> u64 {
        1
    }

    #[cast]
    async fn get(&mut self, by: u64) {
        let _ = by;
    }
}

fn main() {}
