//! Hostile and silent peers, driven byte by byte: a raw socket that completes the handshake
//! with the sans-IO initiator, then misbehaves.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::frame::{self, MsgOut};
use super::handshake::{Identity, InitStep, Initiator, read_message};
use super::{NodeEvent, epmd};
use crate::node::Addressee;
use crate::node::Ctx;
use crate::node::{Node, NodeDownReason, NodeName};
use crate::process::{Signal, WireKind};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn node(
    name: &str,
    epmd_port: u16,
    tick: Option<Duration>,
    max_frame: Option<usize>,
) -> Node {
    let mut b = Node::builder()
        .name(format!("{name}@127.0.0.1"))
        .cookie("c")
        .epmd_port(epmd_port);
    if let Some(t) = tick {
        b = b.tick_time(t);
    }
    if let Some(m) = max_frame {
        b = b.max_frame(m);
    }
    b.start().await.unwrap()
}

async fn read_msg(s: &mut TcpStream) -> Vec<u8> {
    read_message(s).await.unwrap()
}

/// A raw connection to `to`, authenticated as `raw@127.0.0.1`.
async fn raw_peer(to: &Node) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", to.listen_port().unwrap()))
        .await
        .unwrap();
    let me = Identity {
        name: NodeName::new("raw@127.0.0.1").unwrap(),
        creation: 1,
        hidden: false,
        listen_port: 1,
    };
    let (mut init, hello) = Initiator::new(me, b"c", to.name().clone(), [1; 32]);
    s.write_all(&hello).await.unwrap();
    loop {
        let body = read_msg(&mut s).await;
        match init.receive(&body).unwrap() {
            InitStep::Proof { bytes, .. } => s.write_all(&bytes).await.unwrap(),
            InitStep::Done(_) => return s,
        }
    }
}

/// Reads until the other side closes; returns whether it did within the deadline.
async fn closed_by_peer(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(until, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

async fn down_event(events: &mut super::NodeEvents) -> NodeDownReason {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
            Ok(Some(NodeEvent::Down(_, reason))) => return reason,
            Ok(Some(_)) => {}
            other => panic!("no nodedown: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_after_the_handshake_closes_only_that_connection() {
    let epmd = free_port();
    let a = node("a", epmd, None, None).await;
    let b = node("b", epmd, None, None).await;
    a.connect(b.name()).await.unwrap();
    let mut events = a.node_events();
    let mut raw = raw_peer(&a).await;
    raw.write_all(&[0, 0, 0, 5, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1])
        .await
        .unwrap();
    assert!(closed_by_peer(&mut raw).await);
    assert!(matches!(
        down_event(&mut events).await,
        NodeDownReason::ProtocolError(_)
    ));
    assert_eq!(
        a.nodes(),
        vec![b.name().clone()],
        "the other peer is unaffected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_before_the_handshake_is_refused_and_changes_nothing() {
    let epmd = free_port();
    let a = node("a", epmd, None, None).await;
    for garbage in [&b"GET / HTTP/1.1\r\n\r\n"[..], &[0xff; 64], &[0, 0, 0, 0]] {
        let mut s = TcpStream::connect(("127.0.0.1", a.listen_port().unwrap()))
            .await
            .unwrap();
        s.write_all(garbage).await.unwrap();
        assert!(closed_by_peer(&mut s).await);
    }
    assert!(a.nodes().is_empty());
    // Still serving: a real node connects.
    let b = node("b", epmd, None, None).await;
    b.connect(a.name()).await.unwrap();
    // And the port mapper survived garbage too.
    let mut s = TcpStream::connect(("127.0.0.1", epmd)).await.unwrap();
    s.write_all(&[0xff, 0xff, 1, 2, 3]).await.unwrap();
    assert!(closed_by_peer(&mut s).await);
    let names = epmd::names("127.0.0.1", epmd).await.unwrap();
    assert_eq!(names.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_at_the_limit_is_taken_and_one_above_closes_the_connection() {
    const LIMIT: usize = 8192;
    let epmd = free_port();
    let a = node("a", epmd, None, Some(LIMIT)).await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    a.spawn_opts(
        crate::process::SpawnOpts::new().register("sink"),
        move |mut ctx: Ctx<Vec<u8>>| async move {
            if let Signal::Message(v) = ctx.recv().await {
                let _ = tx.send(v.len());
            }
        },
    )
    .unwrap();
    let mut events = a.node_events();
    let mut raw = raw_peer(&a).await;
    // Fill a frame to exactly the limit with a byte-array payload.
    let type_name = crate::process::wire_name::<Vec<u8>>();
    let mut probe = Vec::new();
    frame::msg(
        &mut probe,
        usize::MAX,
        &MsgOut {
            kind: WireKind::Send,
            from: None,
            to: Addressee::Name("sink"),
            type_name,
            call_ref: 0,
        },
        |b| rmp_serde::encode::write(b, &vec![7u8; 100]),
    )
    .unwrap();
    let overhead = probe.len() - 4 - rmp_serde::to_vec(&vec![7u8; 100]).unwrap().len();
    let mut n = LIMIT - overhead - 3;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        frame::msg(
            &mut buf,
            usize::MAX,
            &MsgOut {
                kind: WireKind::Send,
                from: None,
                to: Addressee::Name("sink"),
                type_name,
                call_ref: 0,
            },
            |b| rmp_serde::encode::write(b, &vec![7u8; n]),
        )
        .unwrap();
        if buf.len() - 4 >= LIMIT {
            break;
        }
        n += 1;
    }
    assert_eq!(buf.len() - 4, LIMIT, "a frame of exactly the limit");
    raw.write_all(&buf).await.unwrap();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .unwrap()
            .unwrap(),
        n
    );
    // One byte more: the frame header alone says it is too large.
    let over = ((LIMIT + 1) as u32).to_be_bytes();
    raw.write_all(&over).await.unwrap();
    assert!(closed_by_peer(&mut raw).await);
    assert!(
        matches!(down_event(&mut events).await, NodeDownReason::ProtocolError(e) if e.contains("limit"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_peer_is_declared_down_after_the_tick_time() {
    let epmd = free_port();
    let a = node("a", epmd, Some(Duration::from_millis(400)), None).await;
    let mut events = a.node_events();
    let mut raw = raw_peer(&a).await;
    // The raw peer reads (so a's ticks go out) but never sends anything.
    let reason = down_event(&mut events).await;
    assert_eq!(reason, NodeDownReason::TickTimeout);
    assert!(closed_by_peer(&mut raw).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticks_keep_an_idle_connection_up() {
    let epmd = free_port();
    let tick = Duration::from_millis(300);
    let a = node("a", epmd, Some(tick), None).await;
    let b = node("b", epmd, Some(tick), None).await;
    a.connect(b.name()).await.unwrap();
    let mut events = a.node_events();
    // Idle for several tick times: the point of the test is the passing time.
    tokio::time::sleep(tick * 4).await;
    assert_eq!(events.try_recv(), None);
    assert_eq!(a.nodes(), vec![b.name().clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_stranger_claiming_a_name_does_not_keep_that_node_out() {
    let epmd = free_port();
    let a = node("a", epmd, None, None).await;
    // A stranger says hello as "b" and then says nothing more (no cookie to prove).
    let mut s = TcpStream::connect(("127.0.0.1", a.listen_port().unwrap()))
        .await
        .unwrap();
    let fake = Identity {
        name: NodeName::new("b@127.0.0.1").unwrap(),
        creation: 99,
        hidden: false,
        listen_port: 1,
    };
    let (_init, hello) = Initiator::new(fake, b"wrong", a.name().clone(), [1; 32]);
    s.write_all(&hello).await.unwrap();
    let _challenge = read_msg(&mut s).await;
    // The real b connects meanwhile, both ways.
    let b = node("b", epmd, None, None).await;
    tokio::time::timeout(Duration::from_secs(10), b.connect(a.name()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.nodes(), vec![b.name().clone()]);
    assert!(a.ping(b.name()).await);
    drop(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_reading_is_disconnected_when_the_send_buffer_fills() {
    let epmd = free_port();
    let a = Node::builder()
        .name("a@127.0.0.1")
        .cookie("c")
        .epmd_port(epmd)
        .max_send_buffer(256 * 1024)
        .start()
        .await
        .unwrap();
    let mut events = a.node_events();
    // Authenticates, then never reads.
    let _raw = raw_peer(&a).await;
    let raw_pid = crate::process::Pid::new(NodeName::new("raw@127.0.0.1").unwrap(), 1, 1);
    let chunk = vec![7u8; 16 * 1024];
    let sender = tokio::spawn({
        let a = a.clone();
        async move {
            // Bounded: far more than the buffer and the kernel's socket buffers hold.
            for _ in 0..20_000 {
                let _ = a.send(&raw_pid, chunk.clone());
                if a.nodes().is_empty() {
                    return true;
                }
                tokio::task::yield_now().await;
            }
            false
        }
    });
    assert!(matches!(
        down_event(&mut events).await,
        NodeDownReason::Overloaded(_)
    ));
    assert!(
        tokio::time::timeout(Duration::from_secs(10), sender)
            .await
            .unwrap()
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_stalled_handshakes_is_bounded_and_spares_connected_peers() {
    use super::accept::MAX_PENDING_HANDSHAKES;
    let epmd = free_port();
    let a = node("a", epmd, None, None).await;
    let b = node("b", epmd, None, None).await;
    b.connect(a.name()).await.unwrap();
    let port = a.listen_port().unwrap();
    // Connections that never say hello, and a few that say it one byte at a time.
    let mut stalled = Vec::new();
    for _ in 0..MAX_PENDING_HANDSHAKES + 40 {
        stalled.push(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
    }
    let mut slow = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(&[0]).await.unwrap();
        slow.push(s);
    }
    // The connected peer is not affected.
    assert!(b.ping(a.name()).await);
    // Beyond the limit, connections are closed at once (the rest wait for their setup time).
    let mut closed_at_once = 0;
    for s in stalled.iter_mut().rev().take(40) {
        let mut buf = [0u8; 1];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await
        {
            closed_at_once += 1;
        }
    }
    assert!(
        closed_at_once >= 30,
        "only {closed_at_once} of the excess were closed at once"
    );
    // Every stalled and slow handshake is closed within the setup time.
    for s in stalled.iter_mut().chain(slow.iter_mut()) {
        assert!(closed_by_peer(s).await, "a stalled handshake stayed open");
    }
    // Afterwards, new nodes connect again, and b never left.
    let c = node("c", epmd, None, None).await;
    c.connect(a.name()).await.unwrap();
    assert!(a.nodes().contains(b.name()));
}

/// A server whose casts cross nodes (only its client is used: the peer is a raw socket).
struct Sink;

impl crate::gen_server::GenServer for Sink {
    type Call = ();
    type Reply = ();
    type Cast = Vec<u8>;
    type Info = ();

    fn remote() -> Option<crate::gen_server::RemoteCodec<Self>> {
        Some(crate::gen_server::RemoteCodec::serde())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paced_sender_waits_for_a_peer_that_stops_reading_and_resumes_when_it_reads() {
    use futures::FutureExt;
    let epmd = free_port();
    let a = node("a", epmd, None, None).await;
    let mut raw = raw_peer(&a).await;
    let raw_name = NodeName::new("raw@127.0.0.1").unwrap();
    let client = crate::gen_server::Client::<Sink>::new(&a, ("sink", &raw_name));
    let chunk = vec![7u8; 16 * 1024];
    // Bounded: far more than the 1 MiB busy limit and the kernel's socket buffers hold.
    let mut waiting = None;
    for _ in 0..20_000 {
        let mut cast = Box::pin(client.cast_paced(chunk.clone()));
        if (&mut cast).now_or_never().is_none() {
            waiting = Some(cast);
            break;
        }
        tokio::task::yield_now().await;
    }
    let waiting = waiting.expect("the sender was never paced: the buffer grows without bound");
    // Paced, not dropped: the connection is still up (its limit is 256 MiB).
    assert_eq!(a.nodes(), vec![raw_name.clone()]);
    // The peer reads again: the sender goes on.
    let drain = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while matches!(raw.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the paced sender did not resume once the peer read")
        .unwrap();
    drain.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_in_one_process_keep_their_own_spin_setting_and_spinner() {
    use super::Dist;
    use super::connection::Spinner;
    let epmd_port = free_port();
    let start = |name: &'static str, spin: Duration| {
        Node::builder()
            .name(format!("{name}@127.0.0.1"))
            .cookie("c")
            .epmd_port(epmd_port)
            .spin(spin)
            .start()
    };
    let quiet = start("quiet", Duration::ZERO).await.unwrap();
    let eager = start("eager", Duration::from_micros(250)).await.unwrap();
    let third = start("third", Duration::from_micros(100)).await.unwrap();
    quiet.connect(eager.name()).await.unwrap();
    quiet.connect(third.name()).await.unwrap();
    let conn = |from: &Node, to: &Node| {
        from.try_extension::<Dist>()
            .unwrap()
            .existing(to.name())
            .unwrap()
    };
    let (quiet_to_eager, quiet_to_third) = (conn(&quiet, &eager), conn(&quiet, &third));
    let eager_to_quiet = conn(&eager, &quiet);
    let (q_spin, q_claim) = quiet_to_eager.spin_settings();
    let (e_spin, e_claim) = eager_to_quiet.spin_settings();
    assert_eq!(q_spin, Duration::ZERO);
    assert_eq!(e_spin, Duration::from_micros(250));
    // A node's connections share its one right to spin...
    assert!(std::sync::Arc::ptr_eq(
        q_claim,
        quiet_to_third.spin_settings().1
    ));
    let held = Spinner::claim(q_claim).expect("nothing spins on a node with the spin off");
    assert!(Spinner::claim(quiet_to_third.spin_settings().1).is_none());
    // ...and another node's is its own: held on one node, free on the other.
    assert!(!std::sync::Arc::ptr_eq(q_claim, e_claim));
    // (A connection of that node may be spinning right now, for up to 250 µs after traffic:
    // the claim is free again within moments.)
    let start = std::time::Instant::now();
    loop {
        if let Some(claim) = Spinner::claim(e_claim) {
            drop(claim);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the other node's spinner stayed taken"
        );
        std::thread::yield_now();
    }
    drop(held);
    assert!(Spinner::claim(q_claim).is_some());
}

/// The first `count` messages a raw peer receives for "sink", decoded as `M` (what the
/// node's own services send, pg and global, is skipped); a broken frame, a closed
/// connection or 10 s without them fails the test.
async fn read_to_sink<M: serde::de::DeserializeOwned>(raw: &mut TcpStream, count: usize) -> Vec<M> {
    let mut got = Vec::new();
    let mut buf = bytes::BytesMut::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        while let Ok(Some(len)) = frame::check(&buf, usize::MAX) {
            let f = buf.split_to(len);
            match frame::parse(&f) {
                Ok(frame::Frame::Msg { head, payload, .. })
                    if head.to == frame::WireDest::Name("sink") =>
                {
                    assert_eq!(head.type_name, crate::process::wire_name::<M>());
                    got.push(rmp_serde::from_slice(payload).unwrap());
                }
                Ok(_) => {}
                Err(e) => panic!("a broken frame was sent: {e}"),
            }
        }
        if got.len() >= count {
            return got;
        }
        let n = tokio::time::timeout_at(until, raw.read_buf(&mut buf))
            .await
            .expect("the messages did not all arrive")
            .unwrap();
        assert!(n > 0, "the node closed the connection");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_blobs_go_out_by_reference_in_whole_frames_in_order() {
    use crate::process::Blob;
    const LIMIT: usize = 256 * 1024;
    let epmd = free_port();
    let a = node("a", epmd, None, Some(LIMIT)).await;
    let mut raw = raw_peer(&a).await;
    let raw_name = NodeName::new("raw@127.0.0.1").unwrap();
    let big = Blob::from((0..64 * 1024).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let small = Blob::from(vec![1u8; 10]);
    type M = (u32, Vec<Blob>);
    let sent: Vec<M> = vec![
        (1, vec![]),
        (2, vec![big.clone()]),
        (3, vec![big.clone(), small.clone(), big.clone()]),
        (4, vec![small]),
    ];
    for (i, m) in sent.iter().enumerate() {
        a.send(("sink", &raw_name), m.clone()).unwrap();
        if i == 2 {
            // Over the frame limit only with its blobs counted: refused at the sender,
            // and nothing around it is lost.
            let over: M = (9, vec![big.clone(); LIMIT / big.len() + 1]);
            a.send(("sink", &raw_name), over).unwrap();
        }
    }
    let got: Vec<M> = read_to_sink(&mut raw, sent.len()).await;
    assert_eq!(got, sent);
    assert_eq!(a.nodes(), vec![raw_name]);
}

/// A message whose encoding panics halfway (after some bytes are written).
#[derive(serde::Deserialize)]
struct PanicsWhenSent;

impl serde::Serialize for PanicsWhenSent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(2))?;
        seq.serialize_element(&crate::process::Blob::from(vec![1u8; 64 * 1024]))?;
        panic!("this Serialize impl panics");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serialize_impl_that_panics_leaves_no_partial_frame_behind() {
    let epmd = free_port();
    let a = node("a", epmd, None, None).await;
    let mut raw = raw_peer(&a).await;
    let raw_name = NodeName::new("raw@127.0.0.1").unwrap();
    let sent = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        a.send(("sink", &raw_name), PanicsWhenSent)
    }));
    assert!(sent.is_err(), "the panic reaches the sender");
    // The next message goes out whole, on the same connection.
    a.send(("sink", &raw_name), 7u32).unwrap();
    assert_eq!(read_to_sink::<u32>(&mut raw, 1).await, vec![7]);
    assert_eq!(a.nodes(), vec![raw_name]);
}
