//! A builder does what its code says: it reads no `LOCUS_*` environment variable (those are
//! `Config`'s). The check runs in a child process of this test binary, with the variables
//! set to values the builder would have refused or used.

use std::process::Command;
use std::time::Duration;

#[test]
fn a_builder_reads_no_locus_environment_variable() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "builder_in_a_polluted_environment",
            "--include-ignored",
        ])
        .args(["--test-threads", "1", "--nocapture"])
        // Each of these made the builder fail, or change a setting, when it read them.
        .env("LOCUS_EPMD_PORT", "1")
        .env("LOCUS_SPIN_US", "not-a-number")
        .env("LOCUS_TLS_CERT", "/nonexistent/cert.pem")
        .env("LOCUS_COOKIE", "from-the-environment")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "the child ran the check: {text}");
}

#[tokio::test]
#[ignore = "run by a_builder_reads_no_locus_environment_variable, in a child process"]
async fn builder_in_a_polluted_environment() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // A fixed port: no port mapper is involved, so port 1 would only show in epmd_port().
    let node = locus::Node::builder()
        .name("envprobe@127.0.0.1")
        .cookie("c")
        .dist_port(port)
        .spin(Duration::from_micros(10))
        .start()
        .await
        .expect("the builder ignores LOCUS_SPIN_US and the lone LOCUS_TLS_CERT");
    assert_eq!(node.epmd_port(), Some(locus::epmd::DEFAULT_EPMD_PORT));
    // The environment's settings are Config's to read.
    let config = locus::config::Config::new().env();
    assert_eq!(config.get("epmd_port"), Some("1"));
    node.shutdown().await;
}
