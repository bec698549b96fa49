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
