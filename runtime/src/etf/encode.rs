//! Terms to bytes, in the forms `term_to_binary(T, [{minor_version, 2}])` writes (OTP 26's
//! default): UTF-8 atoms, `NEW_FLOAT`, small integers and strings where they fit.

use super::term::{ErlPid, ErlRef, Term};
use super::{EtfError, VERSION, invalid, tag};

/// Encodes `term` with the version byte 131.
///
/// # Errors
///
/// [`EtfError::Invalid`] for a term no decoder accepts (a float that is not finite, a
/// reference of no or more than 5 words, a bitstring of no bytes).
pub fn encode(term: &Term) -> Result<Vec<u8>, EtfError> {
    let mut out = vec![VERSION];
    encode_term(term, &mut out)?;
    Ok(out)
}

/// Appends `term` (no version byte) to `out`; on an error `out` may hold part of it.
pub(crate) fn encode_term(term: &Term, out: &mut Vec<u8>) -> Result<(), EtfError> {
    match term {
        Term::Atom(a) => atom(out, a.as_str()),
        Term::Int(i) => int(out, *i),
        Term::Big {
            negative,
            magnitude,
        } => big(out, *negative, magnitude),
        Term::Float(x) => float(out, *x)?,
        Term::Binary(b) => binary(out, b),
        Term::BitBinary { bytes, bits } => {
            if bytes.is_empty() || !(1..=8).contains(bits) {
                return Err(invalid("a bitstring's last byte holds 1 to 8 bits"));
            }
            out.push(tag::BIT_BINARY);
            out.extend_from_slice(&len32(bytes.len())?.to_be_bytes());
            out.push(*bits);
            out.extend_from_slice(bytes);
        }
        Term::List(items) => {
            if let Some(bytes) = as_string(items) {
                out.push(tag::STRING);
                out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
                out.extend_from_slice(&bytes);
            } else if items.is_empty() {
                out.push(tag::NIL);
            } else {
                list_header(out, items.len())?;
                for t in items {
                    encode_term(t, out)?;
                }
                out.push(tag::NIL);
            }
        }
        Term::Improper(items, tail) => {
            list_header(out, items.len())?;
            for t in items {
                encode_term(t, out)?;
            }
            encode_term(tail, out)?;
        }
        Term::Tuple(items) => {
            tuple_header(out, items.len())?;
            for t in items {
                encode_term(t, out)?;
            }
        }
        Term::Map(pairs) => {
            out.push(tag::MAP);
            out.extend_from_slice(&len32(pairs.len())?.to_be_bytes());
            for (k, v) in pairs {
                encode_term(k, out)?;
                encode_term(v, out)?;
            }
        }
        Term::Pid(p) => pid(out, p),
        Term::Ref(r) => reference(out, r)?,
        Term::Port(p) => {
            match u32::try_from(p.id) {
                Ok(id) => {
                    out.push(tag::NEW_PORT);
                    atom(out, p.node.as_str());
                    out.extend_from_slice(&id.to_be_bytes());
                }
                Err(_) => {
                    out.push(tag::V4_PORT);
                    atom(out, p.node.as_str());
                    out.extend_from_slice(&p.id.to_be_bytes());
                }
            }
            out.extend_from_slice(&p.creation.to_be_bytes());
        }
        Term::Fun(raw) => out.extend_from_slice(raw),
        Term::Export {
            module,
            function,
            arity,
        } => {
            out.push(tag::EXPORT);
            atom(out, module.as_str());
            atom(out, function.as_str());
            out.push(tag::SMALL_INTEGER);
            out.push(*arity);
        }
    }
    Ok(())
}

/// The bytes of a list that `term_to_binary` writes as a string: 1 to 65535 integers of
/// 0 to 255.
fn as_string(items: &[Term]) -> Option<Vec<u8>> {
    if items.is_empty() || items.len() > usize::from(u16::MAX) {
        return None;
    }
    items
        .iter()
        .map(|t| match t {
            Term::Int(i) => u8::try_from(*i).ok(),
            _ => None,
        })
        .collect()
}

fn len32(n: usize) -> Result<u32, EtfError> {
    u32::try_from(n).map_err(|_| invalid("more than 2^32 - 1 elements"))
}

pub(crate) fn atom(out: &mut Vec<u8>, name: &str) {
    // Atoms are at most 255 characters, so at most 1020 bytes: a u16 holds any length.
    if let Ok(n) = u8::try_from(name.len()) {
        out.push(tag::SMALL_ATOM_UTF8);
        out.push(n);
    } else {
        out.push(tag::ATOM_UTF8);
        out.extend_from_slice(&(name.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
    }
    out.extend_from_slice(name.as_bytes());
}

pub(crate) fn int(out: &mut Vec<u8>, i: i64) {
    if let Ok(b) = u8::try_from(i) {
        out.push(tag::SMALL_INTEGER);
        out.push(b);
    } else if let Ok(v) = i32::try_from(i) {
        out.push(tag::INTEGER);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        let negative = i < 0;
        let m = i.unsigned_abs().to_le_bytes();
        big(out, negative, &m);
    }
}

/// An integer of any size in 128 bits.
pub(crate) fn int128(out: &mut Vec<u8>, negative: bool, magnitude: u128) {
    match i64::try_from(magnitude) {
        Ok(m) if !negative => int(out, m),
        Ok(m) => int(out, -m),
        Err(_) if negative && magnitude == 1u128 << 63 => int(out, i64::MIN),
        Err(_) => big(out, negative, &magnitude.to_le_bytes()),
    }
}

pub(crate) fn big(out: &mut Vec<u8>, negative: bool, magnitude: &[u8]) {
    let n = magnitude.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let digits = &magnitude[..n];
    if let Ok(small) = u8::try_from(n) {
        out.push(tag::SMALL_BIG);
        out.push(small);
    } else {
        out.push(tag::LARGE_BIG);
        out.extend_from_slice(&(n.min(u32::MAX as usize) as u32).to_be_bytes());
    }
    out.push(u8::from(negative));
    out.extend_from_slice(digits);
}

pub(crate) fn float(out: &mut Vec<u8>, x: f64) -> Result<(), EtfError> {
    if !x.is_finite() {
        return Err(invalid(format!(
            "{x} has no Erlang form: floats are finite"
        )));
    }
    out.push(tag::NEW_FLOAT);
    out.extend_from_slice(&x.to_bits().to_be_bytes());
    Ok(())
}

pub(crate) fn binary(out: &mut Vec<u8>, b: &[u8]) {
    out.push(tag::BINARY);
    out.extend_from_slice(&(b.len().min(u32::MAX as usize) as u32).to_be_bytes());
    out.extend_from_slice(b);
}

pub(crate) fn list_header(out: &mut Vec<u8>, n: usize) -> Result<(), EtfError> {
    out.push(tag::LIST);
    out.extend_from_slice(&len32(n)?.to_be_bytes());
    Ok(())
}

pub(crate) fn tuple_header(out: &mut Vec<u8>, n: usize) -> Result<(), EtfError> {
    if let Ok(small) = u8::try_from(n) {
        out.push(tag::SMALL_TUPLE);
        out.push(small);
    } else {
        out.push(tag::LARGE_TUPLE);
        out.extend_from_slice(&len32(n)?.to_be_bytes());
    }
    Ok(())
}

pub(crate) fn pid(out: &mut Vec<u8>, p: &ErlPid) {
    pid_parts(out, p.node.as_str(), p.id, p.serial, p.creation);
}

/// A pid from its parts (no atom built for the node).
pub(crate) fn pid_parts(out: &mut Vec<u8>, node: &str, id: u32, serial: u32, creation: u32) {
    out.push(tag::NEW_PID);
    atom(out, node);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&serial.to_be_bytes());
    out.extend_from_slice(&creation.to_be_bytes());
}

/// A reference of 1 to 5 words from its parts.
pub(crate) fn reference_parts(out: &mut Vec<u8>, node: &str, creation: u32, ids: &[u32]) {
    out.push(tag::NEWER_REFERENCE);
    out.extend_from_slice(&(ids.len().min(5) as u16).to_be_bytes());
    atom(out, node);
    out.extend_from_slice(&creation.to_be_bytes());
    for w in ids.iter().take(5) {
        out.extend_from_slice(&w.to_be_bytes());
    }
}

pub(crate) fn reference(out: &mut Vec<u8>, r: &ErlRef) -> Result<(), EtfError> {
    if r.ids.is_empty() || r.ids.len() > 5 {
        return Err(invalid("a reference has 1 to 5 words"));
    }
    out.push(tag::NEWER_REFERENCE);
    out.extend_from_slice(&(r.ids.len() as u16).to_be_bytes());
    atom(out, r.node.as_str());
    out.extend_from_slice(&r.creation.to_be_bytes());
    for w in &r.ids {
        out.extend_from_slice(&w.to_be_bytes());
    }
    Ok(())
}

/// A term's canonical encoding, for comparing keys whatever form a peer wrote them in.
pub(crate) fn canonical(term: &Term) -> Vec<u8> {
    let mut out = Vec::new();
    // A term that was decoded always encodes.
    let _ = encode_term(term, &mut out);
    out
}
