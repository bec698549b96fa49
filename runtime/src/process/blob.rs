//! [`Blob`]: bytes that cross nodes without being copied in user space, and the two
//! scopes that make it so: [`sharing`] (a connection encoding frames: large blobs are
//! referenced, not copied, and written with the frames around them in one vectored write)
//! and [`decoding_from`] (a frame being decoded: large blobs become slices of it).
//!
//! Both scopes are thread-local and end even if user code (a `Serialize` or `Deserialize`
//! impl) panics inside them; outside them a blob is an ordinary byte string.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::ops::Deref;

use bytes::Bytes;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// An immutable byte string that crosses nodes without user-space copies when it is large.
///
/// A `Vec<u8>` (or `serde_bytes::ByteBuf`) sent to another node is copied four times on a
/// call's way there and back: encoded into the connection's buffer, decoded out of the
/// peer's read buffer, and the same again for the reply. A `Blob` is a reference-counted,
/// immutable byte string ([`bytes::Bytes`]) that skips those copies when it is large (at
/// least [`Blob::SHARE_MIN`] bytes):
///
/// - **Sending**, the frame's header is encoded into the connection's buffer and the blob
///   is handed to the socket by reference, in the same vectored write (`writev`) as the
///   frames around it. Over plain TCP the only copy is the kernel's (TLS encrypts a
///   copy, as it must).
/// - **Receiving**, the blob is a slice of the buffer the frame was read into: no copy.
///   It keeps that whole buffer alive while it lives, the room of other frames included;
///   so frames lend their bytes only when they fill a quarter of the buffer or more (at
///   most four times the frame held), and large blobs in smaller frames are copied. A
///   blob kept for long (a cache, a log) can be detached with [`Blob::copy_from_slice`]
///   so that the buffer goes back.
///
/// Smaller blobs, blobs in other formats (JSON, say) and blobs sent to Erlang nodes are
/// copied as any byte string is. The wire format is MessagePack's `bin` (an Erlang binary
/// for the BEAM) either way, so a `Blob` on one side and a `ByteBuf` or a `Vec<u8>` with
/// `serde_bytes` on the other agree. On the same node a `Blob` moves as any value does.
///
/// Cloning is cheap (a reference count). It dereferences to `[u8]`.
///
/// ```
/// use locus::Blob;
///
/// let chunk = Blob::from(vec![7u8; 64 * 1024]);
/// let same = chunk.clone(); // a reference count, not a copy
/// assert_eq!(&same[..4], &[7, 7, 7, 7]);
/// assert_eq!(same.len(), 64 * 1024);
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Blob(Bytes);

impl Blob {
    /// Blobs of at least this many bytes are shared with the socket and the read buffer
    /// instead of copied; below it a copy costs less than the bookkeeping.
    pub const SHARE_MIN: usize = 16 * 1024;

    /// An empty blob.
    pub const fn new() -> Self {
        Self(Bytes::new())
    }

    /// A blob of static bytes, without allocating.
    pub const fn from_static(bytes: &'static [u8]) -> Self {
        Self(Bytes::from_static(bytes))
    }

    /// A blob holding a copy of `bytes`: also how to detach a received blob from the
    /// buffer it was read into.
    pub fn copy_from_slice(bytes: &[u8]) -> Self {
        Self(Bytes::copy_from_slice(bytes))
    }

    /// The bytes, as [`bytes::Bytes`].
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The bytes, as [`bytes::Bytes`].
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }
}

impl Deref for Blob {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Blob {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blob({} bytes)", self.0.len())
    }
}

impl From<Bytes> for Blob {
    fn from(bytes: Bytes) -> Self {
        Self(bytes)
    }
}

impl From<Vec<u8>> for Blob {
    fn from(bytes: Vec<u8>) -> Self {
        Self(Bytes::from(bytes))
    }
}

impl From<&'static [u8]> for Blob {
    fn from(bytes: &'static [u8]) -> Self {
        Self(Bytes::from_static(bytes))
    }
}

impl From<String> for Blob {
    fn from(text: String) -> Self {
        Self(Bytes::from(text))
    }
}

impl From<Blob> for Bytes {
    fn from(blob: Blob) -> Self {
        blob.0
    }
}

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.len() >= Self::SHARE_MIN {
            offer(&self.0);
        }
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_bytes(BlobVisitor)
    }
}

struct BlobVisitor;

impl<'de> Visitor<'de> for BlobVisitor {
    type Value = Blob;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte string")
    }

    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Blob, E> {
        Ok(Blob(
            slice_of_source(v).unwrap_or_else(|| Bytes::copy_from_slice(v)),
        ))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Blob, E> {
        Ok(Blob(Bytes::copy_from_slice(v)))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Blob, E> {
        Ok(Blob(Bytes::from(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Blob, E> {
        Ok(Blob(Bytes::copy_from_slice(v.as_bytes())))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Blob, A::Error> {
        let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64 * 1024));
        while let Some(b) = seq.next_element::<u8>()? {
            bytes.push(b);
        }
        Ok(Blob(Bytes::from(bytes)))
    }
}

// --- Receiving: a blob as a slice of the frame it was read in ---------------------------

thread_local! {
    /// The frame being decoded on this thread, while [`decoding_from`] runs.
    static SOURCE: RefCell<Option<Bytes>> = const { RefCell::new(None) };
}

/// Runs `decode` (which reads `payload`, a slice of `frame`) letting large blobs in it be
/// slices of `frame` instead of copies.
pub(crate) fn decoding_from<R>(frame: &Bytes, payload: &[u8], decode: impl FnOnce() -> R) -> R {
    if payload.len() < Blob::SHARE_MIN {
        return decode();
    }
    /// Puts back the frame that was in scope before, even if `decode` panics.
    struct Restore(Option<Bytes>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            SOURCE.with(|s| *s.borrow_mut() = previous);
        }
    }
    let _restore = Restore(SOURCE.with(|s| s.replace(Some(frame.clone()))));
    decode()
}

/// `v` as a slice of the frame being decoded, if it is a large part of it.
fn slice_of_source(v: &[u8]) -> Option<Bytes> {
    if v.len() < Blob::SHARE_MIN {
        return None;
    }
    SOURCE.with(|s| {
        let s = s.borrow();
        let frame = s.as_ref()?;
        let (lo, hi) = (
            frame.as_ptr() as usize,
            frame.as_ptr() as usize + frame.len(),
        );
        let (p, q) = (v.as_ptr() as usize, v.as_ptr() as usize + v.len());
        // `slice_ref` would panic on a slice from elsewhere (a copy the decoder made).
        (lo <= p && q <= hi).then(|| frame.slice_ref(v))
    })
}

// --- Sending: a blob handed to the socket by reference -----------------------------------

/// Bytes that follow `at` bytes of an output buffer, written from where they are.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub(crate) at: usize,
    pub(crate) bytes: Bytes,
}

thread_local! {
    /// Whether a [`sharing`] scope is open on this thread. The state is kept in cells, not
    /// one structure, so a scope costs a few loads and stores: every frame opens one,
    /// under its connection's lock.
    static SHARING: Cell<bool> = const { Cell::new(false) };
    /// A blob being serialized, which the next write of exactly its bytes takes by reference.
    static OFFERED: Cell<Option<Bytes>> = const { Cell::new(None) };
    /// What the open scope took by reference, in order...
    static TAKEN: RefCell<Vec<Shared>> = const { RefCell::new(Vec::new()) };
    /// ...and their total length (zero for almost every frame: the fast path).
    static TAKEN_LEN: Cell<usize> = const { Cell::new(0) };
}

/// Runs `encode`, letting large blobs it writes through a [`BlobWriter`] be referenced
/// rather than copied; returns what was referenced (each at its offset in the buffer the
/// writer appended to). Outside this, blobs are copied.
pub(crate) fn sharing<R>(encode: impl FnOnce() -> R) -> (R, Vec<Shared>) {
    /// Ends the scope even if `encode` panics (a writer outside any scope must never leave
    /// bytes out), and gives an enclosing scope back what it had taken: a `Serialize` impl
    /// that sends a message to another node encodes it in a scope of its own.
    struct Scope {
        outer: Option<(Vec<Shared>, usize)>,
        ended: bool,
    }
    impl Scope {
        fn end(&mut self) -> Vec<Shared> {
            if std::mem::replace(&mut self.ended, true) {
                return Vec::new();
            }
            drop(OFFERED.take());
            let taken = if TAKEN_LEN.replace(0) > 0 {
                TAKEN.with_borrow_mut(std::mem::take)
            } else {
                Vec::new()
            };
            match self.outer.take() {
                Some((list, len)) => {
                    TAKEN.set(list);
                    TAKEN_LEN.set(len);
                }
                None => SHARING.set(false),
            }
            taken
        }
    }
    impl Drop for Scope {
        fn drop(&mut self) {
            self.end();
        }
    }
    let outer = SHARING
        .replace(true)
        .then(|| (TAKEN.take(), TAKEN_LEN.replace(0)));
    let mut scope = Scope {
        outer,
        ended: false,
    };
    let r = encode();
    (r, scope.end())
}

/// Bytes taken by reference so far in this [`sharing`], at offsets past `start`.
pub(crate) fn shared_len_after(start: usize) -> usize {
    if TAKEN_LEN.get() == 0 {
        return 0;
    }
    TAKEN.with_borrow(|taken| {
        taken
            .iter()
            .filter(|t| t.at > start)
            .map(|t| t.bytes.len())
            .sum()
    })
}

/// Forgets what was taken by reference past `start` (the frame written there was rolled
/// back).
pub(crate) fn unshare_after(start: usize) {
    if TAKEN_LEN.get() == 0 {
        return;
    }
    TAKEN.with_borrow_mut(|taken| {
        taken.retain(|t| t.at <= start);
        TAKEN_LEN.set(taken.iter().map(|t| t.bytes.len()).sum());
    });
}

fn offer(bytes: &Bytes) {
    if SHARING.get() {
        OFFERED.set(Some(bytes.clone()));
    }
}

/// Takes the offered blob by reference if `data` is exactly its bytes.
#[cold]
#[inline(never)]
fn take_offered(data: &[u8], at: usize) -> bool {
    match OFFERED.take() {
        Some(bytes) if bytes.as_ptr() == data.as_ptr() && bytes.len() == data.len() => {
            TAKEN_LEN.set(TAKEN_LEN.get() + bytes.len());
            TAKEN.with_borrow_mut(|t| t.push(Shared { at, bytes }));
            true
        }
        other => {
            OFFERED.set(other);
            false
        }
    }
}

/// Appends to a buffer, except the bytes of a blob offered for sharing, which it leaves
/// out and records (see [`sharing`]). What an encoder writes payloads through.
pub(crate) struct BlobWriter<'a>(pub(crate) &'a mut Vec<u8>);

impl io::Write for BlobWriter<'_> {
    #[inline]
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_all(data)?;
        Ok(data.len())
    }

    #[inline]
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        // A blob's bytes come in one write of at least SHARE_MIN; shorter writes skip the
        // lookup (longer ones that are not the offered blob fail its address check).
        if data.len() < Blob::SHARE_MIN || !take_offered(data, self.0.len()) {
            self.0.extend_from_slice(data);
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(value: &impl Serialize) -> (Vec<u8>, Vec<Shared>) {
        let mut buf = Vec::new();
        let (r, shared) = sharing(|| rmp_serde::encode::write(&mut BlobWriter(&mut buf), value));
        r.unwrap();
        (buf, shared)
    }

    /// The bytes as they would go out: the buffer with the shared parts put back.
    fn joined(buf: &[u8], shared: &[Shared]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut at = 0;
        for s in shared {
            out.extend_from_slice(&buf[at..s.at]);
            out.extend_from_slice(&s.bytes);
            at = s.at;
        }
        out.extend_from_slice(&buf[at..]);
        out
    }

    #[test]
    fn a_large_blob_is_referenced_and_the_stream_is_the_same_as_a_copy() {
        let big = Blob::from(vec![9u8; Blob::SHARE_MIN]);
        let value = (1u32, big.clone(), "after".to_string(), big.clone());
        let (buf, shared) = encode(&value);
        assert_eq!(shared.len(), 2);
        assert!(shared.iter().all(|s| s.bytes.as_ptr() == big.as_ptr()));
        assert_eq!(
            buf.len() + 2 * big.len(),
            rmp_serde::to_vec(&value).unwrap().len()
        );
        assert_eq!(joined(&buf, &shared), rmp_serde::to_vec(&value).unwrap());
    }

    #[test]
    fn small_blobs_and_blobs_outside_a_sharing_scope_are_copied() {
        let small = Blob::from(vec![1u8; Blob::SHARE_MIN - 1]);
        let (buf, shared) = encode(&small);
        assert!(shared.is_empty());
        assert_eq!(buf, rmp_serde::to_vec(&small).unwrap());
        let big = Blob::from(vec![2u8; Blob::SHARE_MIN]);
        let mut buf = Vec::new();
        rmp_serde::encode::write(&mut BlobWriter(&mut buf), &big).unwrap();
        assert_eq!(buf, rmp_serde::to_vec(&big).unwrap());
    }

    #[test]
    fn equal_bytes_elsewhere_are_not_taken_for_the_blob() {
        // A Vec with the same content as the offered blob, but other memory.
        let big = Blob::from(vec![3u8; Blob::SHARE_MIN]);
        let other = serde_bytes::ByteBuf::from(vec![3u8; Blob::SHARE_MIN]);
        let (buf, shared) = encode(&(&other, &big));
        assert_eq!(shared.len(), 1);
        assert_eq!(shared[0].bytes.as_ptr(), big.as_ptr());
        assert_eq!(
            joined(&buf, &shared),
            rmp_serde::to_vec(&(&other, &big)).unwrap()
        );
    }

    #[test]
    fn rolled_back_shares_are_forgotten() {
        let big = Blob::from(vec![4u8; Blob::SHARE_MIN]);
        let mut buf = vec![0u8; 10];
        let ((), shared) = sharing(|| {
            rmp_serde::encode::write(&mut BlobWriter(&mut buf), &big).unwrap();
            assert_eq!(shared_len_after(10), big.len());
            assert_eq!(shared_len_after(buf.len()), 0);
            unshare_after(10);
            assert_eq!(shared_len_after(0), 0);
        });
        assert!(shared.is_empty());
    }

    #[test]
    fn a_scope_inside_a_scope_keeps_its_own_and_gives_the_outer_one_back() {
        let (a, b) = (
            Blob::from(vec![7u8; Blob::SHARE_MIN]),
            Blob::from(vec![8u8; Blob::SHARE_MIN + 1]),
        );
        let (mut outer_buf, mut inner_buf) = (Vec::new(), Vec::new());
        let ((), outer) = sharing(|| {
            rmp_serde::encode::write(&mut BlobWriter(&mut outer_buf), &a).unwrap();
            // What a Serialize impl that sends to another node would do.
            let ((), inner) = sharing(|| {
                rmp_serde::encode::write(&mut BlobWriter(&mut inner_buf), &b).unwrap();
            });
            assert_eq!(inner.len(), 1);
            assert_eq!(inner[0].bytes.as_ptr(), b.as_ptr());
            assert_eq!(shared_len_after(0), a.len());
        });
        assert_eq!(outer.len(), 1);
        assert_eq!(outer[0].bytes.as_ptr(), a.as_ptr());
        // Closed: a blob written now is copied.
        let mut buf = Vec::new();
        rmp_serde::encode::write(&mut BlobWriter(&mut buf), &a).unwrap();
        assert_eq!(buf, rmp_serde::to_vec(&a).unwrap());
    }

    #[test]
    fn a_panicking_encode_ends_its_scope() {
        let big = Blob::from(vec![6u8; Blob::SHARE_MIN]);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sharing(|| {
                offer(big.as_bytes());
                panic!("a Serialize impl panicked");
            })
        }));
        assert!(caught.is_err());
        // Outside any scope again: the blob is copied, not left out.
        let mut buf = Vec::new();
        rmp_serde::encode::write(&mut BlobWriter(&mut buf), &big).unwrap();
        assert_eq!(buf, rmp_serde::to_vec(&big).unwrap());
    }

    #[test]
    fn a_decoded_large_blob_is_a_slice_of_the_frame() {
        let big = Blob::from((0..Blob::SHARE_MIN).map(|i| i as u8).collect::<Vec<_>>());
        let frame = Bytes::from(rmp_serde::to_vec(&(5u8, &big)).unwrap());
        let (n, back): (u8, Blob) =
            decoding_from(&frame, &frame, || rmp_serde::from_slice(&frame)).unwrap();
        assert_eq!(n, 5);
        assert_eq!(back, big);
        let inside = frame.as_ptr() as usize..frame.as_ptr() as usize + frame.len();
        assert!(inside.contains(&(back.as_ptr() as usize)));
        // Without the frame in scope, the same decode copies.
        let (_, copied): (u8, Blob) = rmp_serde::from_slice(&frame).unwrap();
        assert!(!inside.contains(&(copied.as_ptr() as usize)));
        assert_eq!(copied, big);
    }

    #[test]
    fn a_blob_and_a_byte_buf_are_the_same_on_the_wire() {
        let bytes = vec![5u8; 100];
        let as_blob = rmp_serde::to_vec(&Blob::from(bytes.clone())).unwrap();
        let as_buf = rmp_serde::to_vec(&serde_bytes::ByteBuf::from(bytes.clone())).unwrap();
        assert_eq!(as_blob, as_buf);
        let back: Blob = rmp_serde::from_slice(&as_buf).unwrap();
        assert_eq!(&back[..], &bytes[..]);
    }
}
