//! Exit reasons across the boundary: locus's [`ExitReason`] as the terms BEAM processes see
//! in `:DOWN` and `:EXIT`, and back.
//!
//! | locus | Erlang term |
//! |---|---|
//! | `Normal`, `Shutdown`, `Kill`, `Killed`, `NoProc`, `NoConnection` | `normal`, `shutdown`, `kill`, `killed`, `noproc`, `noconnection` |
//! | `Error(text)` | `{error, <<"text">>}` |
//! | `Panic(text)` | `{panic, <<"text">>}` |
//!
//! | `Custom(value)` | the value's term |
//! | `ShutdownWith(detail)` | `{shutdown, Detail}` |
//!
//! From the BEAM, any other term becomes `Custom` (`:boom`, `{badarg, [...]}`,
//! `{:too_many, 3}`: printed as Erlang prints it, read back with `ExitReason::downcast`, and
//! sent back out as it came).

use crate::etf::{Atom, Term};
use crate::process::{CustomReason, ExitReason};

fn atom(name: &str) -> Term {
    match Atom::new(name) {
        Ok(a) => Term::Atom(a),
        // Every name here is a short literal.
        Err(_) => Term::List(Vec::new()),
    }
}

/// The term for `reason`.
pub(crate) fn to_term(reason: &ExitReason) -> Term {
    match reason {
        ExitReason::Normal => atom("normal"),
        ExitReason::Shutdown => atom("shutdown"),
        ExitReason::Kill => atom("kill"),
        ExitReason::Killed => atom("killed"),
        ExitReason::NoProc => atom("noproc"),
        ExitReason::NoConnection => atom("noconnection"),
        ExitReason::Error(text) => {
            Term::Tuple(vec![atom("error"), Term::Binary(text.as_bytes().to_vec())])
        }
        ExitReason::Panic(text) => {
            Term::Tuple(vec![atom("panic"), Term::Binary(text.as_bytes().to_vec())])
        }
        ExitReason::Custom(c) => custom_term(c),
        ExitReason::ShutdownWith(c) => Term::Tuple(vec![atom("shutdown"), custom_term(c)]),
    }
}

fn custom_term(c: &CustomReason) -> Term {
    crate::etf::decode_term(c.term_bytes()).unwrap_or_else(|_| atom("undefined"))
}

/// A term kept as a [`CustomReason`].
fn custom(term: &Term) -> CustomReason {
    let mut bytes = Vec::new();
    let _ = crate::etf::encode_term(term, &mut bytes);
    CustomReason::from_term_bytes(bytes)
}

/// The reason for a term from the BEAM.
pub(crate) fn from_term(term: &Term) -> ExitReason {
    let text = |t: &Term| match t {
        Term::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        other => other.to_string(),
    };
    match term {
        Term::Atom(a) => match a.as_str() {
            "normal" => ExitReason::Normal,
            "shutdown" => ExitReason::Shutdown,
            "kill" => ExitReason::Kill,
            "killed" => ExitReason::Killed,
            "noproc" => ExitReason::NoProc,
            "noconnection" => ExitReason::NoConnection,
            // `exit(:boom)`: kept as the atom, so it goes back out as it came.
            _ => ExitReason::Custom(custom(term)),
        },
        Term::Tuple(items) => match items.as_slice() {
            [Term::Atom(tag), detail] if tag.as_str() == "error" => ExitReason::Error(text(detail)),
            [Term::Atom(tag), detail] if tag.as_str() == "panic" => ExitReason::Panic(text(detail)),
            [Term::Atom(tag), detail] if tag.as_str() == "shutdown" => {
                ExitReason::ShutdownWith(custom(detail))
            }
            _ => ExitReason::Custom(custom(term)),
        },
        other => ExitReason::Custom(custom(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Restart {
        Restart,
    }

    #[test]
    fn every_reason_comes_back() {
        for r in [
            ExitReason::Normal,
            ExitReason::Shutdown,
            ExitReason::Kill,
            ExitReason::Killed,
            ExitReason::NoProc,
            ExitReason::NoConnection,
            ExitReason::Error("bad input".into()),
            ExitReason::Panic("index out of bounds".into()),
        ] {
            assert_eq!(from_term(&to_term(&r)), r);
        }
        let badarg = Term::Tuple(vec![atom("badarg"), Term::List(vec![])]);
        let r = from_term(&badarg);
        assert_eq!(r.to_string(), "{badarg,[]}");
        assert_eq!(to_term(&r), badarg);
        let restart = Term::Tuple(vec![atom("shutdown"), atom("restart")]);
        let r = from_term(&restart);
        assert!(r.is_normal());
        assert_eq!(r.downcast::<Restart>(), Some(Restart::Restart));
        assert_eq!(to_term(&r), restart);
        // Values of the application's own cross as their terms, and come back.
        let mine = ExitReason::custom(&(Restart::Restart, 3u8));
        let t = to_term(&mine);
        assert_eq!(t.to_string(), "{restart,3}");
        assert_eq!(
            from_term(&t).downcast::<(Restart, u8)>(),
            Some((Restart::Restart, 3))
        );
    }
}
