//! The EPMD wire protocol (`erl_dist_protocol.md`), as pure functions over bytes: requests
//! are `u16` length-prefixed, replies are not, all integers are big-endian.
//!
//! Only what locus uses is here: ALIVE2 (register), PORT_PLEASE2 (look up) and NAMES (list).

use std::fmt;

pub(crate) const ALIVE2_REQ: u8 = 120;
pub(crate) const ALIVE2_X_RESP: u8 = 118;
pub(crate) const ALIVE2_RESP: u8 = 121;
pub(crate) const PORT_PLEASE2_REQ: u8 = 122;
pub(crate) const PORT2_RESP: u8 = 119;
pub(crate) const NAMES_REQ: u8 = 110;

/// A normal (visible) node, and a hidden one.
pub(crate) const NODE_TYPE_NORMAL: u8 = 77;
pub(crate) const NODE_TYPE_HIDDEN: u8 = 72;
/// TCP over IPv4 (the only protocol value EPMD defines).
pub(crate) const PROTOCOL_TCP: u8 = 0;
/// Distribution protocol version advertised, as OTP 25+.
pub(crate) const DIST_VERSION: u16 = 6;

/// The longest name EPMD accepts.
pub(crate) const MAX_NAME: usize = 255;
/// The longest request this implementation reads.
pub(crate) const MAX_REQUEST: usize = 1024;

/// A node's registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Registration {
    pub(crate) name: String,
    pub(crate) port: u16,
    pub(crate) node_type: u8,
    pub(crate) protocol: u8,
    pub(crate) highest: u16,
    pub(crate) lowest: u16,
    pub(crate) extra: Vec<u8>,
}

impl Registration {
    pub(crate) fn new(name: &str, port: u16, hidden: bool) -> Self {
        Self {
            name: name.to_owned(),
            port,
            node_type: if hidden {
                NODE_TYPE_HIDDEN
            } else {
                NODE_TYPE_NORMAL
            },
            protocol: PROTOCOL_TCP,
            highest: DIST_VERSION,
            lowest: DIST_VERSION,
            extra: b"locus".to_vec(),
        }
    }
}

/// A request a client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    Alive2(Registration),
    PortPlease2(String),
    Names,
}

/// Why bytes are not a valid EPMD message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProtoError {
    /// More bytes are needed.
    Incomplete,
    /// The bytes are not a message this implementation understands.
    Invalid(&'static str),
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtoError::Incomplete => f.write_str("incomplete message"),
            ProtoError::Invalid(why) => write!(f, "invalid EPMD message: {why}"),
        }
    }
}

/// Reads big-endian fields from a slice, failing with `Incomplete` at its end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Result<u8, ProtoError> {
        let (&b, rest) = self.0.split_first().ok_or(ProtoError::Incomplete)?;
        self.0 = rest;
        Ok(b)
    }

    fn u16(&mut self) -> Result<u16, ProtoError> {
        Ok(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }

    fn u32(&mut self) -> Result<u32, ProtoError> {
        Ok(u32::from_be_bytes([
            self.u8()?,
            self.u8()?,
            self.u8()?,
            self.u8()?,
        ]))
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        if self.0.len() < n {
            return Err(ProtoError::Incomplete);
        }
        let (b, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(b)
    }
}

fn name_from(bytes: &[u8]) -> Result<String, ProtoError> {
    if bytes.is_empty() || bytes.len() > MAX_NAME {
        return Err(ProtoError::Invalid("name length"));
    }
    let name =
        String::from_utf8(bytes.to_vec()).map_err(|_| ProtoError::Invalid("name is not UTF-8"))?;
    // Names end up in the line-oriented NAMES reply: no control characters or spaces.
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ProtoError::Invalid("name has spaces or control characters"));
    }
    Ok(name)
}

fn put_registration_fields(out: &mut Vec<u8>, r: &Registration) {
    out.extend_from_slice(&r.port.to_be_bytes());
    out.push(r.node_type);
    out.push(r.protocol);
    out.extend_from_slice(&r.highest.to_be_bytes());
    out.extend_from_slice(&r.lowest.to_be_bytes());
    out.extend_from_slice(&(r.name.len() as u16).to_be_bytes());
    out.extend_from_slice(r.name.as_bytes());
    out.extend_from_slice(&(r.extra.len() as u16).to_be_bytes());
    out.extend_from_slice(&r.extra);
}

fn read_registration_fields(rd: &mut Reader<'_>) -> Result<Registration, ProtoError> {
    let port = rd.u16()?;
    let node_type = rd.u8()?;
    let protocol = rd.u8()?;
    let highest = rd.u16()?;
    let lowest = rd.u16()?;
    let nlen = rd.u16()? as usize;
    let name = name_from(rd.bytes(nlen)?)?;
    let elen = rd.u16()? as usize;
    let extra = rd.bytes(elen)?.to_vec();
    Ok(Registration {
        name,
        port,
        node_type,
        protocol,
        highest,
        lowest,
        extra,
    })
}

impl Request {
    /// The request as sent: `u16` length, then the body.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        match self {
            Request::Alive2(r) => {
                body.push(ALIVE2_REQ);
                put_registration_fields(&mut body, r);
            }
            Request::PortPlease2(name) => {
                body.push(PORT_PLEASE2_REQ);
                body.extend_from_slice(name.as_bytes());
            }
            Request::Names => body.push(NAMES_REQ),
        }
        let mut out = Vec::with_capacity(body.len() + 2);
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Parses one length-prefixed request; returns it and the bytes it used.
    pub(crate) fn decode(buf: &[u8]) -> Result<(Request, usize), ProtoError> {
        let mut rd = Reader(buf);
        let len = rd.u16()? as usize;
        if len == 0 || len > MAX_REQUEST {
            return Err(ProtoError::Invalid("request length"));
        }
        let body = rd.bytes(len)?;
        let mut rd = Reader(body);
        let req = match rd.u8()? {
            ALIVE2_REQ => {
                let r = read_registration_fields(&mut rd).map_err(|e| match e {
                    ProtoError::Incomplete => ProtoError::Invalid("truncated ALIVE2_REQ"),
                    other => other,
                })?;
                Request::Alive2(r)
            }
            PORT_PLEASE2_REQ => Request::PortPlease2(name_from(rd.0)?),
            NAMES_REQ => Request::Names,
            _ => return Err(ProtoError::Invalid("unknown request")),
        };
        Ok((req, 2 + len))
    }
}

/// ALIVE2_X_RESP.
pub(crate) fn encode_alive2_resp(result: u8, creation: u32) -> Vec<u8> {
    let mut out = vec![ALIVE2_X_RESP, result];
    out.extend_from_slice(&creation.to_be_bytes());
    out
}

/// Parses ALIVE2_X_RESP (or the older ALIVE2_RESP): `(result, creation)`.
pub(crate) fn decode_alive2_resp(buf: &[u8]) -> Result<(u8, u32), ProtoError> {
    let mut rd = Reader(buf);
    match rd.u8()? {
        ALIVE2_X_RESP => Ok((rd.u8()?, rd.u32()?)),
        ALIVE2_RESP => Ok((rd.u8()?, u32::from(rd.u16()?))),
        _ => Err(ProtoError::Invalid("not an ALIVE2 response")),
    }
}

/// PORT2_RESP for a found node, or the one-byte error form.
pub(crate) fn encode_port2_resp(found: Option<&Registration>) -> Vec<u8> {
    match found {
        Some(r) => {
            let mut out = vec![PORT2_RESP, 0];
            put_registration_fields(&mut out, r);
            out
        }
        None => vec![PORT2_RESP, 1],
    }
}

/// Parses PORT2_RESP: the registration, or `None` if the node is not registered.
pub(crate) fn decode_port2_resp(buf: &[u8]) -> Result<Option<Registration>, ProtoError> {
    let mut rd = Reader(buf);
    if rd.u8()? != PORT2_RESP {
        return Err(ProtoError::Invalid("not a PORT2 response"));
    }
    if rd.u8()? != 0 {
        return Ok(None);
    }
    read_registration_fields(&mut rd).map(Some)
}

/// The NAMES reply: EPMD's port, then `name N at port P` lines.
pub(crate) fn encode_names_resp(epmd_port: u16, names: &[(String, u16)]) -> Vec<u8> {
    let mut out = u32::from(epmd_port).to_be_bytes().to_vec();
    for (name, port) in names {
        out.extend_from_slice(format!("name {name} at port {port}\n").as_bytes());
    }
    out
}

/// Parses a complete NAMES reply into `(name, port)` pairs.
pub(crate) fn decode_names_resp(buf: &[u8]) -> Result<Vec<(String, u16)>, ProtoError> {
    let mut rd = Reader(buf);
    let _epmd_port = rd.u32()?;
    let text = std::str::from_utf8(rd.0).map_err(|_| ProtoError::Invalid("names are not UTF-8"))?;
    let mut out = Vec::new();
    for line in text.lines() {
        // "name NAME at port PORT"
        let Some(rest) = line.strip_prefix("name ") else {
            continue;
        };
        let Some((name, port)) = rest.rsplit_once(" at port ") else {
            continue;
        };
        if let Ok(port) = port.trim().parse() {
            out.push((name.to_owned(), port));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        for req in [
            Request::Alive2(Registration::new("n1", 9100, false)),
            Request::Alive2(Registration::new("h", 1, true)),
            Request::PortPlease2("n1".into()),
            Request::Names,
        ] {
            let bytes = req.encode();
            let (back, used) = Request::decode(&bytes).unwrap();
            assert_eq!(back, req);
            assert_eq!(used, bytes.len());
        }
    }

    #[test]
    fn alive2_matches_the_documented_layout() {
        let bytes = Request::Alive2(Registration::new("ab", 0x1234, false)).encode();
        // len, 120, port, 77, 0, 6, 6, nlen, "ab", elen, "locus"
        let mut want = vec![
            0, 20, 120, 0x12, 0x34, 77, 0, 0, 6, 0, 6, 0, 2, b'a', b'b', 0, 5,
        ];
        want.extend_from_slice(b"locus");
        assert_eq!(bytes, want);
    }

    #[test]
    fn truncated_and_garbage_requests_are_told_apart() {
        let bytes = Request::PortPlease2("n1".into()).encode();
        assert_eq!(Request::decode(&bytes[..3]), Err(ProtoError::Incomplete));
        assert!(matches!(
            Request::decode(&[0, 1, 99]),
            Err(ProtoError::Invalid(_))
        ));
        assert!(matches!(
            Request::decode(&[0, 0]),
            Err(ProtoError::Invalid(_))
        ));
        assert!(matches!(
            Request::decode(&[0xff, 0xff]),
            Err(ProtoError::Invalid(_))
        ));
        assert!(matches!(
            Request::decode(&[0, 3, 120, 0, 1]),
            Err(ProtoError::Invalid(_))
        ));
        let forged = Request::PortPlease2("a\nname evil at port 1".into()).encode();
        assert!(matches!(
            Request::decode(&forged),
            Err(ProtoError::Invalid(_))
        ));
    }

    #[test]
    fn replies_round_trip() {
        assert_eq!(
            decode_alive2_resp(&encode_alive2_resp(0, 77)).unwrap(),
            (0, 77)
        );
        assert_eq!(decode_alive2_resp(&[121, 0, 0, 3]).unwrap(), (0, 3));
        let r = Registration::new("n1", 4000, false);
        assert_eq!(
            decode_port2_resp(&encode_port2_resp(Some(&r))).unwrap(),
            Some(r)
        );
        assert_eq!(decode_port2_resp(&encode_port2_resp(None)).unwrap(), None);
        let names = vec![("a".to_string(), 1u16), ("b-2".to_string(), 65535)];
        assert_eq!(
            decode_names_resp(&encode_names_resp(4369, &names)).unwrap(),
            names
        );
    }

    #[test]
    fn names_text_is_what_epmd_prints() {
        let bytes = encode_names_resp(4369, &[("test2".into(), 52487)]);
        assert_eq!(&bytes[4..], b"name test2 at port 52487\n");
    }

    proptest::proptest! {
        #[test]
        fn registrations_round_trip(
            name in "[a-zA-Z0-9_-]{1,200}",
            port in 1u16..,
            hidden in proptest::prelude::any::<bool>(),
        ) {
            let req = Request::Alive2(Registration::new(&name, port, hidden));
            let bytes = req.encode();
            proptest::prop_assert_eq!(Request::decode(&bytes).unwrap(), (req, bytes.len()));
            let names = vec![(name.clone(), port)];
            proptest::prop_assert_eq!(decode_names_resp(&encode_names_resp(4369, &names)).unwrap(), names);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            crate::fuzzing::epmd(&bytes);
        }
    }
}
