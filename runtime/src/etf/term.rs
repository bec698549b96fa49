//! Erlang terms, owned.

use std::fmt;
use std::sync::Arc;

use super::{EtfError, MAX_ATOM_CHARS, invalid, magic};

/// An atom: a name of at most 255 characters (`:ok`, `:"Elixir.MyApp.Worker"`).
///
/// Cheap to clone. Atoms from other nodes are never interned: each lives as long as the
/// values that hold it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Atom(Arc<str>);

impl Atom {
    /// An atom of this name.
    ///
    /// # Errors
    ///
    /// [`EtfError::Invalid`] for a name over 255 characters.
    pub fn new(name: &str) -> Result<Atom, EtfError> {
        // A character takes at least a byte: only longer names need counting.
        if name.len() > MAX_ATOM_CHARS && name.chars().count() > MAX_ATOM_CHARS {
            return Err(invalid(format!(
                "an atom has at most {MAX_ATOM_CHARS} characters, not {}",
                name.chars().count()
            )));
        }
        Ok(Atom(Arc::from(name)))
    }

    /// The atom's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = self
            .0
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase())
            && self
                .0
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '@');
        if plain {
            f.write_str(&self.0)
        } else {
            write!(f, "'{}'", self.0.replace('\'', "\\'"))
        }
    }
}

impl fmt::Debug for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A pid as Erlang writes it: its node, its id and serial (the two halves of a process
/// number), and its node's creation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErlPid {
    /// The node the process runs on.
    pub node: Atom,
    /// The process number's low part.
    pub id: u32,
    /// The process number's high part.
    pub serial: u32,
    /// The node's incarnation.
    pub creation: u32,
}

/// A reference: its node, its node's creation, and 1 to 5 words.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErlRef {
    /// The node that made it.
    pub node: Atom,
    /// The node's incarnation.
    pub creation: u32,
    /// Its words, 1 to 5.
    pub ids: Vec<u32>,
}

/// A port identifier (read and written back as it came; locus has no ports).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErlPort {
    /// The node the port is on.
    pub node: Atom,
    /// Its number.
    pub id: u64,
    /// The node's incarnation.
    pub creation: u32,
}

/// Any Erlang term.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Term {
    /// An atom (`true`, `false` and `nil` are atoms).
    Atom(Atom),
    /// An integer that fits 64 bits.
    Int(i64),
    /// A larger integer: its sign and magnitude (little-endian bytes, no trailing zeros).
    Big {
        /// Whether it is negative.
        negative: bool,
        /// The magnitude, least significant byte first.
        magnitude: Vec<u8>,
    },
    /// A float.
    Float(f64),
    /// A binary (an Elixir string is one).
    Binary(Vec<u8>),
    /// A bitstring whose last byte holds `bits` bits (1 to 8).
    BitBinary {
        /// The bytes.
        bytes: Vec<u8>,
        /// How many bits of the last byte count.
        bits: u8,
    },
    /// A proper list (`[]` when empty).
    List(Vec<Term>),
    /// An improper list: the elements, then the tail that is not `[]` (`[a | b]`).
    Improper(Vec<Term>, Box<Term>),
    /// A tuple.
    Tuple(Vec<Term>),
    /// A map, in the order it came.
    Map(Vec<(Term, Term)>),
    /// A pid.
    Pid(ErlPid),
    /// A reference.
    Ref(ErlRef),
    /// A port.
    Port(ErlPort),
    /// A fun, as its encoded bytes (from its tag on): it can be passed on, not run.
    Fun(Vec<u8>),
    /// `fun Module:Function/Arity`.
    Export {
        /// The module.
        module: Atom,
        /// The function.
        function: Atom,
        /// The arity.
        arity: u8,
    },
}

impl Term {
    /// The atom, if this is one.
    pub fn as_atom(&self) -> Option<&str> {
        match self {
            Term::Atom(a) => Some(a.as_str()),
            _ => None,
        }
    }

    /// The elements, if this is a tuple.
    pub fn as_tuple(&self) -> Option<&[Term]> {
        match self {
            Term::Tuple(t) => Some(t),
            _ => None,
        }
    }

    /// The integer, if this is one that fits 64 bits.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Term::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl fmt::Display for Term {
    /// Erlang's syntax (binaries that are text print as `<<"text">>`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn seq(f: &mut fmt::Formatter<'_>, items: &[Term]) -> fmt::Result {
            for (i, t) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{t}")?;
            }
            Ok(())
        }
        match self {
            Term::Atom(a) => write!(f, "{a}"),
            Term::Int(i) => write!(f, "{i}"),
            Term::Big {
                negative,
                magnitude,
            } => {
                // Hex keeps this simple and exact for any size.
                let sign = if *negative { "-" } else { "" };
                write!(f, "{sign}16#")?;
                for b in magnitude.iter().rev() {
                    write!(f, "{b:02X}")?;
                }
                Ok(())
            }
            Term::Float(x) => write!(f, "{x:?}"),
            Term::Binary(b) => match std::str::from_utf8(b) {
                Ok(s) if !s.chars().any(char::is_control) => write!(f, "<<{s:?}>>"),
                _ => {
                    f.write_str("<<")?;
                    for (i, byte) in b.iter().enumerate() {
                        if i > 0 {
                            f.write_str(",")?;
                        }
                        write!(f, "{byte}")?;
                    }
                    f.write_str(">>")
                }
            },
            Term::BitBinary { bytes, bits } => write!(f, "<<{} bytes:{bits} bits>>", bytes.len()),
            Term::List(items) => {
                f.write_str("[")?;
                seq(f, items)?;
                f.write_str("]")
            }
            Term::Improper(items, tail) => {
                f.write_str("[")?;
                seq(f, items)?;
                write!(f, "|{tail}]")
            }
            Term::Tuple(items) => {
                f.write_str("{")?;
                seq(f, items)?;
                f.write_str("}")
            }
            Term::Map(pairs) => {
                f.write_str("#{")?;
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{k} => {v}")?;
                }
                f.write_str("}")
            }
            Term::Pid(p) => write!(f, "<{}.{}.{}@{}>", p.creation, p.id, p.serial, p.node),
            Term::Ref(r) => {
                write!(f, "#Ref<{}", r.creation)?;
                for w in &r.ids {
                    write!(f, ".{w}")?;
                }
                write!(f, "@{}>", r.node)
            }
            Term::Port(p) => write!(f, "#Port<{}.{}@{}>", p.creation, p.id, p.node),
            Term::Fun(_) => f.write_str("#Fun<..>"),
            Term::Export {
                module,
                function,
                arity,
            } => write!(f, "fun {module}:{function}/{arity}"),
        }
    }
}

// Terms cross serde as their encoded bytes, under a name this format's serializer and
// deserializer recognise (written and read natively there; opaque bytes elsewhere).

impl serde::Serialize for Term {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut bytes = Vec::new();
        super::encode_term(self, &mut bytes).map_err(serde::ser::Error::custom)?;
        s.serialize_newtype_struct(magic::TERM, serde_bytes::Bytes::new(&bytes))
    }
}

impl<'de> serde::Deserialize<'de> for Term {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Term;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an Erlang term")
            }
            fn visit_newtype_struct<D: serde::Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<Term, D::Error> {
                let bytes: serde_bytes::ByteBuf = serde::Deserialize::deserialize(d)?;
                super::decode_term(&bytes).map_err(serde::de::Error::custom)
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Term, E> {
                super::decode_term(v).map_err(E::custom)
            }
        }
        d.deserialize_newtype_struct(magic::TERM, V)
    }
}

/// Serde for the parts of a term (an atom, a pid, a reference), through [`Term`].
macro_rules! through_term {
    ($ty:ident, $variant:ident, $what:literal) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                Term::$variant(self.clone()).serialize(s)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                match Term::deserialize(d)? {
                    Term::$variant(v) => Ok(v),
                    other => Err(serde::de::Error::custom(format!(
                        concat!("expected ", $what, ", got {}"),
                        other
                    ))),
                }
            }
        }
    };
}

through_term!(Atom, Atom, "an atom");
through_term!(ErlPid, Pid, "a pid");
through_term!(ErlRef, Ref, "a reference");
