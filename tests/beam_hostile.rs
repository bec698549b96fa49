//! A hostile BEAM peer, spoken by hand over a raw socket to an in-process node with
//! `erlang_dist`: every bad handshake and every bad frame ends in a closed connection, and
//! the node lives on (a well-behaved peer connects right after each). The lists follow
//! `reference/beam-interop.md` §7; the pure parsers have their own unit tests and fuzz
//! targets, this checks the node around them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use locus::Node;
use md5::{Digest, Md5};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::{DEADLINE, free_port, within};

const COOKIE: &str = "hostile-peers-know-this-cookie";

/// The flags an OTP 25 node offers that locus requires (and `PUBLISHED`).
const FLAGS: u64 = 0x1 // PUBLISHED
    | 0x4 | 0x8 | 0x10 | 0x20 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800
    | 0x1_0000 | 0x2_0000 | 0x4_0000 | 0x8_0000 | 0x40_0000
    | 0x100_0000 | 0x200_0000 | 0x400_0000
    | (1 << 32) | (1 << 34) | (1 << 35);

async fn target() -> Node {
    Node::builder()
        .name(format!("hostile{}@127.0.0.1", std::process::id()))
        .cookie(COOKIE)
        .epmd_port(free_port())
        .erlang_dist(true)
        .start()
        .await
        .expect("node starts")
}

async fn dial(node: &Node) -> TcpStream {
    TcpStream::connect(("127.0.0.1", node.listen_port().unwrap()))
        .await
        .unwrap()
}

async fn send_msg(s: &mut TcpStream, body: &[u8]) {
    let mut m = (body.len() as u16).to_be_bytes().to_vec();
    m.extend_from_slice(body);
    s.write_all(&m).await.unwrap();
}

async fn recv_msg(s: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).await.unwrap();
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut body).await.unwrap();
    body
}

fn name_msg(flags: u64, name: &str) -> Vec<u8> {
    let mut m = vec![b'N'];
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&7u32.to_be_bytes());
    m.extend_from_slice(&(name.len() as u16).to_be_bytes());
    m.extend_from_slice(name.as_bytes());
    m
}

fn digest(challenge: u32) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(COOKIE.as_bytes());
    h.update(challenge.to_string().as_bytes());
    h.finalize().into()
}

/// A full, honest handshake as `name`; the socket is then a connection.
async fn handshake(node: &Node, name: &str) -> TcpStream {
    let mut s = dial(node).await;
    send_msg(&mut s, &name_msg(FLAGS, name)).await;
    assert_eq!(recv_msg(&mut s).await, b"sok");
    let challenge = recv_msg(&mut s).await;
    assert_eq!(challenge[0], b'N');
    let theirs = u32::from_be_bytes(challenge[9..13].try_into().unwrap());
    let mut reply = vec![b'r'];
    reply.extend_from_slice(&42u32.to_be_bytes());
    reply.extend_from_slice(&digest(theirs));
    send_msg(&mut s, &reply).await;
    let ack = recv_msg(&mut s).await;
    assert_eq!(ack[0], b'a');
    assert_eq!(&ack[1..], &digest(42));
    s
}

/// Waits until the node closes `s` (reading past whatever it sent first).
async fn closed(mut s: TcpStream, what: &str) {
    let mut buf = [0u8; 4096];
    let end = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    };
    if tokio::time::timeout(DEADLINE, end).await.is_err() {
        panic!("the node kept the connection open after {what}");
    }
}

/// The node is alive: an honest peer completes a handshake and is listed.
async fn alive(node: &Node, n: usize) {
    let name = format!("honest{n}@127.0.0.1");
    let s = within("an honest handshake", handshake(node, &name)).await;
    support::eventually("the honest peer listed", || {
        node.nodes().iter().any(|p| p.as_str() == name)
    })
    .await;
    drop(s);
    support::eventually("the honest peer gone", || {
        !node.nodes().iter().any(|p| p.as_str() == name)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_handshakes_close_the_connection_and_the_node_lives_on() {
    let node = target().await;
    let mut n = 0;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "the old 'n' name message",
            b"n\x00\x06\x00\x00\x00\x00x@127.0.0.1".to_vec(),
        ),
        ("missing mandatory flags", name_msg(0x4, "x@127.0.0.1")),
        ("NAME_ME", name_msg(FLAGS | (1 << 33), "x@127.0.0.1")),
        ("a name without @", name_msg(FLAGS, "noat")),
        ("an empty host", name_msg(FLAGS, "x@")),
        (
            "a name of 300 characters",
            name_msg(FLAGS, &"a".repeat(300)),
        ),
        ("a NUL in the name", name_msg(FLAGS, "x\0@127.0.0.1")),
        ("a non-ASCII name", name_msg(FLAGS, "é@127.0.0.1")),
    ];
    for (what, msg) in cases {
        let mut s = dial(&node).await;
        send_msg(&mut s, &msg).await;
        closed(s, what).await;
        n += 1;
        alive(&node, n).await;
    }
    // A message over 1 KiB.
    let mut s = dial(&node).await;
    s.write_all(&[0x10, 0x00, b'N']).await.unwrap();
    s.write_all(&[0u8; 200]).await.unwrap();
    closed(s, "a 4 KiB handshake message").await;
    // A wrong digest.
    let mut s = dial(&node).await;
    send_msg(&mut s, &name_msg(FLAGS, "liar@127.0.0.1")).await;
    assert_eq!(recv_msg(&mut s).await, b"sok");
    let _challenge = recv_msg(&mut s).await;
    let mut reply = vec![b'r'];
    reply.extend_from_slice(&42u32.to_be_bytes());
    reply.extend_from_slice(&[0u8; 16]);
    send_msg(&mut s, &reply).await;
    closed(s, "a wrong digest").await;
    alive(&node, 100).await;
    assert!(node.nodes().is_empty());
}

/// A pass-through frame: `112`, then each part with its version byte.
fn frame(parts: &[&[u8]]) -> Vec<u8> {
    let mut body = vec![112];
    for p in parts {
        body.push(131);
        body.extend_from_slice(p);
    }
    let mut f = (body.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(&body);
    f
}

fn raw(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_close_the_connection_and_the_node_lives_on() {
    let node = target().await;
    // `{6, <pid>, '', sink}` without a message; a deep nest; and others, each a frame.
    let mut deep = Vec::new();
    for _ in 0..100_000 {
        deep.extend_from_slice(&[104, 1]);
    }
    deep.push(106);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "a frame over the maximum",
            (u32::MAX - 1).to_be_bytes().to_vec(),
        ),
        ("an unknown first byte", raw(&[99, 131, 106])),
        ("an atom cache header never negotiated", raw(&[131, 68, 0])),
        ("a control that is not a tuple", frame(&[&[106]])),
        ("an unknown operation", frame(&[&[104, 1, 97, 200]])),
        ("a wrong arity", frame(&[&[104, 2, 97, 1, 106]])),
        ("a truncated term", frame(&[&[104, 3, 97, 1]])),
        (
            "a count of 2^32-1",
            frame(&[&[108, 255, 255, 255, 255, 106]]),
        ),
        ("1e5-deep nesting", frame(&[&deep])),
        ("an atom cache reference", frame(&[&[104, 1, 82, 0]])),
        ("LOCAL_EXT", frame(&[&[121, 1, 2, 3]])),
        (
            "a reference of 6 words",
            frame(&[&[
                104, 1, 90, 0, 6, 119, 1, b'a', 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0,
                0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6,
            ]]),
        ),
        (
            "a send without its message",
            frame(&[&[104, 3, 97, 2, 106, 106]]),
        ),
        ("trailing bytes", frame(&[&[104, 1, 97, 7, 0]])),
        (
            "a compressed term that lies about its size",
            frame(&[&[80, 0, 0, 0, 10, 120, 156, 3, 0, 0, 0, 0, 1]]),
        ),
    ];
    for (n, (what, bytes)) in cases.into_iter().enumerate() {
        let mut s = handshake(&node, &format!("evil{n}@127.0.0.1")).await;
        s.write_all(&bytes).await.unwrap();
        closed(s, what).await;
        alive(&node, n).await;
    }
    // A tick (an empty frame) is fine, and so is a message nobody can take.
    let mut s = handshake(&node, "ticker@127.0.0.1").await;
    s.write_all(&[0, 0, 0, 0]).await.unwrap();
    // REG_SEND {6, From, '', nobody} + 'hello'.
    let from: &[u8] = &[
        88, 119, 16, b't', b'i', b'c', b'k', b'e', b'r', b'@', b'1', b'2', b'7', b'.', b'0', b'.',
        b'0', b'.', b'1', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7,
    ];
    let mut control = vec![104, 4, 97, 6];
    control.extend_from_slice(from);
    control.extend_from_slice(&[119, 0, 119, 6]);
    control.extend_from_slice(b"nobody");
    s.write_all(&frame(&[&control, &[119, 5, b'h', b'e', b'l', b'l', b'o']]))
        .await
        .unwrap();
    support::eventually("the ticker listed", || {
        node.nodes()
            .iter()
            .any(|p| p.as_str() == "ticker@127.0.0.1")
    })
    .await;
    let mut buf = [0u8; 64];
    // Still open: the node sends ticks, never a close, within a second.
    let read = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(n)) if n > 0),
        "the node closed a connection that sent a tick and an undeliverable message: {read:?}"
    );
}
