use locus::gen_server;

struct S;

#[gen_server]
impl S {
    #[cast]
    async fn log(&mut self, line: &str) {
        let _ = line;
    }
}

fn main() {}
