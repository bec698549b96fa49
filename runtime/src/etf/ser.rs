//! Rust values to terms through serde, written straight into bytes (no [`Term`] built).
//!
//! [`Term`]: super::Term

use serde::ser::{self, Serialize};

use super::encode::{self, atom};
use super::term::{Atom, ErlPid, Term};
use super::{EtfError, VERSION, magic, tag};

/// Encodes `value` (with the version byte 131), by the mapping of the module docs.
///
/// # Errors
///
/// [`EtfError::Custom`] when the value has no term form (a NaN, a map key type serde cannot
/// hand over, an error of the value's own `Serialize`).
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, EtfError> {
    let mut out = vec![VERSION];
    write_term(value, &mut out)?;
    Ok(out)
}

/// Appends `value` as a term (no version byte); on an error `out` is left as it was.
pub(crate) fn write_term<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), EtfError> {
    let start = out.len();
    let r = value.serialize(&mut Ser { out });
    if r.is_err() {
        out.truncate(start);
    }
    r
}

/// Appends `value` (an enum variant) as its variant's content: a newtype variant as its
/// value, a tuple variant as the tuple of its fields, a struct variant as the map of its
/// fields, a unit variant as `ok`. A value that is no variant is written as it is.
pub(crate) fn write_term_bare<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), EtfError> {
    let start = out.len();
    let r = value.serialize(Bare(&mut Ser { out }));
    if r.is_err() {
        out.truncate(start);
    }
    r
}

/// `{Tag, content}` (a term, no version byte), `Tag` the variant of `like` (an enum value:
/// `{tag, ...}` or the atom `tag` in its term form): how a reply that came as its variant's
/// content (see `write_term_bare`) is read back into the reply enum.
pub(crate) fn wrap_in_variant_of<T: Serialize + ?Sized>(
    like: &T,
    content: &[u8],
) -> Result<Vec<u8>, EtfError> {
    let mut probe = Vec::new();
    write_term(like, &mut probe)?;
    let tag = match super::decode_term(&probe)? {
        Term::Atom(a) => a,
        Term::Tuple(items) => match items.into_iter().next() {
            Some(Term::Atom(a)) => a,
            _ => {
                return Err(EtfError::Custom(
                    "the request is not an enum variant".into(),
                ));
            }
        },
        _ => {
            return Err(EtfError::Custom(
                "the request is not an enum variant".into(),
            ));
        }
    };
    let mut out = Vec::with_capacity(content.len() + tag.as_str().len() + 4);
    super::encode::tuple_header(&mut out, 2)?;
    super::encode::atom(&mut out, tag.as_str());
    out.extend_from_slice(content);
    Ok(out)
}

struct Ser<'a> {
    out: &'a mut Vec<u8>,
}

/// A list, map or struct whose element count is written at its end.
struct Counted<'s, 'a> {
    ser: &'s mut Ser<'a>,
    /// Where the count goes (the byte after the tag).
    at: usize,
    count: u32,
    /// A list: ends with `[]`, and an empty one is just `[]`.
    list: bool,
}

impl<'s, 'a> Counted<'s, 'a> {
    fn begin(ser: &'s mut Ser<'a>, tag_byte: u8, list: bool) -> Self {
        ser.out.push(tag_byte);
        let at = ser.out.len();
        ser.out.extend_from_slice(&[0; 4]);
        Counted {
            ser,
            at,
            count: 0,
            list,
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), EtfError> {
        v.serialize(&mut *self.ser)?;
        self.count = self
            .count
            .checked_add(1)
            .ok_or_else(|| EtfError::Custom("more than 2^32 - 1 elements".into()))?;
        Ok(())
    }

    fn finish(self) -> Result<(), EtfError> {
        if self.list && self.count == 0 {
            // `[]` alone, as Erlang writes an empty list.
            self.ser.out.truncate(self.at - 1);
            self.ser.out.push(tag::NIL);
            return Ok(());
        }
        self.ser.out[self.at..self.at + 4].copy_from_slice(&self.count.to_be_bytes());
        if self.list {
            self.ser.out.push(tag::NIL);
        }
        Ok(())
    }
}

impl Ser<'_> {
    fn atom(&mut self, name: &str) -> Result<(), EtfError> {
        Atom::new(name)?;
        atom(self.out, name);
        Ok(())
    }
}

impl<'s, 'a> ser::Serializer for &'s mut Ser<'a> {
    type Ok = ();
    type Error = EtfError;
    type SerializeSeq = Counted<'s, 'a>;
    type SerializeTuple = Tuple<'s, 'a>;
    type SerializeTupleStruct = Tuple<'s, 'a>;
    type SerializeTupleVariant = Tuple<'s, 'a>;
    type SerializeMap = Counted<'s, 'a>;
    type SerializeStruct = Counted<'s, 'a>;
    type SerializeStructVariant = Counted<'s, 'a>;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, v: bool) -> Result<(), EtfError> {
        self.atom(if v { "true" } else { "false" })
    }

    fn serialize_i8(self, v: i8) -> Result<(), EtfError> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i16(self, v: i16) -> Result<(), EtfError> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i32(self, v: i32) -> Result<(), EtfError> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i64(self, v: i64) -> Result<(), EtfError> {
        encode::int(self.out, v);
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> Result<(), EtfError> {
        encode::int128(self.out, v < 0, v.unsigned_abs());
        Ok(())
    }

    fn serialize_u8(self, v: u8) -> Result<(), EtfError> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_u16(self, v: u16) -> Result<(), EtfError> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_u32(self, v: u32) -> Result<(), EtfError> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_u64(self, v: u64) -> Result<(), EtfError> {
        encode::int128(self.out, false, u128::from(v));
        Ok(())
    }

    fn serialize_u128(self, v: u128) -> Result<(), EtfError> {
        encode::int128(self.out, false, v);
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Result<(), EtfError> {
        encode::float(self.out, f64::from(v))
    }

    fn serialize_f64(self, v: f64) -> Result<(), EtfError> {
        encode::float(self.out, v)
    }

    fn serialize_char(self, v: char) -> Result<(), EtfError> {
        self.serialize_i64(i64::from(u32::from(v)))
    }

    fn serialize_str(self, v: &str) -> Result<(), EtfError> {
        encode::binary(self.out, v.as_bytes());
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), EtfError> {
        encode::binary(self.out, v);
        Ok(())
    }

    fn serialize_none(self) -> Result<(), EtfError> {
        self.atom("nil")
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), EtfError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), EtfError> {
        self.atom("ok")
    }

    fn serialize_unit_struct(self, name: &'static str) -> Result<(), EtfError> {
        self.atom(name)
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), EtfError> {
        self.atom(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(), EtfError> {
        match name {
            magic::TERM => {
                // The value is the term's encoding, as bytes: written as it is.
                let mut raw = RawBytes(None);
                value.serialize(&mut raw)?;
                let bytes = raw.0.ok_or_else(|| EtfError::Custom("a raw term".into()))?;
                self.out.extend_from_slice(&bytes);
                Ok(())
            }
            magic::PID => {
                let mut parts = PidParts::default();
                value.serialize(&mut parts)?;
                let (Some(id), Some(creation), Some(node)) = (parts.id, parts.creation, parts.node)
                else {
                    return Err(EtfError::Custom("a pid is (id, creation, node)".into()));
                };
                encode::pid(
                    self.out,
                    &ErlPid {
                        node: Atom::new(&node)?,
                        id: id as u32,
                        serial: (id >> 32) as u32,
                        creation: u32::try_from(creation)
                            .map_err(|_| EtfError::Custom("a creation is 32 bits".into()))?,
                    },
                );
                Ok(())
            }
            _ => value.serialize(self),
        }
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), EtfError> {
        encode::tuple_header(self.out, 2)?;
        self.atom(variant)?;
        value.serialize(self)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Counted<'s, 'a>, EtfError> {
        Ok(Counted::begin(self, tag::LIST, true))
    }

    fn serialize_tuple(self, len: usize) -> Result<Tuple<'s, 'a>, EtfError> {
        encode::tuple_header(self.out, len)?;
        Ok(Tuple { ser: self })
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Tuple<'s, 'a>, EtfError> {
        self.serialize_tuple(len)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Tuple<'s, 'a>, EtfError> {
        encode::tuple_header(self.out, len + 1)?;
        self.atom(variant)?;
        Ok(Tuple { ser: self })
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Counted<'s, 'a>, EtfError> {
        Ok(Counted::begin(self, tag::MAP, false))
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Counted<'s, 'a>, EtfError> {
        Ok(Counted::begin(self, tag::MAP, false))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Counted<'s, 'a>, EtfError> {
        encode::tuple_header(self.out, 2)?;
        self.atom(variant)?;
        Ok(Counted::begin(self, tag::MAP, false))
    }
}

/// A tuple: its arity is known up front.
struct Tuple<'s, 'a> {
    ser: &'s mut Ser<'a>,
}

impl ser::SerializeTuple for Tuple<'_, '_> {
    type Ok = ();
    type Error = EtfError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), EtfError> {
        v.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<(), EtfError> {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for Tuple<'_, '_> {
    type Ok = ();
    type Error = EtfError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), EtfError> {
        v.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<(), EtfError> {
        Ok(())
    }
}

impl ser::SerializeTupleVariant for Tuple<'_, '_> {
    type Ok = ();
    type Error = EtfError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), EtfError> {
        v.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<(), EtfError> {
        Ok(())
    }
}

impl ser::SerializeSeq for Counted<'_, '_> {
    type Ok = ();
    type Error = EtfError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), EtfError> {
        self.element(v)
    }
    fn end(self) -> Result<(), EtfError> {
        self.finish()
    }
}

impl ser::SerializeMap for Counted<'_, '_> {
    type Ok = ();
    type Error = EtfError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), EtfError> {
        self.element(k)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), EtfError> {
        // Counted with its key: one pair, one count.
        v.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<(), EtfError> {
        self.finish()
    }
}

impl ser::SerializeStruct for Counted<'_, '_> {
    type Ok = ();
    type Error = EtfError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), EtfError> {
        self.ser.atom(key)?;
        self.element(v)
    }
    fn end(self) -> Result<(), EtfError> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for Counted<'_, '_> {
    type Ok = ();
    type Error = EtfError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), EtfError> {
        self.ser.atom(key)?;
        self.element(v)
    }
    fn end(self) -> Result<(), EtfError> {
        self.finish()
    }
}

/// Takes the bytes of a raw term out of its `Serialize` (a newtype around bytes).
struct RawBytes(Option<Vec<u8>>);

/// Takes a pid's `(id, creation, node)` out of its `Serialize`.
#[derive(Default)]
struct PidParts {
    id: Option<u64>,
    creation: Option<u64>,
    node: Option<String>,
    next: usize,
}

fn unexpected<T>() -> Result<T, EtfError> {
    Err(EtfError::Custom("not a value of the expected shape".into()))
}

/// The serializer methods of a capture that take none of these values.
macro_rules! refuse_rest {
    () => {
        fn serialize_bool(self, _: bool) -> Result<(), EtfError> {
            unexpected()
        }
        fn serialize_i8(self, _: i8) -> Result<(), EtfError> {
            unexpected()
        }
        fn serialize_i16(self, _: i16) -> Result<(), EtfError> {
            unexpected()
        }
        fn serialize_i32(self, _: i32) -> Result<(), EtfError> {
            unexpected()
        }
        fn serialize_i64(self, _: i64) -> Result<(), EtfError> {
            unexpected()
        }
        fn serialize_u8(self, _: u8) -> Result<(), EtfError> {
            unexpected()
        }
        fn serialize_u16(self, _: u16) -> Result<(), EtfError> {
            unexpected()
        }
        fn serialize_f32(self, _: f32) -> Result<(), EtfError> {
            unexpected()
        }
        fn serialize_f64(self, _: f64) -> Result<(), EtfError> {
            unexpected()
        }
        fn serialize_char(self, _: char) -> Result<(), EtfError> {
            unexpected()
        }
        fn serialize_none(self) -> Result<(), EtfError> {
            unexpected()
        }
        fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), EtfError> {
            unexpected()
        }
        fn serialize_unit(self) -> Result<(), EtfError> {
            unexpected()
        }
        fn serialize_unit_struct(self, _: &'static str) -> Result<(), EtfError> {
            unexpected()
        }
        fn serialize_unit_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
        ) -> Result<(), EtfError> {
            unexpected()
        }
        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<(), EtfError> {
            unexpected()
        }
        fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, EtfError> {
            unexpected()
        }
        fn serialize_tuple_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleStruct, EtfError> {
            unexpected()
        }
        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleVariant, EtfError> {
            unexpected()
        }
        fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, EtfError> {
            unexpected()
        }
        fn serialize_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStruct, EtfError> {
            unexpected()
        }
        fn serialize_struct_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStructVariant, EtfError> {
            unexpected()
        }
    };
}

impl ser::Serializer for &mut RawBytes {
    type Ok = ();
    type Error = EtfError;
    type SerializeSeq = ser::Impossible<(), EtfError>;
    type SerializeTuple = ser::Impossible<(), EtfError>;
    type SerializeTupleStruct = ser::Impossible<(), EtfError>;
    type SerializeTupleVariant = ser::Impossible<(), EtfError>;
    type SerializeMap = ser::Impossible<(), EtfError>;
    type SerializeStruct = ser::Impossible<(), EtfError>;
    type SerializeStructVariant = ser::Impossible<(), EtfError>;

    refuse_rest!();

    fn serialize_u32(self, _: u32) -> Result<(), EtfError> {
        unexpected()
    }
    fn serialize_u64(self, _: u64) -> Result<(), EtfError> {
        unexpected()
    }
    fn serialize_str(self, _: &str) -> Result<(), EtfError> {
        unexpected()
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), EtfError> {
        self.0 = Some(v.to_vec());
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), EtfError> {
        v.serialize(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, EtfError> {
        unexpected()
    }
}

impl ser::Serializer for &mut PidParts {
    type Ok = ();
    type Error = EtfError;
    type SerializeSeq = ser::Impossible<(), EtfError>;
    type SerializeTuple = Self;
    type SerializeTupleStruct = ser::Impossible<(), EtfError>;
    type SerializeTupleVariant = ser::Impossible<(), EtfError>;
    type SerializeMap = ser::Impossible<(), EtfError>;
    type SerializeStruct = ser::Impossible<(), EtfError>;
    type SerializeStructVariant = ser::Impossible<(), EtfError>;

    refuse_rest!();

    fn serialize_u32(self, v: u32) -> Result<(), EtfError> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result<(), EtfError> {
        match self.next {
            0 => self.id = Some(v),
            1 => self.creation = Some(v),
            _ => return unexpected(),
        }
        self.next += 1;
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), EtfError> {
        if self.next != 2 {
            return unexpected();
        }
        self.node = Some(v.to_owned());
        self.next += 1;
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), EtfError> {
        unexpected()
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), EtfError> {
        v.serialize(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, EtfError> {
        Ok(self)
    }
}

impl ser::SerializeTuple for &mut PidParts {
    type Ok = ();
    type Error = EtfError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), EtfError> {
        v.serialize(&mut **self)
    }
    fn end(self) -> Result<(), EtfError> {
        Ok(())
    }
}

/// The serializer of [`write_term_bare`]: strips the top-level variant, writes the rest as
/// [`Ser`] does.
struct Bare<'s, 'a>(&'s mut Ser<'a>);

impl<'s, 'a> ser::Serializer for Bare<'s, 'a> {
    type Ok = ();
    type Error = EtfError;
    type SerializeSeq = Counted<'s, 'a>;
    type SerializeTuple = Tuple<'s, 'a>;
    type SerializeTupleStruct = Tuple<'s, 'a>;
    type SerializeTupleVariant = Tuple<'s, 'a>;
    type SerializeMap = Counted<'s, 'a>;
    type SerializeStruct = Counted<'s, 'a>;
    type SerializeStructVariant = Counted<'s, 'a>;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<(), EtfError> {
        self.0.serialize_unit()
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), EtfError> {
        value.serialize(self.0)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        len: usize,
    ) -> Result<Tuple<'s, 'a>, EtfError> {
        self.0.serialize_tuple(len)
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        _: u32,
        _: &'static str,
        len: usize,
    ) -> Result<Counted<'s, 'a>, EtfError> {
        self.0.serialize_struct(name, len)
    }

    fn serialize_bool(self, v: bool) -> Result<(), EtfError> {
        self.0.serialize_bool(v)
    }
    fn serialize_i8(self, v: i8) -> Result<(), EtfError> {
        self.0.serialize_i8(v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), EtfError> {
        self.0.serialize_i16(v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), EtfError> {
        self.0.serialize_i32(v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), EtfError> {
        self.0.serialize_i64(v)
    }
    fn serialize_i128(self, v: i128) -> Result<(), EtfError> {
        self.0.serialize_i128(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), EtfError> {
        self.0.serialize_u8(v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), EtfError> {
        self.0.serialize_u16(v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), EtfError> {
        self.0.serialize_u32(v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), EtfError> {
        self.0.serialize_u64(v)
    }
    fn serialize_u128(self, v: u128) -> Result<(), EtfError> {
        self.0.serialize_u128(v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), EtfError> {
        self.0.serialize_f32(v)
    }
    fn serialize_f64(self, v: f64) -> Result<(), EtfError> {
        self.0.serialize_f64(v)
    }
    fn serialize_char(self, v: char) -> Result<(), EtfError> {
        self.0.serialize_char(v)
    }
    fn serialize_str(self, v: &str) -> Result<(), EtfError> {
        self.0.serialize_str(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), EtfError> {
        self.0.serialize_bytes(v)
    }
    fn serialize_none(self) -> Result<(), EtfError> {
        self.0.serialize_none()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), EtfError> {
        self.0.serialize_some(v)
    }
    fn serialize_unit(self) -> Result<(), EtfError> {
        self.0.serialize_unit()
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<(), EtfError> {
        self.0.serialize_unit_struct(name)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        v: &T,
    ) -> Result<(), EtfError> {
        self.0.serialize_newtype_struct(name, v)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Counted<'s, 'a>, EtfError> {
        self.0.serialize_seq(len)
    }
    fn serialize_tuple(self, len: usize) -> Result<Tuple<'s, 'a>, EtfError> {
        self.0.serialize_tuple(len)
    }
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Tuple<'s, 'a>, EtfError> {
        self.0.serialize_tuple_struct(name, len)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Counted<'s, 'a>, EtfError> {
        self.0.serialize_map(len)
    }
    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Counted<'s, 'a>, EtfError> {
        self.0.serialize_struct(name, len)
    }
}
