//! The observer dashboard in a real browser: headless Chromium driven through WebDriver
//! (chromedriver, fantoccini) against a real 3-node cluster of `locus node` processes and
//! `locus observer`; then the same page over 100 nodes and 100,000 processes. A screenshot
//! of each is saved under the target directory as a test artifact.
//!
//! Needs Debian's `chromium` and `chromium-driver`; without them the test is skipped with
//! a message (a failure under `LOCUS_TEST_STRICT=1`, as in CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use locus::Node;
use support::os::{OsNode, locus};
use support::{DEADLINE, free_port};

/// A headless Chromium session through a chromedriver of our own; dropping the returned
/// process stops the driver.
async fn browser() -> Option<(Client, OsNode)> {
    let (Some(_), Some(driver)) = (
        support::netns::tool("chromium"),
        support::netns::tool("chromedriver"),
    ) else {
        support::netns::missing(
            "chromium and chromedriver",
            "apt-get install chromium chromium-driver",
        );
        return None;
    };
    let port = free_port();
    let mut cmd = std::process::Command::new(driver);
    cmd.arg(format!("--port={port}"));
    let mut process = OsNode::spawn("chromedriver", cmd);
    process.expect_line("chromedriver to start", |l| {
        l.contains("started successfully")
    });
    let caps: serde_json::Map<String, serde_json::Value> = serde_json::from_value(serde_json::json!({
        "goog:chromeOptions": {
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1000"]
        }
    }))
    .unwrap();
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a WebDriver session");
    Some((client, process))
}

/// Evaluates `script` (which returns a number) until `ok` holds, within `deadline`.
async fn wait_for(
    client: &Client,
    what: &str,
    script: &str,
    deadline: Duration,
    ok: impl Fn(f64) -> bool,
) -> f64 {
    let start = Instant::now();
    loop {
        let v = client
            .execute(script, vec![])
            .await
            .ok()
            .and_then(|v| v.as_f64());
        if let Some(v) = v
            && ok(v)
        {
            return v;
        }
        assert!(
            start.elapsed() < deadline,
            "waited {deadline:?} for {what}; last value {v:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Saves a screenshot of the page under the target directory.
async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("a screenshot");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_cluster_and_a_node_going_down() {
    let Some((client, _driver)) = browser().await else {
        return;
    };
    let epmd = free_port();
    let _n1 = OsNode::start("n1@127.0.0.1", epmd, &[]);
    let _n2 = OsNode::start("n2@127.0.0.1", epmd, &["--connect", "n1@127.0.0.1"]);
    let mut n3 = OsNode::start("n3@127.0.0.1", epmd, &["--connect", "n1@127.0.0.1"]);
    let http = free_port();
    let mut cmd = locus();
    cmd.args([
        "observer",
        "n1@127.0.0.1",
        "--cookie",
        "os-test",
        "--epmd-port",
    ])
    .arg(epmd.to_string())
    .args(["--listen", &format!("127.0.0.1:{http}")]);
    let mut observer = OsNode::spawn("observer", cmd);
    observer.expect_prefix("observing n1@127.0.0.1 at http://");

    client
        .goto(&format!("http://127.0.0.1:{http}/"))
        .await
        .unwrap();
    wait_for(
        &client,
        "three nodes up",
        "return document.querySelectorAll('#graph [data-node][data-state=up]').length",
        DEADLINE,
        |v| v == 3.0,
    )
    .await;
    wait_for(
        &client,
        "the three connections",
        "return document.querySelectorAll('#graph [data-edge][data-state=up]').length",
        DEADLINE,
        |v| v == 3.0,
    )
    .await;
    wait_for(
        &client,
        "the live status",
        "return document.getElementById('status').dataset.live === 'true' ? 1 : 0",
        DEADLINE,
        |v| v == 1.0,
    )
    .await;
    // Details of a node, by clicking it in the table.
    let row = client
        .find(fantoccini::Locator::Css(r#"tr[data-row="n2@127.0.0.1"]"#))
        .await
        .unwrap();
    row.click().await.unwrap();
    wait_for(
        &client,
        "n2's details",
        "return document.getElementById('detail').textContent.includes('ping') ? 1 : 0",
        DEADLINE,
        |v| v == 1.0,
    )
    .await;
    screenshot(&client, "observer-3-nodes.png").await;

    n3.kill_9();
    wait_for(
        &client,
        "n3 marked down",
        r#"return document.querySelectorAll('#graph [data-node="n3@127.0.0.1"][data-state=down]').length"#,
        DEADLINE,
        |v| v == 1.0,
    )
    .await;
    wait_for(
        &client,
        "the remaining connection only",
        "return document.querySelectorAll('#graph [data-edge]').length",
        DEADLINE,
        |v| v == 1.0,
    )
    .await;
    wait_for(&client, "the nodedown event logged", "return [...document.querySelectorAll('#events li.down')].some(li => li.textContent.includes('n3@127.0.0.1')) ? 1 : 0", DEADLINE, |v| v == 1.0).await;
    screenshot(&client, "observer-n3-down.png").await;
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_stays_bounded_with_100_nodes_and_100000_processes() {
    let Some((client, _driver)) = browser().await else {
        return;
    };
    let epmd = free_port();
    let mut nodes = Vec::new();
    for i in 0..100 {
        nodes.push(
            Node::builder()
                .name(format!("s{i}@127.0.0.1"))
                .cookie("scale")
                .epmd_port(epmd)
                .start()
                .await
                .unwrap(),
        );
    }
    for n in &nodes[1..] {
        n.connect(nodes[0].name()).await.unwrap();
    }
    // 100,000 idle processes on one node.
    for _ in 0..100_000 {
        nodes[1].spawn(|mut ctx: locus::Ctx<()>| async move {
            ctx.recv().await;
        });
    }
    let dashboard = locus::observer::serve(
        &nodes[0],
        "127.0.0.1:0".parse().unwrap(),
        Default::default(),
    )
    .await
    .unwrap();
    client
        .goto(&format!("http://{}/", dashboard.local_addr()))
        .await
        .unwrap();
    let slow = Duration::from_secs(60);
    wait_for(
        &client,
        "100 nodes up",
        "return document.querySelectorAll('#graph [data-node][data-state=up]').length",
        slow,
        |v| v == 100.0,
    )
    .await;
    wait_for(
        &client,
        "the full mesh drawn",
        "return document.querySelectorAll('#graph [data-edge]').length",
        slow,
        |v| v == 4950.0,
    )
    .await;
    wait_for(&client, "the process count shown", r#"return document.querySelector('tr[data-row="s1@127.0.0.1"]').textContent.includes('100,0') ? 1 : 0"#, slow, |v| v == 1.0).await;
    // Bounded: no element per process; one row per node.
    let elements = wait_for(
        &client,
        "the page size",
        "return document.getElementsByTagName('*').length",
        slow,
        |_| true,
    )
    .await;
    assert!(elements < 20_000.0, "{elements} elements on the page");
    let rows = wait_for(
        &client,
        "node rows",
        "return document.querySelectorAll('#nodes tbody tr').length",
        slow,
        |_| true,
    )
    .await;
    assert_eq!(rows, 100.0);
    screenshot(&client, "observer-100-nodes.png").await;
    client.close().await.unwrap();
}
