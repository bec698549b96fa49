use locus::gen_server;

struct Renamed;

#[gen_server(name = "stable-name")]
impl Renamed {
    #[call]
    async fn hello(&mut self, who: String) -> String {
        format!("hello {who}")
    }
}

fn main() {
    let _ = Renamed;
}
