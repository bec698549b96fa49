//! The `locus` command: run a node, inspect a cluster, run the port mapper, measure a link.
//! See `locus --help`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
