//! The byte stream under a connection: plain TCP, or TLS over TCP. Both halves are enums,
//! not boxes, so the plain path costs what it did before TLS existed.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_rustls::TlsStream;

use super::ConnectError;
use super::handshake;
use super::settings::SETUP_TIME;

/// A connected stream, before or during the handshake.
pub(crate) enum Transport {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// The reading half of an established connection.
pub(crate) enum Reader {
    Tcp(OwnedReadHalf),
    Tls(ReadHalf<TlsStream<TcpStream>>),
}

/// The writing half of an established connection.
pub(crate) enum Writer {
    Tcp(OwnedWriteHalf),
    Tls(WriteHalf<TlsStream<TcpStream>>),
}

impl Transport {
    /// The remote address, for messages.
    pub(crate) fn peer_addr(&self) -> Option<SocketAddr> {
        match self {
            Self::Tcp(s) => s.peer_addr().ok(),
            Self::Tls(s) => s.get_ref().0.peer_addr().ok(),
        }
    }

    /// Reads one handshake message body within the setup time (the framing is the
    /// handshake module's).
    pub(crate) async fn read_handshake(&mut self, peer: &str) -> Result<Vec<u8>, ConnectError> {
        match tokio::time::timeout(SETUP_TIME, handshake::read_message(self)).await {
            Ok(Ok(body)) => Ok(body),
            Ok(Err(e)) => Err(self.io_error(peer, e)),
            Err(_) => Err(ConnectError::Timeout(peer.to_owned())),
        }
    }

    /// Reads one message of Erlang distribution's handshake within the setup time (the
    /// framing is `erlang::handshake`'s).
    pub(crate) async fn read_erl_handshake(&mut self, peer: &str) -> Result<Vec<u8>, ConnectError> {
        let read = super::erlang::handshake::read_message(self);
        match tokio::time::timeout(SETUP_TIME, read).await {
            Ok(Ok(body)) => Ok(body),
            Ok(Err(e)) => Err(self.io_error(peer, e)),
            Err(_) => Err(ConnectError::Timeout(peer.to_owned())),
        }
    }

    /// Writes one handshake message (as the handshake module framed it) within the setup
    /// time.
    pub(crate) async fn write_handshake(
        &mut self,
        bytes: &[u8],
        peer: &str,
    ) -> Result<(), ConnectError> {
        let write = async {
            self.write_all(bytes).await?;
            // TLS holds records until flushed.
            self.flush().await
        };
        match tokio::time::timeout(SETUP_TIME, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.io_error(peer, e)),
            Err(_) => Err(ConnectError::Timeout(peer.to_owned())),
        }
    }

    fn io_error(&self, peer: &str, e: io::Error) -> ConnectError {
        ConnectError::Io {
            node: peer.to_owned(),
            addr: self.peer_addr().map(|a| a.to_string()).unwrap_or_default(),
            error: e.into(),
        }
    }

    /// The two halves, for the reader and writer tasks.
    pub(crate) fn split(self) -> (Reader, Writer) {
        match self {
            Self::Tcp(s) => {
                let (r, w) = s.into_split();
                (Reader::Tcp(r), Writer::Tcp(w))
            }
            Self::Tls(s) => {
                let (r, w) = tokio::io::split(*s);
                (Reader::Tls(r), Writer::Tls(w))
            }
        }
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

impl Reader {
    /// Whether [`read_now`](Self::read_now) can read this connection (plain TCP).
    pub(crate) fn reads_directly(&self) -> bool {
        matches!(self, Self::Tcp(_))
    }

    /// Reads what the kernel holds for this socket now, past tokio's readiness, into the
    /// room `buf` has (in pieces of up to [`READ_NOW_MAX`] bytes, until the kernel has no
    /// more or the room is full): `None` if nothing was there, or the connection is TLS (its
    /// bytes are records, read through tokio).
    ///
    /// Tokio learns that bytes came only when a worker thread polls the I/O driver; a
    /// spinning reader does not, and on a busy machine the thread that holds the driver
    /// may wait for a core while the bytes wait for it.
    pub(crate) fn read_now(&mut self, buf: &mut bytes::BytesMut) -> Option<io::Result<usize>> {
        use std::io::Read;
        thread_local! {
            /// Where a direct read lands: safe code reads only into initialized bytes, and
            /// zeroing the read buffer's room for every read would cost more than copying
            /// what came.
            static SCRATCH: std::cell::RefCell<Vec<u8>> =
                std::cell::RefCell::new(vec![0; READ_NOW_MAX]);
        }
        let Self::Tcp(s) = self else {
            return None;
        };
        SCRATCH.with_borrow_mut(|scratch| {
            let mut sock: &socket2::Socket = &socket2::SockRef::from(s.as_ref());
            let (mut total, mut ended) = (0, false);
            // A large frame comes in several reads: all of what is there is taken now.
            loop {
                let room = (buf.capacity() - buf.len()).min(READ_NOW_MAX);
                if room == 0 {
                    break;
                }
                match sock.read(&mut scratch[..room]) {
                    Ok(0) => {
                        ended = true;
                        break;
                    }
                    Ok(n) => {
                        buf.extend_from_slice(&scratch[..n]);
                        total += n;
                        if n < room {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if total == 0 => return Some(Err(e)),
                    // What came before the error is handled first; the next read tells the
                    // reader the connection is gone (the error, or the end of the stream).
                    Err(_) => break,
                }
            }
            match (total, ended) {
                (0, true) => Some(Ok(0)),
                (0, false) => None,
                (n, _) => Some(Ok(n)),
            }
        })
    }
}

/// The largest piece a direct read ([`Reader::read_now`]) takes at once (the size of its
/// per-thread scratch buffer).
pub(crate) const READ_NOW_MAX: usize = 16 * 1024;

impl AsyncRead for Reader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Writer {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Tcp(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use bytes::BytesMut;
    use tokio::io::AsyncWriteExt;
    use tokio::net::{TcpListener, TcpStream};

    use super::{READ_NOW_MAX, Reader, Writer};

    /// A connected pair: our halves, and the peer's stream.
    async fn pair() -> (Reader, Writer, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (ours, theirs) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (r, w) = ours.unwrap().into_split();
        (Reader::Tcp(r), Writer::Tcp(w), theirs.unwrap().0)
    }

    /// Reads directly until `want` bytes came (or the stream ended), within a deadline.
    fn read_now_until(rd: &mut Reader, buf: &mut BytesMut, want: usize) -> Option<usize> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last = None;
        while buf.len() < want && Instant::now() < deadline {
            if buf.capacity() == buf.len() {
                buf.reserve(64 * 1024);
            }
            match rd.read_now(buf) {
                Some(Ok(0)) => return Some(0),
                Some(Ok(n)) => last = Some(n),
                Some(Err(e)) => panic!("read_now failed: {e}"),
                None => std::thread::yield_now(),
            }
        }
        last
    }

    #[tokio::test]
    async fn a_direct_read_takes_what_the_kernel_holds_and_tells_the_end_of_the_stream() {
        let (mut rd, _wr, mut peer) = pair().await;
        let mut buf = BytesMut::with_capacity(1024);
        // Nothing sent: nothing read, and nothing appended.
        assert!(rd.read_now(&mut buf).is_none());
        assert!(buf.is_empty());

        // Small and large writes arrive whole and in order, past tokio's readiness.
        let small = b"a frame of a few bytes".to_vec();
        let large: Vec<u8> = (0..3 * READ_NOW_MAX + 123)
            .map(|i| (i % 251) as u8)
            .collect();
        peer.write_all(&small).await.unwrap();
        peer.write_all(&large).await.unwrap();
        let want = small.len() + large.len();
        read_now_until(&mut rd, &mut buf, want);
        assert_eq!(&buf[..small.len()], &small[..]);
        assert_eq!(&buf[small.len()..], &large[..]);

        // The peer closes: a direct read says so with 0 bytes.
        drop(peer);
        assert_eq!(read_now_until(&mut rd, &mut buf, usize::MAX), Some(0));
    }
}
