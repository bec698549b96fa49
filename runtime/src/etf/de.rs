//! Terms to Rust values through serde, read straight from the bytes: binaries and atoms are
//! borrowed where the target type lets them be, and no [`Term`] is built.
//!
//! [`Term`]: super::Term

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::decode::Reader;
use super::term::ErlPid;
use super::{EtfError, MAX_DEPTH, VERSION, invalid, magic, tag};

/// Decodes a Rust value from an encoded term (version byte 131 first), by the mapping of
/// the module docs.
///
/// # Errors
///
/// [`EtfError`] if the bytes are not one valid term, or the term does not fit `T`.
pub fn from_slice<'de, T: de::Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, EtfError> {
    match bytes.split_first() {
        Some((&VERSION, rest)) => from_term_bytes(rest),
        Some((&other, _)) => Err(EtfError::Version(other)),
        None => Err(EtfError::Truncated("no version byte")),
    }
}

/// Decodes a Rust value from one term (no version byte) that fills `bytes` exactly.
pub(crate) fn from_term_bytes<'de, T: de::Deserialize<'de>>(
    bytes: &'de [u8],
) -> Result<T, EtfError> {
    let mut d = De {
        r: Reader::new(bytes),
        depth: 0,
    };
    let v = T::deserialize(&mut d)?;
    match d.r.rest().len() {
        0 => Ok(v),
        n => Err(EtfError::Trailing(n)),
    }
}

struct De<'de> {
    r: Reader<'de>,
    depth: usize,
}

/// What an integer tag held: small enough for 64 bits, or up to 128.
enum Int {
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
}

impl<'de> De<'de> {
    fn tag(&self) -> Result<u8, EtfError> {
        self.r.peek().ok_or(EtfError::Truncated("a term"))
    }

    fn nest(&mut self) -> Result<(), EtfError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(invalid(format!("terms nested deeper than {MAX_DEPTH}")));
        }
        Ok(())
    }

    fn unnest(&mut self) {
        self.depth -= 1;
    }

    fn mismatch(&self, want: &str) -> EtfError {
        let found = match self.r.peek() {
            Some(t) => describe(t),
            None => "nothing",
        };
        EtfError::Custom(format!("expected {want}, found {found}"))
    }

    /// An atom's text, borrowed when it is UTF-8 (or ASCII).
    fn atom_str(&mut self) -> Result<AtomText<'de>, EtfError> {
        let t = self.r.u8()?;
        match t {
            tag::ATOM_UTF8 | tag::SMALL_ATOM_UTF8 => Ok(AtomText::Borrowed(self.r.atom_text(t)?)),
            tag::ATOM | tag::SMALL_ATOM => {
                let before = self.r.rest();
                match self.r.atom_text(t) {
                    Ok(s) => Ok(AtomText::Borrowed(s)),
                    Err(_) => {
                        // Latin-1 beyond ASCII: read it again as code points.
                        self.r = Reader::new(before);
                        let len = if t == tag::SMALL_ATOM {
                            usize::from(self.r.u8()?)
                        } else {
                            usize::from(self.r.u16()?)
                        };
                        let bytes = self.r.take(len, "an atom's text")?;
                        Ok(AtomText::Owned(
                            bytes.iter().map(|&b| char::from(b)).collect(),
                        ))
                    }
                }
            }
            tag::ATOM_CACHE_REF => Err(invalid(
                "an atom cache reference outside a distribution header",
            )),
            other => Err(EtfError::Custom(format!(
                "expected an atom, found {}",
                describe(other)
            ))),
        }
    }

    fn is_atom(t: u8) -> bool {
        matches!(
            t,
            tag::ATOM_UTF8 | tag::SMALL_ATOM_UTF8 | tag::ATOM | tag::SMALL_ATOM
        )
    }

    /// Whether the next term is the atom `name` (without consuming anything).
    fn next_is_atom(&self, names: &[&str]) -> bool {
        let mut probe = De {
            r: Reader::new(self.r.rest()),
            depth: self.depth,
        };
        match probe.tag() {
            Ok(t) if Self::is_atom(t) => {
                probe.atom_str().is_ok_and(|a| names.contains(&a.as_str()))
            }
            _ => false,
        }
    }

    fn integer(&mut self) -> Result<Int, EtfError> {
        let t = self.r.u8()?;
        match t {
            tag::SMALL_INTEGER => Ok(Int::I64(i64::from(self.r.u8()?))),
            tag::INTEGER => Ok(Int::I64(i64::from(self.r.u32()? as i32))),
            tag::SMALL_BIG | tag::LARGE_BIG => {
                let (negative, digits) = self.r.big(t)?;
                let n = digits.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                if n > 16 {
                    return Err(EtfError::Custom(
                        "an integer larger than 128 bits (use locus::etf::Term)".into(),
                    ));
                }
                let mut m = 0u128;
                for (i, &b) in digits[..n].iter().enumerate() {
                    m |= u128::from(b) << (8 * i);
                }
                Ok(match (negative, u64::try_from(m), i64::try_from(m)) {
                    (false, _, Ok(v)) => Int::I64(v),
                    (false, Ok(v), _) => Int::U64(v),
                    (false, Err(_), _) => Int::U128(m),
                    (true, _, Ok(v)) => Int::I64(-v),
                    (true, _, _) => {
                        if m == 1u128 << 127 {
                            Int::I128(i128::MIN)
                        } else {
                            let v = i128::try_from(m)
                                .map_err(|_| EtfError::Custom("an integer below -2^127".into()))?;
                            Int::I128(-v)
                        }
                    }
                })
            }
            other => Err(EtfError::Custom(format!(
                "expected an integer, found {}",
                describe(other)
            ))),
        }
    }

    fn visit_int<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, EtfError> {
        match self.integer()? {
            Int::I64(v) if v >= 0 => visitor.visit_u64(v as u64),
            Int::I64(v) => visitor.visit_i64(v),
            Int::U64(v) => visitor.visit_u64(v),
            Int::I128(v) => visitor.visit_i128(v),
            Int::U128(v) => visitor.visit_u128(v),
        }
    }

    fn float(&mut self) -> Result<f64, EtfError> {
        match self.tag()? {
            tag::NEW_FLOAT => {
                self.r.u8()?;
                let b = self.r.take(8, "a float")?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                let x = f64::from_bits(u64::from_be_bytes(a));
                if !x.is_finite() {
                    return Err(invalid("a float that is not finite"));
                }
                Ok(x)
            }
            tag::FLOAT => {
                self.r.u8()?;
                self.r.text_float()
            }
            _ => Ok(match self.integer()? {
                Int::I64(v) => v as f64,
                Int::U64(v) => v as f64,
                Int::I128(v) => v as f64,
                Int::U128(v) => v as f64,
            }),
        }
    }

    /// The bytes of a binary after its tag.
    fn binary(&mut self) -> Result<&'de [u8], EtfError> {
        self.r.u8()?;
        let n = self.r.u32()? as usize;
        self.r.take(n, "a binary")
    }

    fn list_len(&mut self) -> Result<usize, EtfError> {
        self.r.u8()?;
        let n = self.r.u32()? as usize;
        self.r.count(n, 1)
    }

    fn tuple_len(&mut self) -> Result<usize, EtfError> {
        let t = self.r.u8()?;
        let n = if t == tag::SMALL_TUPLE {
            usize::from(self.r.u8()?)
        } else {
            self.r.u32()? as usize
        };
        self.r.count(n, 1)
    }

    fn seq<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, EtfError> {
        match self.tag()? {
            tag::NIL => {
                self.r.u8()?;
                visitor.visit_seq(Elements {
                    de: self,
                    left: 0,
                    list: false,
                })
            }
            tag::STRING => {
                self.r.u8()?;
                let n = usize::from(self.r.u16()?);
                let bytes = self.r.take(n, "a string")?;
                visitor.visit_seq(de::value::SeqDeserializer::<_, EtfError>::new(
                    bytes.iter().copied(),
                ))
            }
            tag::LIST => {
                let n = self.list_len()?;
                self.nest()?;
                let v = visitor.visit_seq(Elements {
                    de: &mut *self,
                    left: n,
                    list: true,
                })?;
                self.unnest();
                Ok(v)
            }
            _ => Err(self.mismatch("a list")),
        }
    }

    fn tuple<V: Visitor<'de>>(&mut self, len: usize, visitor: V) -> Result<V::Value, EtfError> {
        match self.tag()? {
            tag::SMALL_TUPLE | tag::LARGE_TUPLE => {
                let n = self.tuple_len()?;
                if n != len {
                    return Err(EtfError::Custom(format!(
                        "expected a tuple of {len}, found one of {n}"
                    )));
                }
                self.nest()?;
                let v = visitor.visit_seq(Elements {
                    de: &mut *self,
                    left: n,
                    list: false,
                })?;
                self.unnest();
                Ok(v)
            }
            _ => Err(self.mismatch(&format!("a tuple of {len}"))),
        }
    }

    fn map<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, EtfError> {
        if self.tag()? != tag::MAP {
            return Err(self.mismatch("a map"));
        }
        self.r.u8()?;
        let n = self.r.u32()? as usize;
        let n = self.r.count(n, 2)?;
        self.nest()?;
        let v = visitor.visit_map(Pairs {
            de: &mut *self,
            left: n,
        })?;
        self.unnest();
        Ok(v)
    }

    fn pid(&mut self) -> Result<ErlPid, EtfError> {
        let t = self.r.u8()?;
        if !matches!(t, tag::NEW_PID | tag::PID) {
            return Err(EtfError::Custom(format!(
                "expected a pid, found {}",
                describe(t)
            )));
        }
        self.r.pid_after_tag(t)
    }
}

/// An atom's text: borrowed, or rebuilt from Latin-1.
enum AtomText<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl AtomText<'_> {
    fn as_str(&self) -> &str {
        match self {
            AtomText::Borrowed(s) => s,
            AtomText::Owned(s) => s,
        }
    }
}

/// What a tag is, for errors.
fn describe(t: u8) -> &'static str {
    match t {
        tag::SMALL_INTEGER | tag::INTEGER | tag::SMALL_BIG | tag::LARGE_BIG => "an integer",
        tag::NEW_FLOAT | tag::FLOAT => "a float",
        tag::ATOM_UTF8 | tag::SMALL_ATOM_UTF8 | tag::ATOM | tag::SMALL_ATOM => "an atom",
        tag::BINARY => "a binary",
        tag::BIT_BINARY => "a bitstring",
        tag::NIL | tag::LIST | tag::STRING => "a list",
        tag::SMALL_TUPLE | tag::LARGE_TUPLE => "a tuple",
        tag::MAP => "a map",
        tag::NEW_PID | tag::PID => "a pid",
        tag::NEWER_REFERENCE | tag::NEW_REFERENCE => "a reference",
        tag::NEW_PORT | tag::V4_PORT | tag::PORT => "a port",
        tag::NEW_FUN | tag::EXPORT => "a fun",
        tag::COMPRESSED => "a compressed term (decode it with locus::etf::decode)",
        _ => "an unknown tag",
    }
}

impl<'de> de::Deserializer<'de> for &mut De<'de> {
    type Error = EtfError;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, EtfError> {
        match self.tag()? {
            tag::SMALL_INTEGER | tag::INTEGER | tag::SMALL_BIG | tag::LARGE_BIG => {
                self.visit_int(visitor)
            }
            tag::NEW_FLOAT | tag::FLOAT => visitor.visit_f64(self.float()?),
            t if De::is_atom(t) => match self.atom_str()? {
                AtomText::Borrowed("true") => visitor.visit_bool(true),
                AtomText::Borrowed("false") => visitor.visit_bool(false),
                AtomText::Borrowed("nil") => visitor.visit_none(),
                AtomText::Borrowed(s) => visitor.visit_borrowed_str(s),
                AtomText::Owned(s) => visitor.visit_string(s),
            },
            tag::BINARY => {
                let b = self.binary()?;
                match std::str::from_utf8(b) {
                    Ok(s) => visitor.visit_borrowed_str(s),
                    Err(_) => visitor.visit_borrowed_bytes(b),
                }
            }
            tag::NIL | tag::LIST | tag::STRING => self.seq(visitor),
            tag::SMALL_TUPLE | tag::LARGE_TUPLE => {
                let mut probe = Reader::new(self.r.rest());
                let t = probe.u8()?;
                let n = if t == tag::SMALL_TUPLE {
                    usize::from(probe.u8()?)
                } else {
                    probe.u32()? as usize
                };
                self.tuple(n, visitor)
            }
            tag::MAP => self.map(visitor),
            t => Err(EtfError::Custom(format!(
                "{} has no untyped Rust form (take it as locus::etf::Term)",
                describe(t)
            ))),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, EtfError> {
        if !De::is_atom(self.tag()?) {
            return Err(self.mismatch("true or false"));
        }
        match self.atom_str()?.as_str() {
            "true" => visitor.visit_bool(true),
            "false" => visitor.visit_bool(false),
            other => Err(EtfError::Custom(format!(
                "expected true or false, found the atom {other}"
            ))),
        }
    }

    fn deserialize_i8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, EtfError> {
        self.visit_int(v)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, EtfError> {
        self.visit_int(v)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, EtfError> {
        self.visit_int(v)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, EtfError> {
        self.visit_int(v)
    }
    fn deserialize_i128<V: Visitor<'de>>(self, v: V) -> Result<V::Value, EtfError> {
        self.visit_int(v)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, EtfError> {
        self.visit_int(v)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, EtfError> {
        self.visit_int(v)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, EtfError> {
        self.visit_int(v)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, EtfError> {
        self.visit_int(v)
    }
    fn deserialize_u128<V: Visitor<'de>>(self, v: V) -> Result<V::Value, EtfError> {
        self.visit_int(v)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, EtfError> {
        visitor.visit_f64(self.float()?)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, EtfError> {
        visitor.visit_f64(self.float()?)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, EtfError> {
        let c = match self.integer()? {
            Int::I64(v) => u32::try_from(v).ok().and_then(char::from_u32),
            _ => None,
        };
        match c {
            Some(c) => visitor.visit_char(c),
            None => Err(EtfError::Custom(
                "an integer that is not a character".into(),
            )),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, EtfError> {
        match self.tag()? {
            tag::BINARY => {
                let b = self.binary()?;
                let s = std::str::from_utf8(b)
                    .map_err(|_| EtfError::Custom("a binary that is not UTF-8 text".into()))?;
                visitor.visit_borrowed_str(s)
            }
            t if De::is_atom(t) => match self.atom_str()? {
                AtomText::Borrowed(s) => visitor.visit_borrowed_str(s),
                AtomText::Owned(s) => visitor.visit_string(s),
            },
            _ => Err(self.mismatch("a binary (a string)")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, EtfError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, EtfError> {
        match self.tag()? {
            tag::BINARY => visitor.visit_borrowed_bytes(self.binary()?),
            tag::STRING => {
                self.r.u8()?;
                let n = usize::from(self.r.u16()?);
                visitor.visit_borrowed_bytes(self.r.take(n, "a string")?)
            }
            tag::NIL => {
                self.r.u8()?;
                visitor.visit_borrowed_bytes(&[])
            }
            tag::LIST => {
                let n = self.list_len()?;
                let mut bytes = Vec::with_capacity(n);
                for _ in 0..n {
                    match self.integer()? {
                        Int::I64(v) => bytes.push(u8::try_from(v).map_err(|_| {
                            EtfError::Custom("a list of bytes holds only 0 to 255".into())
                        })?),
                        _ => return Err(EtfError::Custom("a list of bytes".into())),
                    }
                }
                if self.r.u8()? != tag::NIL {
                    return Err(EtfError::Custom("an improper list".into()));
                }
                visitor.visit_byte_buf(bytes)
            }
            _ => Err(self.mismatch("a binary")),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, EtfError> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, EtfError> {
        if self.next_is_atom(&["nil", "undefined"]) {
            self.atom_str()?;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, EtfError> {
        if self.next_is_atom(&["ok", "nil"]) {
            self.atom_str()?;
            visitor.visit_unit()
        } else {
            Err(self.mismatch(":ok (a unit value)"))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, EtfError> {
        if !De::is_atom(self.tag()?) {
            return Err(self.mismatch("an atom"));
        }
        self.atom_str()?;
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, EtfError> {
        match name {
            magic::TERM => {
                let rest = self.r.rest();
                let n = super::term_len(rest)?;
                let raw = self.r.take(n, "a term")?;
                visitor.visit_newtype_struct(de::value::BorrowedBytesDeserializer::new(raw))
            }
            magic::PID => {
                let p = self.pid()?;
                let id = u64::from(p.serial) << 32 | u64::from(p.id);
                visitor.visit_newtype_struct(PidFields {
                    id,
                    creation: p.creation,
                    node: p.node.as_str().to_owned(),
                })
            }
            _ => visitor.visit_newtype_struct(self),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, EtfError> {
        self.seq(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, EtfError> {
        self.tuple(len, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, EtfError> {
        self.tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, EtfError> {
        self.map(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, EtfError> {
        self.map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, EtfError> {
        match self.tag()? {
            t if De::is_atom(t) => visitor.visit_enum(Variant {
                de: self,
                fields: 0,
            }),
            tag::SMALL_TUPLE | tag::LARGE_TUPLE => {
                let n = self.tuple_len()?;
                if n == 0 {
                    return Err(EtfError::Custom(
                        "an enum variant is an atom or a tuple tagged with one".into(),
                    ));
                }
                self.nest()?;
                let v = visitor.visit_enum(Variant {
                    de: &mut *self,
                    fields: n - 1,
                })?;
                self.unnest();
                Ok(v)
            }
            _ => Err(self.mismatch("an atom or a tagged tuple (an enum variant)")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, EtfError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, EtfError> {
        self.r.skip(self.depth)?;
        visitor.visit_unit()
    }
}

/// The elements of a list or tuple.
struct Elements<'a, 'de> {
    de: &'a mut De<'de>,
    left: usize,
    /// A list, which ends with `[]` (anything else is an improper list).
    list: bool,
}

impl<'de> de::SeqAccess<'de> for Elements<'_, 'de> {
    type Error = EtfError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, EtfError> {
        if self.left == 0 {
            if self.list {
                self.list = false;
                if self.de.r.u8()? != tag::NIL {
                    return Err(EtfError::Custom(
                        "an improper list where a list was expected".into(),
                    ));
                }
            }
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// The pairs of a map.
struct Pairs<'a, 'de> {
    de: &'a mut De<'de>,
    left: usize,
}

impl<'de> de::MapAccess<'de> for Pairs<'_, 'de> {
    type Error = EtfError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, EtfError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, EtfError> {
        seed.deserialize(&mut *self.de)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// An enum variant: an atom, or a tuple whose first element is one.
struct Variant<'a, 'de> {
    de: &'a mut De<'de>,
    /// The tuple's elements after the tag (0 for a bare atom).
    fields: usize,
}

impl<'de> de::EnumAccess<'de> for Variant<'_, 'de> {
    type Error = EtfError;
    type Variant = Self;

    fn variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<(T::Value, Self), EtfError> {
        let tag_value = match self.de.atom_str()? {
            AtomText::Borrowed(s) => {
                seed.deserialize(de::value::BorrowedStrDeserializer::<EtfError>::new(s))?
            }
            AtomText::Owned(s) => seed.deserialize(s.into_deserializer())?,
        };
        Ok((tag_value, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'_, 'de> {
    type Error = EtfError;

    fn unit_variant(self) -> Result<(), EtfError> {
        match self.fields {
            0 => Ok(()),
            n => Err(EtfError::Custom(format!(
                "a unit variant, but the tuple holds {n} more"
            ))),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, EtfError> {
        if self.fields != 1 {
            return Err(EtfError::Custom(format!(
                "a variant of one value is {{tag, value}}; this tuple holds {} after its tag",
                self.fields
            )));
        }
        seed.deserialize(&mut *self.de)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, EtfError> {
        if self.fields != len {
            return Err(EtfError::Custom(format!(
                "a variant of {len} values, but the tuple holds {} after its tag",
                self.fields
            )));
        }
        visitor.visit_seq(Elements {
            de: self.de,
            left: len,
            list: false,
        })
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, EtfError> {
        if self.fields != 1 {
            return Err(EtfError::Custom(
                "a struct variant is {tag, %{field => value}}".into(),
            ));
        }
        self.de.map(visitor)
    }
}

/// A pid's fields, as a locus `Pid` deserializes them: `(id, creation, node)`.
struct PidFields {
    id: u64,
    creation: u32,
    node: String,
}

impl<'de> de::Deserializer<'de> for PidFields {
    type Error = EtfError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, EtfError> {
        visitor.visit_seq(PidSeq {
            fields: Some(self),
            next: 0,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct PidSeq {
    fields: Option<PidFields>,
    next: usize,
}

impl<'de> de::SeqAccess<'de> for PidSeq {
    type Error = EtfError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, EtfError> {
        let Some(f) = &self.fields else {
            return Ok(None);
        };
        let v = match self.next {
            0 => seed.deserialize(f.id.into_deserializer())?,
            1 => seed.deserialize(f.creation.into_deserializer())?,
            2 => seed.deserialize(f.node.clone().into_deserializer())?,
            _ => return Ok(None),
        };
        self.next += 1;
        if self.next == 3 {
            self.fields = None;
        }
        Ok(Some(v))
    }
}
