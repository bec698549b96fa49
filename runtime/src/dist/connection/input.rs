//! A connection's input: the reader task.
//!
//! It reads big chunks, cuts as many whole frames as a chunk holds and hands each to the
//! local process it names, in order, then yields so the processes it woke run while their
//! messages are in cache. A message whose header repeats the previous one's is read from
//! its call reference on ([`LastMsg`]). Right after traffic, when the traffic's pace says
//! the next read is near ([`Pace`]), it polls the socket for the connection's spin window
//! before it sleeps (one spinning reader per node). A frame that does not parse, or a
//! signal the peer forges for another node, closes this connection only; when the
//! connection ends, the reader is the one that tells everyone depending on it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::time::Instant;

use super::super::frame::{self, Frame, FrameError, WirePid};
use super::super::last_msg::LastMsg;
use super::super::transport::Reader;
use super::spin::{Pace, Spinner};
use super::{Conn, MAX_IDLE_BUFFER};
use crate::node::{Node, NodeDownReason, NodeName};
use crate::process::{
    Blob, CallError, ExitReason, Format, Incoming, Pid, RemoteReplyTo, WireBytes, WireKind,
};

/// A reader starts with room for this many bytes per read, so an idle connection holds
/// little memory (a 100-node mesh in one process has 9,900 of them)...
const READ_CHUNK_MIN: usize = 4 * 1024;

/// ...and doubles it, up to this, each time a read fills all the room it had.
const READ_CHUNK_MAX: usize = 64 * 1024;

/// The largest chunk, for a connection that carries large frames (a 64 KiB payload's frame
/// fits in half of it). A connection keeps its buffer, so this bounds what a busy one holds.
const READ_CHUNK_LARGE: usize = 256 * 1024;

/// The largest frame after which a reader spins in bursts (see `spin_read`): with 4 KiB
/// frames the burst spin put the median call at 25-32 µs in some runs, against 12-14 µs.
const DIRECT_FRAME_MAX: usize = 1024;

/// How long a spinning reader of small frames polls its socket within one poll of its
/// task before it yields (see `spin_read`).
const SPIN_BURST: Duration = Duration::from_micros(25);

/// Makes room for the next read, `want` bytes, once every frame read so far is handled
/// (`buf` is empty). The last frames may live on for a moment as blobs, slices of this
/// buffer (a server's request until its reply is written, a reply until the caller takes
/// it): reserving at once would allocate a fresh, cold buffer for every large frame. So
/// before each read the reader asks for the whole buffer back in place, which succeeds once
/// they are gone, and allocates only when less than a quarter of `want` is left.
fn room_to_read(buf: &mut BytesMut, want: usize) {
    if !buf.is_empty() || buf.capacity() >= want || buf.try_reclaim(want) {
        return;
    }
    if buf.capacity() < want / 4 {
        buf.reserve(want);
    }
}

/// Whether a frame of `len` bytes, about to be cut from a read buffer with `capacity`
/// bytes from it on (the reader's chunk being `chunk`), may lend its bytes to blobs. A blob
/// that is a slice of the frame keeps the whole buffer alive, other frames' room included:
/// only frames that are a quarter of it or more lend (about 4x held at most; a buffer once
/// grown for a huge frame lends to none but such frames).
fn lends_bytes(len: usize, chunk: usize, capacity: usize) -> bool {
    len.saturating_mul(4) >= chunk.max(capacity)
}

/// A frame as read, and whether large blobs in it may be slices of it.
#[derive(Clone, Copy)]
struct Received<'a> {
    bytes: &'a Bytes,
    shareable: bool,
}

/// A pid of this node that is not (or no longer) alive, for replies about it.
fn to_pid_or_gone(node: &Node, p: WirePid<'_>) -> Pid {
    match NodeName::new(p.node) {
        Ok(name) => Pid::new(name, p.id, p.creation),
        Err(_) => node.local_pid(p.id),
    }
}

impl Conn {
    /// Polls the socket without sleeping until `until`: `Some` with what a read returned
    /// and the room it had, or `None` when the window passed (or the connection is closing,
    /// or another connection of this process is spinning) with nothing read. Other tasks
    /// run between polls, so the process a frame wakes runs on this thread at once.
    ///
    /// A connection of small frames (the last at most [`DIRECT_FRAME_MAX`] bytes) with at
    /// most one call of this node waiting on it (`direct`) polls in bursts within one poll
    /// of its task, reading the socket itself ([`Reader::read_now`]) rather than waiting
    /// for tokio to report the bytes, and yields only between bursts. Yielding on every
    /// poll made each poll a search for work by tokio's worker, which, finding this task
    /// again, woke a sleeping sibling worker; on a machine whose cores the spinners hold,
    /// that wake took a core from the thread the next frame needed
    /// (`benches/tail_trace.sh`). Larger frames, TLS and several waiting calls keep the
    /// yield per poll and tokio's reads.
    async fn spin_read(
        &self,
        rd: &mut Reader,
        buf: &mut BytesMut,
        want: usize,
        until: Instant,
        direct: bool,
        mut woke: bool,
    ) -> Option<(std::io::Result<usize>, usize)> {
        use futures::FutureExt;
        let _spinning = Spinner::claim(&self.spin_claim)?;
        loop {
            if self.cancel.is_cancelled() {
                return None;
            }
            if direct && std::mem::replace(&mut woke, true) {
                // Tasks the last frames woke run first (this task goes after them), and
                // after each burst the thread's other tasks and the I/O driver get a turn.
                // (After the first part of a frame, the rest comes without one.)
                tokio::task::yield_now().await;
            }
            room_to_read(buf, want);
            let room = buf.capacity() - buf.len();
            // The burst is timed by the wall clock: a paused tokio clock (tests) must not
            // make it endless.
            let burst =
                std::time::Instant::now() + if direct { SPIN_BURST } else { Duration::ZERO };
            let mut tokio_read = true;
            loop {
                // Tokio's read once per burst (it takes the socket's waiter lock, which the
                // driver needs to report the bytes); then the socket itself.
                if std::mem::replace(&mut tokio_read, !direct)
                    && let Some(r) = rd.read_buf(buf).now_or_never()
                {
                    return Some((r, room));
                }
                if direct && let Some(r) = rd.read_now(buf) {
                    return Some((r, room));
                }
                if std::time::Instant::now() >= burst || Instant::now() >= until {
                    break;
                }
                std::hint::spin_loop();
            }
            if Instant::now() >= until {
                return None;
            }
            if !direct {
                tokio::task::yield_now().await;
            }
        }
    }

    pub(super) async fn read_loop(self: Arc<Self>, mut rd: Reader, node: Node) {
        let mut chunk = READ_CHUNK_MIN;
        let mut grown = false;
        let mut buf = BytesMut::with_capacity(chunk);
        let mut last_data = Instant::now();
        let mut pace = Pace::new(self.spin);
        let mut last_msg = LastMsg::default();
        // Whether the frames read last were handed out (and may have woken tasks), and the
        // length of the last one.
        let mut delivered = false;
        let mut last_len = usize::MAX;
        let reason = 'conn: loop {
            // Right after traffic that comes often, poll the socket for a moment before
            // sleeping: waking a parked thread costs tens of microseconds, more than a
            // reply takes to come.
            let window = pace.window();
            let spun = if window.is_zero() {
                None
            } else {
                // Small frames (the last one, and the one partly read if any), and at most
                // one call of this node waiting on the peer: with more, the callers' next
                // requests want this thread between replies.
                let direct = rd.reads_directly()
                    && last_len <= DIRECT_FRAME_MAX
                    && frame::declared_len(&buf).is_none_or(|len| len <= DIRECT_FRAME_MAX)
                    && self.calls.lock().waiting.len() <= 1;
                self.spin_read(
                    &mut rd,
                    &mut buf,
                    chunk / 2,
                    last_data + window,
                    direct,
                    delivered,
                )
                .await
            };
            if spun.is_none() && !window.is_zero() && Instant::now() >= last_data + window {
                pace.missed();
            }
            let (read, room) = match spun {
                Some(r) => r,
                None => {
                    room_to_read(&mut buf, chunk / 2);
                    let room = buf.capacity() - buf.len();
                    tokio::select! {
                        biased;
                        () = self.cancel.cancelled() => break NodeDownReason::ConnectionClosed,
                        r = rd.read_buf(&mut buf) => (r, room),
                    }
                }
            };
            if matches!(read, Ok(n) if n > 0) {
                let now = Instant::now();
                pace.arrived(now - last_data);
                last_data = now;
            }
            match read {
                Ok(0) | Err(_) => {
                    break if self.bye.load(Ordering::SeqCst) {
                        NodeDownReason::Shutdown
                    } else {
                        NodeDownReason::ConnectionClosed
                    };
                }
                Ok(n) => {
                    self.touch_rx();
                    self.stats.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                    if n >= room && chunk < READ_CHUNK_MAX {
                        chunk *= 2;
                        grown = true;
                    }
                }
            }
            let bursty = match frame::check(&buf, self.max_frame) {
                Ok(Some(len)) => buf
                    .get(len..)
                    .is_some_and(|rest| matches!(frame::check(rest, self.max_frame), Ok(Some(_)))),
                _ => false,
            };
            self.bursty.store(bursty, Ordering::Relaxed);
            delivered = false;
            loop {
                match frame::check(&buf, self.max_frame) {
                    Ok(Some(len)) => {
                        // Nothing more is delivered once the connection is declared down.
                        if self.cancel.is_cancelled() {
                            break 'conn NodeDownReason::ConnectionClosed;
                        }
                        let shareable = lends_bytes(len, chunk, buf.capacity());
                        last_len = len;
                        let frame = buf.split_to(len).freeze();
                        self.stats.frames_in.fetch_add(1, Ordering::Relaxed);
                        let frame = Received {
                            bytes: &frame,
                            shareable,
                        };
                        if let Err(e) = self.dispatch(&node, frame, &mut last_msg) {
                            tracing::warn!(peer = %self.peer, error = %e, "closing the connection: bad frame");
                            break 'conn NodeDownReason::ProtocolError(e.to_string());
                        }
                        delivered = true;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(peer = %self.peer, error = %e, "closing the connection: bad frame");
                        break 'conn NodeDownReason::ProtocolError(e.to_string());
                    }
                }
            }
            // Room for the rest of a large frame, or for the next read. Asking only when
            // room runs short, and then for half a chunk, lets the buffer reclaim in place
            // the space of frames already handled (what is left, a partial frame, moves to
            // the front) instead of allocating, and faulting in, a fresh chunk every read.
            let want = frame::declared_len(&buf).unwrap_or(0);
            let room = buf.capacity() - buf.len();
            let need = want.saturating_sub(buf.len());
            if want > chunk / 2 && chunk < READ_CHUNK_LARGE {
                // Frames this large are coming: from now on ask for room for a whole one
                // (half a chunk) whenever room runs short, so the next ones arrive whole
                // in the buffer instead of being moved to a larger one halfway through (a
                // copy of every large frame). Up to a limit: larger frames still move.
                chunk = want
                    .saturating_mul(2)
                    .next_power_of_two()
                    .min(READ_CHUNK_LARGE);
            }
            if buf.is_empty() && buf.capacity() > MAX_IDLE_BUFFER {
                // A huge frame's buffer goes back once it has been handled.
                buf = BytesMut::with_capacity(chunk.max(need));
            } else if need > room {
                buf.reserve(need);
            } else if std::mem::take(&mut grown) && !buf.is_empty() {
                buf.reserve(chunk);
            } else if room < chunk / 2 && !buf.is_empty() {
                // (An empty buffer gets its room, grown or not, just before the next
                // read: `room_to_read`.)
                buf.reserve(chunk / 2);
            }
            if bursty {
                tokio::task::yield_now().await;
            }
        };
        self.close(reason);
        // The reader delivers the loss: after the last frame it delivered, once.
        self.teardown();
    }

    /// Hands a message (its header parsed into `header`) to the local process it names;
    /// `payload` is a slice of `frame`, which large blobs in it may share.
    fn deliver_msg(
        self: &Arc<Self>,
        node: &Node,
        header: &LastMsg,
        call_ref: u64,
        frame: Received<'_>,
        payload: &[u8],
    ) {
        let reply_to = (header.kind == WireKind::Call).then(|| RemoteReplyTo {
            sink: self.clone(),
            call_ref,
            from: header.from.clone(),
        });
        let Some(dest) = header.dest() else {
            // A pid of another node or of an earlier incarnation of this one: gone.
            if let Some(r) = reply_to {
                r.fail(CallError::NoProc);
            }
            return;
        };
        let msg = Incoming {
            kind: header.kind,
            type_name: header.type_name(),
            payload: if frame.shareable {
                WireBytes::msgpack(payload).in_frame(frame.bytes)
            } else {
                WireBytes::msgpack(payload)
            },
            from: header.from.clone(),
            reply_to,
        };
        if let Err(rejected) = node.deliver_incoming(dest, msg)
            && let Some(r) = rejected.reply_to
        {
            r.fail(rejected.error);
        }
    }

    /// A pid the peer names as its own (the sender of a link, exit or monitor): it must be
    /// on the peer node, or the peer is forging signals for another node.
    fn peer_pid(&self, p: WirePid<'_>) -> Result<Pid, FrameError> {
        if p.node != self.peer.as_str() {
            return Err(FrameError::Malformed(format!(
                "the peer sent a signal from {}, a process of another node",
                p.node
            )));
        }
        p.to_pid(&self.peer)
    }

    /// Turns a pid from a frame into a local pid, if it is one of this incarnation.
    fn local(&self, node: &Node, p: WirePid<'_>) -> Option<Pid> {
        p.is_of(node.name(), node.creation())
            .then(|| node.local_pid(p.id))
    }

    fn dispatch(
        self: &Arc<Self>,
        node: &Node,
        frame: Received<'_>,
        last: &mut LastMsg,
    ) -> Result<(), FrameError> {
        let bytes = frame.bytes;
        if let Some(repeated) = last.repeat(bytes) {
            let (call_ref, payload) = repeated?;
            self.deliver_msg(node, last, call_ref, frame, payload);
            return Ok(());
        }
        match frame::parse(bytes)? {
            Frame::Tick => {}
            Frame::Msg {
                head,
                call_ref,
                payload,
            } => {
                last.remember((node.name(), node.creation()), &self.peer, &head)?;
                self.deliver_msg(node, last, call_ref, frame, payload);
            }
            Frame::Reply {
                call_ref,
                ok,
                payload,
            } => {
                let tx = self.calls.lock().waiting.remove(&call_ref);
                if let Some(tx) = tx {
                    let result = if ok {
                        // A large reply from a frame that may not lend its bytes is copied
                        // out, so a blob the caller keeps holds only itself.
                        let reply = if frame.shareable || payload.len() < Blob::SHARE_MIN {
                            bytes.slice_ref(payload)
                        } else {
                            Bytes::copy_from_slice(payload)
                        };
                        Ok((Format::MsgPack, reply))
                    } else {
                        Err(
                            rmp_serde::from_slice::<CallError>(payload).unwrap_or_else(|e| {
                                CallError::BadType(format!("undecodable error reply: {e}"))
                            }),
                        )
                    };
                    let _ = tx.send(result);
                }
            }
            Frame::Link { from, to } => {
                let from = self.peer_pid(from)?;
                let Some(to) = self.local(node, to) else {
                    self.send_exit(&to_pid_or_gone(node, to), &from, &ExitReason::NoProc);
                    return Ok(());
                };
                if node.add_link_to(&to, &from) {
                    if !self.add_link(&to, &from) {
                        node.exit_signal(&from, &to, ExitReason::NoConnection, true);
                    }
                } else {
                    self.send_exit(&to, &from, &ExitReason::NoProc);
                }
            }
            Frame::Unlink { from, to } => {
                let from = self.peer_pid(from)?;
                if let Some(to) = self.local(node, to) {
                    self.remove_link(&to, &from);
                    node.remove_link_from(&to, &from);
                }
            }
            Frame::Exit {
                from,
                to,
                via_link,
                reason,
            } => {
                let from = self.peer_pid(from)?;
                if let Some(to) = self.local(node, to) {
                    if via_link {
                        self.remove_link(&to, &from);
                    }
                    node.exit_signal(&from, &to, reason, via_link);
                }
            }
            Frame::Monitor {
                watcher,
                target,
                monitor,
            } => {
                let watcher = self.peer_pid(watcher)?;
                let local = self.local(node, target);
                let added = local.as_ref().is_some_and(|t| {
                    let mut rel = self.rel.lock();
                    if rel.closed || !node.add_remote_watcher(t, monitor, &watcher) {
                        return false;
                    }
                    rel.in_monitors
                        .insert(monitor, (t.clone(), watcher.clone()));
                    true
                });
                if !added {
                    let target = local.unwrap_or_else(|| to_pid_or_gone(node, target));
                    let _ = self.push(|_, buf| {
                        frame::down(buf, &watcher, &target, monitor, &ExitReason::NoProc);
                        Ok(())
                    });
                }
            }
            Frame::Demonitor {
                watcher,
                target,
                monitor,
            } => {
                let watcher = self.peer_pid(watcher)?;
                self.remove_in_monitor(monitor);
                if let Some(target) = self.local(node, target) {
                    node.forget_monitor(&watcher, &target, monitor);
                }
            }
            Frame::Down {
                watcher,
                pid,
                monitor,
                reason,
            } => {
                let pid = self.peer_pid(pid)?;
                self.remove_out_monitor(monitor);
                if let Some(watcher) = self.local(node, watcher) {
                    node.remote_down(&watcher, monitor, &pid, reason);
                }
            }
            Frame::Peers(peers) => {
                if let Some(dist) = self.dist.upgrade() {
                    dist.mesh_with(peers);
                }
            }
            Frame::Bye => self.bye.store(true, Ordering::SeqCst),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_buffer_is_taken_back_in_place_once_its_frames_are_gone() {
        let want = 128 * 1024;
        let mut buf = BytesMut::with_capacity(2 * want);
        let base = buf.as_ptr() as usize;
        buf.extend_from_slice(&vec![1u8; 2 * want - 1000]);
        // A frame handed out (a blob of it lives on), nothing left to handle.
        let frame = buf.split().freeze();
        // Still in use, with less than a quarter of `want` left: a fresh buffer.
        room_to_read(&mut buf, want);
        assert!(buf.capacity() >= want);
        assert_ne!(buf.as_ptr() as usize, base);
        drop(frame);

        // Room left, the frame still alive: read into what is left, allocate nothing.
        let mut buf = BytesMut::with_capacity(2 * want);
        let base = buf.as_ptr() as usize;
        buf.extend_from_slice(&vec![2u8; want + 1000]);
        let frame = buf.split().freeze();
        let left = buf.as_ptr() as usize;
        room_to_read(&mut buf, want);
        assert_eq!(buf.as_ptr() as usize, left);
        assert!(buf.capacity() > 0);
        // Once the frame is gone the whole buffer comes back, from its start.
        drop(frame);
        room_to_read(&mut buf, want);
        assert_eq!(buf.as_ptr() as usize, base);
        assert!(buf.capacity() >= want);
    }

    #[test]
    fn only_frames_that_fill_a_good_part_of_their_buffer_lend_their_bytes() {
        let (k, m) = (1024, 1024 * 1024);
        // A 64 KiB payload's frame in the largest chunk, whole or with frames before it.
        assert!(lends_bytes(64 * k + 60, READ_CHUNK_LARGE, READ_CHUNK_LARGE));
        assert!(lends_bytes(64 * k + 60, READ_CHUNK_LARGE, 190 * k));
        // A 16 KiB blob's frame in the same chunk is copied out.
        assert!(!lends_bytes(
            16 * k + 60,
            READ_CHUNK_LARGE,
            READ_CHUNK_LARGE
        ));
        // A buffer grown for 8 MiB frames lends to those, not to 64 KiB ones after them.
        assert!(lends_bytes(8 * m + 60, READ_CHUNK_LARGE, 8 * m + 60));
        assert!(!lends_bytes(64 * k + 60, READ_CHUNK_LARGE, 8 * m));
    }

    #[test]
    fn a_buffer_with_frames_left_to_handle_is_not_touched() {
        let mut buf = BytesMut::with_capacity(64);
        buf.extend_from_slice(b"partial");
        let at = buf.as_ptr() as usize;
        room_to_read(&mut buf, 4096);
        assert_eq!(buf.as_ptr() as usize, at);
        assert_eq!(&buf[..], b"partial");
    }
}
