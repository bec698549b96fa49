//! Exit reasons across the boundary: locus's [`ExitReason`] as the terms BEAM processes see
//! in `:DOWN` and `:EXIT`, and back.
//!
//! | locus | Erlang term |
//! |---|---|
//! | `Normal`, `Shutdown`, `Kill`, `Killed`, `NoProc`, `NoConnection` | `normal`, `shutdown`, `kill`, `killed`, `noproc`, `noconnection` |
//! | `Error(text)` | `{error, <<"text">>}` |
//! | `Panic(text)` | `{panic, <<"text">>}` |
//!
//! A term from the BEAM that is none of these becomes `Error` with the term as Erlang
//! prints it (`{shutdown, restart}`, `{badarg, [...]}`), and `{shutdown, _}` is `Shutdown`.

use crate::etf::{Atom, Term};
use crate::process::ExitReason;

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
    }
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
            other => ExitReason::Error(other.to_owned()),
        },
        Term::Tuple(items) => match items.as_slice() {
            [Term::Atom(tag), detail] if tag.as_str() == "error" => ExitReason::Error(text(detail)),
            [Term::Atom(tag), detail] if tag.as_str() == "panic" => ExitReason::Panic(text(detail)),
            [Term::Atom(tag), _] if tag.as_str() == "shutdown" => ExitReason::Shutdown,
            _ => ExitReason::Error(term.to_string()),
        },
        other => ExitReason::Error(text(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(from_term(&badarg), ExitReason::Error("{badarg,[]}".into()));
        let restart = Term::Tuple(vec![atom("shutdown"), atom("restart")]);
        assert_eq!(from_term(&restart), ExitReason::Shutdown);
    }
}
