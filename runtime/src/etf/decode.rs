//! Bytes to terms, with the limits of the module docs.

use super::term::{Atom, ErlPid, ErlPort, ErlRef, Term};
use super::{EtfError, MAX_BIG_BYTES, MAX_DECOMPRESSED, MAX_DEPTH, VERSION, invalid, tag};

/// Decodes an encoded term: the version byte 131, then one term and nothing after it.
///
/// # Errors
///
/// [`EtfError`] says what is wrong; see the module docs for the limits.
///
/// ```
/// use locus::etf::{self, Term};
///
/// // term_to_binary({1, [2]})
/// let t = etf::decode(&[131, 104, 2, 97, 1, 108, 0, 0, 0, 1, 97, 2, 106]).unwrap();
/// assert_eq!(t, Term::Tuple(vec![Term::Int(1), Term::List(vec![Term::Int(2)])]));
/// assert!(etf::decode(&[131, 108, 255, 255, 255, 255]).is_err());
/// ```
pub fn decode(bytes: &[u8]) -> Result<Term, EtfError> {
    match bytes.split_first() {
        Some((&VERSION, rest)) => decode_term(rest),
        Some((&other, _)) => Err(EtfError::Version(other)),
        None => Err(EtfError::Truncated("no version byte")),
    }
}

/// Decodes one term (no version byte) that fills `bytes` exactly.
pub(crate) fn decode_term(bytes: &[u8]) -> Result<Term, EtfError> {
    let mut r = Reader::new(bytes);
    let t = r.term(0)?;
    match r.rest().len() {
        0 => Ok(t),
        n => Err(EtfError::Trailing(n)),
    }
}

/// Decodes the term at the start of `bytes` (no version byte): the term and the bytes after
/// it. One pass where [`term_len`] then [`decode_term`] would read the term twice.
pub(crate) fn decode_prefix(bytes: &[u8]) -> Result<(Term, &[u8]), EtfError> {
    let mut r = Reader::new(bytes);
    let t = r.term(0)?;
    Ok((t, r.rest()))
}

/// The length of the term at the start of `bytes` (no version byte), checked as a decode
/// checks it but without building it: how control messages are cut from the message after
/// them.
pub(crate) fn term_len(bytes: &[u8]) -> Result<usize, EtfError> {
    let mut r = Reader::new(bytes);
    r.skip(0)?;
    Ok(bytes.len() - r.rest().len())
}

/// Reads terms from a slice it advances.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.buf.first().copied()
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], EtfError> {
        if self.buf.len() < n {
            return Err(EtfError::Truncated(what));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, EtfError> {
        Ok(self.take(1, "a byte")?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, EtfError> {
        let b = self.take(2, "a 16-bit length")?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, EtfError> {
        let b = self.take(4, "a 32-bit value")?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, EtfError> {
        let b = self.take(8, "a 64-bit value")?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// A count of elements that each take at least `min` bytes: refused if the bytes left
    /// cannot hold them, so nothing is ever sized from a count a peer made up.
    pub(crate) fn count(&self, n: usize, min: usize) -> Result<usize, EtfError> {
        if n.saturating_mul(min) > self.buf.len() {
            return Err(EtfError::Truncated("fewer bytes than the count declares"));
        }
        Ok(n)
    }

    /// The text of an atom after its tag.
    pub(crate) fn atom_text(&mut self, t: u8) -> Result<&'a str, EtfError> {
        let len = match t {
            tag::SMALL_ATOM_UTF8 | tag::SMALL_ATOM => usize::from(self.u8()?),
            _ => usize::from(self.u16()?),
        };
        let bytes = self.take(len, "an atom's text")?;
        let text = match t {
            tag::ATOM_UTF8 | tag::SMALL_ATOM_UTF8 => {
                std::str::from_utf8(bytes).map_err(|_| invalid("an atom is not valid UTF-8"))?
            }
            // Latin-1: ASCII reads as itself; other bytes need the owned path.
            _ if bytes.is_ascii() => std::str::from_utf8(bytes).unwrap_or_default(),
            _ => return Err(invalid("a Latin-1 atom outside ASCII")),
        };
        // A character takes at least a byte: only longer texts need counting.
        if text.len() > super::MAX_ATOM_CHARS && text.chars().count() > super::MAX_ATOM_CHARS {
            return Err(invalid("an atom of more than 255 characters"));
        }
        Ok(text)
    }

    /// An atom, with its tag.
    pub(crate) fn atom(&mut self) -> Result<Atom, EtfError> {
        let t = self.u8()?;
        match t {
            tag::ATOM_UTF8 | tag::SMALL_ATOM_UTF8 | tag::ATOM | tag::SMALL_ATOM => {
                self.atom_latin1_or_utf8(t)
            }
            tag::ATOM_CACHE_REF => Err(invalid(
                "an atom cache reference outside a distribution header",
            )),
            other => Err(invalid(format!("expected an atom, found tag {other}"))),
        }
    }

    fn atom_latin1_or_utf8(&mut self, t: u8) -> Result<Atom, EtfError> {
        if matches!(t, tag::ATOM | tag::SMALL_ATOM) {
            // Latin-1 bytes are code points 0-255.
            let len = if t == tag::SMALL_ATOM {
                usize::from(self.u8()?)
            } else {
                usize::from(self.u16()?)
            };
            let bytes = self.take(len, "an atom's text")?;
            if bytes.len() > super::MAX_ATOM_CHARS {
                return Err(invalid("an atom of more than 255 characters"));
            }
            let text: String = bytes.iter().map(|&b| char::from(b)).collect();
            return Atom::new(&text);
        }
        Atom::new(self.atom_text(t)?)
    }

    fn creation(&mut self, old: bool) -> Result<u32, EtfError> {
        if old {
            Ok(u32::from(self.u8()?))
        } else {
            self.u32()
        }
    }

    pub(crate) fn pid_after_tag(&mut self, t: u8) -> Result<ErlPid, EtfError> {
        let node = self.atom()?;
        let id = self.u32()?;
        let serial = self.u32()?;
        let creation = self.creation(t == tag::PID)?;
        Ok(ErlPid {
            node,
            id,
            serial,
            creation,
        })
    }

    pub(crate) fn ref_after_tag(&mut self, t: u8) -> Result<ErlRef, EtfError> {
        let n = usize::from(self.u16()?);
        if n == 0 || n > 5 {
            return Err(invalid(format!("a reference of {n} words (1 to 5)")));
        }
        let node = self.atom()?;
        let creation = self.creation(t == tag::NEW_REFERENCE)?;
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            ids.push(self.u32()?);
        }
        Ok(ErlRef {
            node,
            creation,
            ids,
        })
    }

    /// A bignum's sign and magnitude, after its tag.
    pub(crate) fn big(&mut self, t: u8) -> Result<(bool, &'a [u8]), EtfError> {
        let n = if t == tag::SMALL_BIG {
            usize::from(self.u8()?)
        } else {
            self.u32()? as usize
        };
        if n > MAX_BIG_BYTES {
            return Err(invalid(format!(
                "a bignum of {n} bytes (at most {MAX_BIG_BYTES})"
            )));
        }
        let sign = self.u8()?;
        if sign > 1 {
            return Err(invalid("a bignum's sign is 0 or 1"));
        }
        Ok((sign == 1, self.take(n, "a bignum's digits")?))
    }

    /// An old-style float: 31 bytes of text, NUL-padded.
    pub(crate) fn text_float(&mut self) -> Result<f64, EtfError> {
        let raw = self.take(31, "a float's text")?;
        let text = std::str::from_utf8(raw)
            .map_err(|_| invalid("a float's text is not ASCII"))?
            .trim_end_matches('\0')
            .trim();
        text.parse::<f64>()
            .map_err(|_| invalid(format!("{text:?} is not a float")))
    }

    fn depth(depth: usize) -> Result<usize, EtfError> {
        if depth >= MAX_DEPTH {
            return Err(invalid(format!("terms nested deeper than {MAX_DEPTH}")));
        }
        Ok(depth + 1)
    }

    /// Decodes the next term.
    pub(crate) fn term(&mut self, depth: usize) -> Result<Term, EtfError> {
        let depth = Self::depth(depth)?;
        let t = self.u8()?;
        Ok(match t {
            tag::SMALL_INTEGER => Term::Int(i64::from(self.u8()?)),
            tag::INTEGER => Term::Int(i64::from(self.u32()? as i32)),
            tag::NEW_FLOAT => {
                let x = f64::from_bits(self.u64()?);
                if !x.is_finite() {
                    return Err(invalid("a float that is not finite"));
                }
                Term::Float(x)
            }
            tag::FLOAT => Term::Float(self.text_float()?),
            tag::ATOM_UTF8 | tag::SMALL_ATOM_UTF8 | tag::ATOM | tag::SMALL_ATOM => {
                Term::Atom(self.atom_latin1_or_utf8(t)?)
            }
            tag::SMALL_BIG | tag::LARGE_BIG => {
                let (negative, digits) = self.big(t)?;
                big_term(negative, digits)
            }
            tag::BINARY => {
                let n = self.u32()? as usize;
                Term::Binary(self.take(n, "a binary")?.to_vec())
            }
            tag::BIT_BINARY => {
                let n = self.u32()? as usize;
                let bits = self.u8()?;
                if !(1..=8).contains(&bits) || n == 0 {
                    return Err(invalid("a bitstring's last byte holds 1 to 8 bits"));
                }
                Term::BitBinary {
                    bytes: self.take(n, "a bitstring")?.to_vec(),
                    bits,
                }
            }
            tag::NIL => Term::List(Vec::new()),
            tag::STRING => {
                let n = usize::from(self.u16()?);
                let bytes = self.take(n, "a string")?;
                Term::List(bytes.iter().map(|&b| Term::Int(i64::from(b))).collect())
            }
            tag::LIST => {
                let declared = self.u32()? as usize;
                let n = self.count(declared, 1)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.term(depth)?);
                }
                match self.term(depth)? {
                    Term::List(tail) if tail.is_empty() => Term::List(items),
                    tail => Term::Improper(items, Box::new(tail)),
                }
            }
            tag::SMALL_TUPLE | tag::LARGE_TUPLE => {
                let n = if t == tag::SMALL_TUPLE {
                    usize::from(self.u8()?)
                } else {
                    self.u32()? as usize
                };
                let n = self.count(n, 1)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.term(depth)?);
                }
                Term::Tuple(items)
            }
            tag::MAP => {
                let declared = self.u32()? as usize;
                let n = self.count(declared, 2)?;
                let mut pairs: Vec<(Term, Term)> = Vec::with_capacity(n);
                for _ in 0..n {
                    let k = self.term(depth)?;
                    let v = self.term(depth)?;
                    pairs.push((k, v));
                }
                check_unique_keys(&pairs)?;
                Term::Map(pairs)
            }
            tag::NEW_PID | tag::PID => Term::Pid(self.pid_after_tag(t)?),
            tag::NEWER_REFERENCE | tag::NEW_REFERENCE => Term::Ref(self.ref_after_tag(t)?),
            tag::REFERENCE => return Err(EtfError::Tag(t)),
            tag::NEW_PORT | tag::V4_PORT | tag::PORT => {
                let node = self.atom()?;
                let id = match t {
                    tag::V4_PORT => self.u64()?,
                    _ => u64::from(self.u32()?),
                };
                let creation = self.creation(t == tag::PORT)?;
                Term::Port(ErlPort { node, id, creation })
            }
            tag::EXPORT => {
                let module = self.atom()?;
                let function = self.atom()?;
                let arity = match self.term(depth)? {
                    Term::Int(a) => u8::try_from(a).map_err(|_| invalid("an export's arity"))?,
                    _ => return Err(invalid("an export's arity is an integer")),
                };
                Term::Export {
                    module,
                    function,
                    arity,
                }
            }
            tag::NEW_FUN => {
                // Size counts itself and everything after the tag: kept as it came.
                let start = self.buf;
                let size = self.u32()? as usize;
                if size < 4 {
                    return Err(invalid("a fun's size counts its own 4 bytes"));
                }
                self.take(size - 4, "a fun")?;
                let mut raw = vec![tag::NEW_FUN];
                raw.extend_from_slice(&start[..size]);
                Term::Fun(raw)
            }
            tag::COMPRESSED => {
                let declared = self.u32()? as usize;
                if declared > MAX_DECOMPRESSED {
                    return Err(invalid(format!(
                        "a compressed term of {declared} bytes (at most {MAX_DECOMPRESSED})"
                    )));
                }
                let inflated = inflate(self.rest(), declared)?;
                self.buf = &[];
                let mut inner = Reader::new(&inflated);
                let t = inner.term(depth)?;
                if !inner.rest().is_empty() {
                    return Err(EtfError::Trailing(inner.rest().len()));
                }
                t
            }
            tag::LOCAL => return Err(invalid("LOCAL_EXT is a node's private encoding")),
            tag::ATOM_CACHE_REF => {
                return Err(invalid(
                    "an atom cache reference outside a distribution header",
                ));
            }
            other => return Err(EtfError::Tag(other)),
        })
    }

    /// Skips the next term, checking it as [`term`](Self::term) would, without building it.
    pub(crate) fn skip(&mut self, depth: usize) -> Result<(), EtfError> {
        let depth = Self::depth(depth)?;
        let Some(t) = self.peek() else {
            return Err(EtfError::Truncated("a term"));
        };
        match t {
            tag::LIST => {
                self.u8()?;
                let declared = self.u32()? as usize;
                let n = self.count(declared, 1)?;
                for _ in 0..=n {
                    self.skip(depth)?;
                }
                Ok(())
            }
            tag::SMALL_TUPLE | tag::LARGE_TUPLE => {
                self.u8()?;
                let n = if t == tag::SMALL_TUPLE {
                    usize::from(self.u8()?)
                } else {
                    self.u32()? as usize
                };
                let n = self.count(n, 1)?;
                for _ in 0..n {
                    self.skip(depth)?;
                }
                Ok(())
            }
            tag::MAP => {
                // Keys must be unique: build them (small, in practice) to check.
                self.term(depth - 1).map(drop)
            }
            _ => self.term(depth - 1).map(drop),
        }
    }
}

/// A bignum as a term: an `Int` when it fits 64 bits.
fn big_term(negative: bool, digits: &[u8]) -> Term {
    let significant = digits.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let digits = &digits[..significant];
    if digits.len() <= 8 {
        let mut v = 0u64;
        for (i, &b) in digits.iter().enumerate() {
            v |= u64::from(b) << (8 * i);
        }
        match (negative, i64::try_from(v)) {
            (false, Ok(v)) => return Term::Int(v),
            (true, Ok(v)) => return Term::Int(-v),
            (true, Err(_)) if v == 1u64 << 63 => return Term::Int(i64::MIN),
            _ => {}
        }
    }
    Term::Big {
        negative,
        magnitude: digits.to_vec(),
    }
}

/// Refuses a map that repeats a key, whatever forms the repeats were written in (each key
/// is compared by its canonical encoding: linear, however large the map).
fn check_unique_keys(pairs: &[(Term, Term)]) -> Result<(), EtfError> {
    let mut seen = std::collections::HashSet::with_capacity(pairs.len());
    for (k, _) in pairs {
        if !seen.insert(super::encode::canonical(k)) {
            return Err(invalid(format!("a map repeats the key {k}")));
        }
    }
    Ok(())
}

/// zlib-inflates `data` into exactly `declared` bytes, never more.
fn inflate(data: &[u8], declared: usize) -> Result<Vec<u8>, EtfError> {
    use std::io::Read;
    let mut out = Vec::new();
    let mut z = flate2::read::ZlibDecoder::new(data).take(declared as u64 + 1);
    z.read_to_end(&mut out)
        .map_err(|e| invalid(format!("a compressed term does not inflate: {e}")))?;
    if out.len() != declared {
        return Err(invalid(format!(
            "a compressed term inflates to {} bytes, not the {declared} it declares",
            out.len()
        )));
    }
    Ok(out)
}
