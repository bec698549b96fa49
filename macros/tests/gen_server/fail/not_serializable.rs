use locus::gen_server;

struct S;

/// Not serializable, on a server meant for remote use.
struct Handle(std::sync::Mutex<u8>);

#[gen_server]
impl S {
    #[call]
    async fn take(&mut self, handle: Handle) -> u64 {
        let _ = handle;
        1
    }
}

fn main() {}
