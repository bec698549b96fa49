//! TLS distribution and allow-lists: nodes with certificates from one CA talk (calls,
//! meshing); a node without TLS, with another CA's certificate, or with a certificate for
//! another host does not, and the error says why; allow-lists by name and by address,
//! both ways; refusals logged once per peer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use locus::{ConnectError, HandshakeError, Node, TlsConfig};
use support::os::OsNode;
use support::tls::Pki;
use support::{eventually, free_port, within};

async fn node(name: &str, epmd: u16, tls: Option<TlsConfig>) -> Node {
    let mut b = Node::builder()
        .name(format!("{name}@127.0.0.1"))
        .cookie("sec-cookie")
        .epmd_port(epmd);
    if let Some(t) = tls {
        b = b.tls(t);
    }
    b.start().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_with_certificates_from_one_ca_connect_call_and_mesh() {
    let pki = Pki::new("cluster-ca");
    let epmd = free_port();
    let cert = |n: &str| pki.node(n, &["127.0.0.1"]).config(&pki.ca_pem);
    let a = node("a", epmd, Some(cert("a"))).await;
    let b = node("b", epmd, Some(cert("b"))).await;
    let c = node("c", epmd, Some(cert("c"))).await;
    within("b connects over TLS", b.connect(a.name()))
        .await
        .unwrap();
    within("c connects over TLS", c.connect(a.name()))
        .await
        .unwrap();
    eventually("the mesh forms over TLS", || b.nodes().contains(c.name())).await;
    let answer: locus::NodeName = within(
        "an rpc over TLS",
        b.rpc()
            .call(c.name(), "node.self", (), Duration::from_secs(5)),
    )
    .await
    .unwrap();
    assert_eq!(&answer, c.name());
    // Large messages cross intact (TLS records are at most 16 KiB).
    let big = "x".repeat(1 << 20);
    a.rpc().register(
        "echo",
        |_n: Node, s: String| async move { Ok::<_, String>(s) },
    );
    let back: String = within(
        "a 1 MiB round trip",
        b.rpc()
            .call(a.name(), "echo", big.clone(), Duration::from_secs(10)),
    )
    .await
    .unwrap();
    assert_eq!(back, big);
    // Blobs go to the socket by reference (a vectored write), through TLS as well.
    a.rpc()
        .register("echo.blob", |_n: Node, b: locus::Blob| async move {
            Ok::<_, String>(b)
        });
    let blob = locus::Blob::from((0..3 << 20).map(|i| (i % 253) as u8).collect::<Vec<u8>>());
    let back: locus::Blob = within(
        "a 3 MiB blob round trip",
        b.rpc()
            .call(a.name(), "echo.blob", blob.clone(), Duration::from_secs(10)),
    )
    .await
    .unwrap();
    assert_eq!(back, blob);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_tls_and_a_node_with_it_do_not_connect_and_say_why() {
    let pki = Pki::new("ca");
    let epmd = free_port();
    let secure = node(
        "secure",
        epmd,
        Some(pki.node("s", &["127.0.0.1"]).config(&pki.ca_pem)),
    )
    .await;
    let plain = node("plain", epmd, None).await;
    // Plain to TLS: refused, with the reason.
    let e = within("plain dials tls", plain.connect(secure.name()))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ConnectError::Handshake(HandshakeError::Refused { reason, .. }) if reason.contains("requires TLS")),
        "{e}"
    );
    // TLS to plain: the TLS handshake fails, and says to check TLS on the peer.
    let e = within("tls dials plain", secure.connect(plain.name()))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ConnectError::Tls { error, .. } if error.contains("TLS")),
        "{e}"
    );
    assert!(secure.nodes().is_empty() && plain.nodes().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_ca_or_another_host_name_is_refused() {
    let ours = Pki::new("ours");
    let theirs = Pki::new("theirs");
    let epmd = free_port();
    let a = node(
        "a",
        epmd,
        Some(ours.node("a", &["127.0.0.1"]).config(&ours.ca_pem)),
    )
    .await;
    // A certificate from another CA (trusting ours, to reach the point of showing its own).
    let stranger = node(
        "stranger",
        epmd,
        Some(theirs.node("x", &["127.0.0.1"]).config(&ours.ca_pem)),
    )
    .await;
    let e = within("stranger dials", stranger.connect(a.name()))
        .await
        .unwrap_err();
    assert!(
        matches!(e, ConnectError::Tls { .. } | ConnectError::Io { .. }),
        "{e}"
    );
    assert!(a.nodes().is_empty());
    // A certificate from our CA but for another host: the dialling node refuses it.
    let wrong_host = node(
        "wronghost",
        epmd,
        Some(
            ours.node("w", &["10.9.9.9", "elsewhere.example"])
                .config(&ours.ca_pem),
        ),
    )
    .await;
    let e = within("a dials wronghost", a.connect(wrong_host.name()))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ConnectError::Tls { error, .. } if error.contains("127.0.0.1") || error.to_lowercase().contains("name")),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_authentication_can_be_turned_off() {
    let ours = Pki::new("ours");
    let theirs = Pki::new("theirs");
    let epmd = free_port();
    let server_cert = ours.node("srv", &["127.0.0.1"]);
    // The client trusts our CA, but its own certificate comes from another.
    let client_tls = theirs.node("cli", &["127.0.0.1"]).config(&ours.ca_pem);
    let strict = node("strict", epmd, Some(server_cert.config(&ours.ca_pem))).await;
    let lenient = node(
        "lenient",
        epmd,
        Some(server_cert.config(&ours.ca_pem).mutual(false)),
    )
    .await;
    let client = node("client", epmd, Some(client_tls)).await;
    within("lenient accepts", client.connect(lenient.name()))
        .await
        .unwrap();
    let e = within("strict refuses", client.connect(strict.name()))
        .await
        .unwrap_err();
    assert!(!matches!(e, ConnectError::Timeout(_)), "{e}");
    assert!(!strict.nodes().contains(client.name()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_lists_by_name_and_address_work_both_ways() {
    let epmd = free_port();
    let guarded = Node::builder()
        .name("guarded@127.0.0.1")
        .cookie("sec-cookie")
        .epmd_port(epmd)
        .allow_nodes(["friend@*"])
        .start()
        .await
        .unwrap();
    let friend = node("friend", epmd, None).await;
    let other = node("other", epmd, None).await;
    within("friend connects", friend.connect(guarded.name()))
        .await
        .unwrap();
    let e = within("other is refused", other.connect(guarded.name()))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ConnectError::Handshake(HandshakeError::Refused { reason, .. }) if reason.contains("does not allow")),
        "{e}"
    );
    // Both ways: the guarded node does not dial outside its list either.
    let e = within("guarded dials other", guarded.connect(other.name()))
        .await
        .unwrap_err();
    assert_eq!(e, ConnectError::NotAllowed(other.name().to_string()));

    // By address: only 10.0.0.0/8, so loopback peers are turned away before any hello.
    let fenced = Node::builder()
        .name("fenced@127.0.0.1")
        .cookie("sec-cookie")
        .epmd_port(epmd)
        .allow_addrs(["10.0.0.0/8"])
        .start()
        .await
        .unwrap();
    let e = within("friend dials fenced", friend.connect(fenced.name()))
        .await
        .unwrap_err();
    assert!(
        !matches!(e, ConnectError::Timeout(_)),
        "refused at once, not timed out: {e}"
    );
    assert!(fenced.nodes().is_empty());
    // A bad entry is named at start.
    let e = Node::builder()
        .name("bad@127.0.0.1")
        .cookie("c")
        .epmd_port(epmd)
        .allow_addrs(["10.0.0/8"])
        .start()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("10.0.0/8"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_allow_lists_from_the_command_line_and_refusals_logged_once() {
    let pki = Pki::new("cli-ca");
    let epmd = free_port();
    let a_cert = pki.node("a", &["127.0.0.1"]);
    let b_cert = pki.node("b", &["127.0.0.1"]);
    let a_flags = a_cert.flags();
    let mut args: Vec<&str> = a_flags.iter().map(String::as_str).collect();
    args.extend(["--allow-nodes", "b@127.0.0.1,locus-cli-*@*"]);
    let mut a = OsNode::start("a@127.0.0.1", epmd, &args);
    // An in-process node with TLS from the same CA, but not allowed: refused every time,
    // logged once.
    let c = Node::builder()
        .name("c@127.0.0.1")
        .cookie("os-test")
        .epmd_port(epmd)
        .tls(pki.node("c", &["127.0.0.1"]).config(&pki.ca_pem))
        .start()
        .await
        .unwrap();
    for _ in 0..5 {
        let e = within("c is refused", c.connect("a@127.0.0.1"))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("does not allow"), "{e}");
    }
    // A plain node: refused for lacking TLS, logged once as well.
    let plain = Node::builder()
        .name("plain@127.0.0.1")
        .cookie("os-test")
        .epmd_port(epmd)
        .start()
        .await
        .unwrap();
    for _ in 0..3 {
        let e = within("plain is refused", plain.connect("a@127.0.0.1"))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("requires TLS"), "{e}");
    }
    // b, allowed and with TLS: connects. Its nodeup marks the end of the refusals.
    let b_flags = b_cert.flags();
    let mut b_args: Vec<&str> = b_flags.iter().map(String::as_str).collect();
    b_args.extend(["--connect", "a@127.0.0.1"]);
    let _b = OsNode::start("b@127.0.0.1", epmd, &b_args);
    a.expect("nodeup b@127.0.0.1");
    let lines = a.drain().to_vec();
    let count = |needle: &str| lines.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(count("not in the allow-list"), 1, "{lines:?}");
    assert_eq!(count("requires TLS"), 1, "{lines:?}");
    // The command-line tools speak TLS too.
    let a_ping = a_cert.flags();
    let mut ping = vec!["ping", "a@127.0.0.1", "--cookie", "os-test", "--epmd-port"];
    let epmd_s = epmd.to_string();
    ping.push(&epmd_s);
    let (ok, out) = support::os::run(&ping);
    assert!(!ok && out == "pang\n", "a plain ping is refused: {out}");
    ping.extend(a_ping.iter().map(String::as_str));
    let (ok, out) = support::os::run(&ping);
    assert!(ok && out == "pong\n", "a TLS ping answers: {out}");
}
