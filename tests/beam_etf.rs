//! Erlang's term format against a real `erl` (OTP 25): what `term_to_binary` writes, locus
//! decodes and encodes back byte for byte; what locus encodes, `binary_to_term` reads as the
//! term it meant. Skipped, with a message, where Erlang is not installed (`.ci/run`
//! installs erlang-nox); a failure under `LOCUS_TEST_STRICT=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use locus::etf::{self, Term};
use support::beam;

/// Terms of every kind the format has, as Erlang source, evaluated by `erl`.
const TERMS: &[&str] = &[
    "abc",
    "'héllo wörld'",
    "list_to_atom(lists:duplicate(255, $a))",
    "list_to_atom([16#1F600])",
    "0",
    "255",
    "256",
    "-1",
    "2147483647",
    "-2147483648",
    "2147483648",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "-(1 bsl 1000)",
    "(1 bsl 2100) - 1",
    "0.0",
    "-1.5",
    "1.0e300",
    "3.141592653589793",
    "<<>>",
    "<<\"hello\">>",
    "<<0, 255, 128>>",
    "<<1:3>>",
    "<<\"ab\", 5:4>>",
    "[]",
    "[1, 2, 3]",
    "\"hello\"",
    "\"héllo\"",
    "[16#1F600, 97]",
    "lists:seq(1, 70000)",
    "lists:duplicate(300, 7)",
    "[a | b]",
    "[1, [2, [3, []]] | 4]",
    "{}",
    "{a, b}",
    "list_to_tuple(lists:seq(1, 300))",
    "#{}",
    "#{a => 1, <<\"b\">> => [2], {c} => #{d => 3.5}}",
    "maps:from_list([{K, K * K} || K <- lists:seq(1, 40)])",
    "#{'__struct__' => 'Elixir.URI', host => <<\"h\">>, port => 80}",
    "self()",
    "make_ref()",
    "hd(erlang:ports())",
    "fun lists:map/2",
    "fun() -> ok end",
    "fun(X) -> {X, self()} end",
    "{ok, [{1, <<\"x\">>}, #{[] => {}}], -77, 'Elixir.Foo'}",
];

fn erl_hex(expr: &str) -> String {
    format!(
        "io:format(\"~s~n\", [binary:encode_hex(term_to_binary({expr}, [{{minor_version, 2}}]))])"
    )
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

#[test]
fn what_erl_writes_decodes_and_encodes_back_byte_for_byte() {
    let Some(erl) = beam::erl() else { return };
    let script: Vec<String> = TERMS.iter().map(|t| erl_hex(t)).collect();
    let out = beam::eval(&erl, &script.join(", "));
    let lines: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), TERMS.len(), "erl printed {out}");
    for (expr, line) in TERMS.iter().zip(lines) {
        let bytes = unhex(line.trim());
        let term = etf::decode(&bytes).unwrap_or_else(|e| panic!("{expr}: {e}"));
        let again = etf::encode(&term).unwrap_or_else(|e| panic!("{expr}: {e}"));
        assert_eq!(
            hex(&again),
            hex(&bytes),
            "{expr} ({term}) encoded differently"
        );
        // Through serde as a Term, too.
        assert_eq!(etf::to_vec(&term).unwrap(), bytes, "{expr} through serde");
        assert_eq!(etf::from_slice::<Term>(&bytes).unwrap(), term, "{expr}");
    }
}

#[test]
fn what_locus_writes_erl_reads_as_the_term_it_meant() {
    let Some(erl) = beam::erl() else { return };
    #[derive(serde::Serialize)]
    #[serde(rename_all = "snake_case")]
    enum Shape {
        Point,
        Circle(f64),
        Rect(i32, i32),
        Named { name: String, sides: u8 },
    }
    #[derive(serde::Serialize)]
    struct Everything {
        text: String,
        big: u128,
        neg: i64,
        maybe: Option<u8>,
        nothing: Option<u8>,
        shapes: Vec<Shape>,
        pair: (bool, ()),
        #[serde(with = "serde_bytes")]
        blob: Vec<u8>,
    }
    let value = Everything {
        text: "héllo".into(),
        big: u128::MAX,
        neg: -(1 << 40),
        maybe: Some(7),
        nothing: None,
        shapes: vec![
            Shape::Point,
            Shape::Circle(2.5),
            Shape::Rect(-1, 2),
            Shape::Named {
                name: "tri".into(),
                sides: 3,
            },
        ],
        pair: (true, ()),
        blob: vec![0, 1, 255],
    };
    let expected = "#{text => <<\"héllo\"/utf8>>, big => 340282366920938463463374607431768211455, \
        neg => -1099511627776, maybe => 7, nothing => nil, \
        shapes => [point, {circle, 2.5}, {rect, -1, 2}, {named, #{name => <<\"tri\">>, sides => 3}}], \
        pair => {true, ok}, blob => <<0, 1, 255>>}";
    let bytes = etf::to_vec(&value).unwrap();
    let script = format!(
        "T = binary_to_term(binary:decode_hex(<<\"{}\">>)), io:format(\"~p~n\", [T =:= ({expected})])",
        hex(&bytes)
    );
    assert_eq!(beam::eval(&erl, &script).trim(), "true");
}
