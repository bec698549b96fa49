//! The codec against hand-written bytes (as `term_to_binary` writes them), its limits
//! against hostile bytes, and round trips of generated terms and Rust values.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use super::*;

fn atom(s: &str) -> Term {
    Term::Atom(Atom::new(s).unwrap())
}

#[test]
fn known_encodings_decode_and_encode_back() {
    // Each is term_to_binary(T, [{minor_version, 2}]) from OTP 25.
    let cases: Vec<(Term, Vec<u8>)> = vec![
        (atom("abc"), vec![131, 119, 3, 97, 98, 99]),
        (Term::Int(1), vec![131, 97, 1]),
        (Term::Int(-1), vec![131, 98, 255, 255, 255, 255]),
        (Term::Int(1 << 40), vec![131, 110, 6, 0, 0, 0, 0, 0, 0, 1]),
        (
            Term::List(vec![Term::Int(97), Term::Int(98)]),
            vec![131, 107, 0, 2, 97, 98],
        ),
        (Term::List(vec![]), vec![131, 106]),
        (
            Term::Tuple(vec![Term::Int(1), Term::List(vec![atom("a")])]),
            vec![131, 104, 2, 97, 1, 108, 0, 0, 0, 1, 119, 1, 97, 106],
        ),
        (
            Term::Binary(b"hi".to_vec()),
            vec![131, 109, 0, 0, 0, 2, 104, 105],
        ),
        (
            Term::Improper(vec![Term::Int(1)], Box::new(Term::Int(2))),
            vec![131, 108, 0, 0, 0, 1, 97, 1, 97, 2],
        ),
        (
            Term::Map(vec![(atom("a"), Term::Int(1))]),
            vec![131, 116, 0, 0, 0, 1, 119, 1, 97, 97, 1],
        ),
    ];
    for (term, bytes) in cases {
        assert_eq!(decode(&bytes).unwrap(), term, "{bytes:?}");
        assert_eq!(encode(&term).unwrap(), bytes, "{term}");
    }
}

#[test]
fn latin1_atoms_and_old_floats_are_read() {
    // term_to_binary(abc) in OTP 25's default form; a float as text (minor_version 0).
    assert_eq!(decode(&[131, 100, 0, 3, 97, 98, 99]).unwrap(), atom("abc"));
    let mut text = b"1.50000000000000000000e+00".to_vec();
    text.resize(31, 0);
    let mut bytes = vec![131, 99];
    bytes.extend_from_slice(&text);
    assert_eq!(decode(&bytes).unwrap(), Term::Float(1.5));
    // é in Latin-1.
    assert_eq!(decode(&[131, 115, 1, 0xe9]).unwrap(), atom("é"));
}

#[test]
fn pids_refs_ports_funs_and_exports_come_back_as_they_came() {
    let pid = Term::Pid(ErlPid {
        node: Atom::new("a@h").unwrap(),
        id: 5,
        serial: 7,
        creation: 3,
    });
    let r = Term::Ref(ErlRef {
        node: Atom::new("a@h").unwrap(),
        creation: 3,
        ids: vec![1, 2, 3],
    });
    let port = Term::Port(ErlPort {
        node: Atom::new("a@h").unwrap(),
        id: 9,
        creation: 3,
    });
    let export = Term::Export {
        module: Atom::new("lists").unwrap(),
        function: Atom::new("map").unwrap(),
        arity: 2,
    };
    for t in [pid, r, port, export] {
        assert_eq!(decode(&encode(&t).unwrap()).unwrap(), t);
    }
    // A fun is kept as its bytes.
    let fun = [131, 112, 0, 0, 0, 8, 1, 2, 3, 4];
    let t = decode(&fun).unwrap();
    assert!(matches!(t, Term::Fun(_)));
    assert_eq!(encode(&t).unwrap(), fun);
}

#[test]
fn bignums_fold_to_int_when_they_fit() {
    assert_eq!(
        decode(&[131, 110, 8, 1, 0, 0, 0, 0, 0, 0, 0, 128]).unwrap(),
        Term::Int(i64::MIN)
    );
    let big = Term::Big {
        negative: false,
        magnitude: vec![0, 0, 0, 0, 0, 0, 0, 0, 1],
    };
    assert_eq!(decode(&encode(&big).unwrap()).unwrap(), big);
}

/// Every decode of hostile bytes is an error, never a panic or a large allocation.
#[test]
fn hostile_bytes_are_refused() {
    let refused: Vec<(&str, Vec<u8>)> = vec![
        (
            "list count of 2^32-1",
            vec![131, 108, 255, 255, 255, 255, 106],
        ),
        ("tuple count of 2^32-1", vec![131, 105, 255, 255, 255, 255]),
        ("map count of 2^32-1", vec![131, 116, 255, 255, 255, 255]),
        (
            "binary longer than the bytes",
            vec![131, 109, 255, 255, 255, 255, 1],
        ),
        ("a reference of 6 words", {
            let mut b = vec![131, 90, 0, 6, 119, 1, 97, 0, 0, 0, 1];
            b.extend_from_slice(&[0; 24]);
            b
        }),
        ("LOCAL_EXT", vec![131, 121, 1, 2, 3]),
        ("an atom cache reference", vec![131, 82, 0]),
        ("an atom of 256 characters", {
            let mut b = vec![131, 118, 1, 0];
            b.extend_from_slice(&[b'a'; 256]);
            b
        }),
        ("an atom that is not UTF-8", vec![131, 119, 2, 0xff, 0xfe]),
        ("trailing bytes", vec![131, 97, 1, 0]),
        (
            "duplicate map keys",
            vec![131, 116, 0, 0, 0, 2, 97, 1, 97, 1, 97, 1, 97, 2],
        ),
        (
            "duplicate keys written in two forms",
            vec![131, 116, 0, 0, 0, 2, 97, 1, 97, 1, 98, 0, 0, 0, 1, 97, 2],
        ),
        ("a fun whose size is too small", vec![131, 112, 0, 0, 0, 1]),
        ("a fun longer than the bytes", vec![131, 112, 0, 0, 1, 0, 1]),
        ("a bignum of 100 kB", {
            let mut b = vec![131, 111, 0, 1, 134, 160, 0];
            b.extend_from_slice(&[1; 100_000]);
            b
        }),
        ("a NaN", vec![131, 70, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0]),
        ("an unknown tag", vec![131, 200]),
        ("no version", vec![97, 1]),
        ("nothing", vec![]),
    ];
    for (what, bytes) in refused {
        assert!(decode(&bytes).is_err(), "{what} was accepted");
        assert!(
            from_slice::<Term>(&bytes).is_err(),
            "{what} was accepted by serde"
        );
    }
}

#[test]
fn nesting_is_bounded() {
    // [[[[...]]]] a million deep: refused at MAX_DEPTH, without recursing further.
    let mut bytes = vec![131];
    for _ in 0..1_000_000 {
        bytes.extend_from_slice(&[108, 0, 0, 0, 1]);
    }
    bytes.push(106);
    assert!(decode(&bytes).is_err());
    assert!(from_slice::<Term>(&bytes).is_err());
    assert!(from_slice::<Vec<Vec<u8>>>(&bytes).is_err());
    // At the limit it decodes.
    let mut ok = vec![131];
    for _ in 0..MAX_DEPTH - 1 {
        ok.extend_from_slice(&[108, 0, 0, 0, 1]);
    }
    ok.extend(std::iter::repeat_n(106, MAX_DEPTH));
    assert!(decode(&ok).is_ok());
}

#[test]
fn compressed_terms_inflate_to_exactly_what_they_declare() {
    use std::io::Write;
    let inner = encode(&Term::Binary(vec![7; 1000])).unwrap();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&inner[1..]).unwrap();
    let packed = z.finish().unwrap();
    let framed = |declared: u32| {
        let mut b = vec![131, 80];
        b.extend_from_slice(&declared.to_be_bytes());
        b.extend_from_slice(&packed);
        b
    };
    let size = (inner.len() - 1) as u32;
    assert_eq!(decode(&framed(size)).unwrap(), Term::Binary(vec![7; 1000]));
    // A bomb that claims less than it inflates to, or more than the cap.
    assert!(decode(&framed(size - 1)).is_err());
    assert!(decode(&framed(size + 1)).is_err());
    assert!(decode(&framed(u32::MAX)).is_err());
}

#[test]
fn truncation_at_every_offset_is_an_error() {
    let t = Term::Tuple(vec![
        atom("hello"),
        Term::List(vec![Term::Int(1 << 40), Term::Float(2.5)]),
        Term::Map(vec![(Term::Binary(b"k".to_vec()), Term::Int(-7))]),
    ]);
    let bytes = encode(&t).unwrap();
    for cut in 0..bytes.len() {
        assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        assert!(from_slice::<Term>(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    assert_eq!(decode(&bytes).unwrap(), t);
}

#[test]
fn a_hundred_thousand_distinct_atoms_decode_with_no_table_to_fill() {
    // Distinct atoms from a peer: each lives in its term only (Atom is an Arc<str>; there
    // is no atom table to fill, as the BEAM's is).
    let mut bytes = vec![131, 108];
    bytes.extend_from_slice(&100_000u32.to_be_bytes());
    for i in 0..100_000u32 {
        let name = format!("a{i}");
        bytes.push(119);
        bytes.push(name.len() as u8);
        bytes.extend_from_slice(name.as_bytes());
    }
    bytes.push(106);
    let t = decode(&bytes).unwrap();
    drop(t);
    assert!(decode(&bytes).is_ok());
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Shape {
    Point,
    Circle(f64),
    Rect(i32, i32),
    Named { name: String, sides: u8 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Everything {
    flag: bool,
    small: u8,
    neg: i64,
    huge: u128,
    ratio: f64,
    letter: char,
    text: String,
    #[serde(with = "serde_bytes")]
    blob: Vec<u8>,
    list: Vec<u16>,
    maybe: Option<String>,
    nothing: Option<u32>,
    pair: (u8, String),
    shapes: Vec<Shape>,
    map: BTreeMap<String, i32>,
    unit: (),
    term: Term,
}

fn everything() -> Everything {
    Everything {
        flag: true,
        small: 200,
        neg: -5_000_000_000,
        huge: u128::MAX,
        ratio: 0.25,
        letter: 'é',
        text: "héllo".into(),
        blob: vec![0, 1, 255],
        list: vec![1, 300, 65535],
        maybe: Some("x".into()),
        nothing: None,
        pair: (7, "seven".into()),
        shapes: vec![
            Shape::Point,
            Shape::Circle(1.5),
            Shape::Rect(-2, 3),
            Shape::Named {
                name: "tri".into(),
                sides: 3,
            },
        ],
        map: [("a".to_owned(), 1), ("b".to_owned(), -2)].into(),
        unit: (),
        term: Term::Tuple(vec![
            atom("ok"),
            Term::Ref(ErlRef {
                node: Atom::new("n@h").unwrap(),
                creation: 1,
                ids: vec![1, 2, 3],
            }),
        ]),
    }
}

#[test]
fn rust_values_round_trip_in_the_elixir_mapping() {
    let v = everything();
    let bytes = to_vec(&v).unwrap();
    assert_eq!(from_slice::<Everything>(&bytes).unwrap(), v);
    // And as Elixir sees it: a map with atom keys, variants as atoms and tagged tuples.
    let Term::Map(pairs) = decode(&bytes).unwrap() else {
        panic!("a struct is a map")
    };
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key.as_atom() == Some(k))
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(get("text"), Term::Binary("héllo".as_bytes().to_vec()));
    assert_eq!(get("nothing"), atom("nil"));
    assert_eq!(get("unit"), atom("ok"));
    assert_eq!(
        get("shapes"),
        Term::List(vec![
            atom("point"),
            Term::Tuple(vec![atom("circle"), Term::Float(1.5)]),
            Term::Tuple(vec![atom("rect"), Term::Int(-2), Term::Int(3)]),
            Term::Tuple(vec![
                atom("named"),
                Term::Map(vec![
                    (atom("name"), Term::Binary(b"tri".to_vec())),
                    (atom("sides"), Term::Int(3)),
                ]),
            ]),
        ])
    );
}

#[test]
fn what_elixir_sends_decodes_into_rust_types() {
    #[derive(Debug, PartialEq, Deserialize)]
    struct Uri {
        host: String,
        port: u16,
    }
    // %URI{host: "h", port: 80} has a __struct__ key and binary values.
    let term = Term::Map(vec![
        (atom("__struct__"), atom("Elixir.URI")),
        (atom("host"), Term::Binary(b"h".to_vec())),
        (atom("port"), Term::Int(80)),
    ]);
    let bytes = encode(&term).unwrap();
    assert_eq!(
        from_slice::<Uri>(&bytes).unwrap(),
        Uri {
            host: "h".into(),
            port: 80
        }
    );
    // Keyword lists, charlists, and `undefined` for None.
    let kw = encode(&Term::List(vec![Term::Tuple(vec![
        atom("a"),
        Term::Int(1),
    ])]))
    .unwrap();
    assert_eq!(
        from_slice::<Vec<(Atom, i32)>>(&kw).unwrap(),
        vec![(Atom::new("a").unwrap(), 1)]
    );
    let chars = encode(&Term::List(vec![Term::Int(104), Term::Int(105)])).unwrap();
    assert_eq!(
        from_slice::<serde_bytes::ByteBuf>(&chars)
            .unwrap()
            .as_slice(),
        b"hi"
    );
    assert_eq!(from_slice::<Vec<u8>>(&chars).unwrap(), b"hi".to_vec());
    let undefined = encode(&atom("undefined")).unwrap();
    assert_eq!(from_slice::<Option<u8>>(&undefined).unwrap(), None);
    // A term that does not fit is an error that says what came.
    let e = from_slice::<u8>(&encode(&atom("x")).unwrap()).unwrap_err();
    assert!(e.to_string().contains("found an atom"), "{e}");
    let e = from_slice::<u8>(&encode(&Term::Int(300)).unwrap()).unwrap_err();
    assert!(e.to_string().contains("300"), "{e}");
}

#[test]
fn locus_pids_are_erlang_pids() {
    let node = crate::NodeName::new("n@h").unwrap();
    let pid = crate::Pid::new(node, (9 << 32) | 5, 77);
    let bytes = to_vec(&pid).unwrap();
    assert_eq!(
        decode(&bytes).unwrap(),
        Term::Pid(ErlPid {
            node: Atom::new("n@h").unwrap(),
            id: 5,
            serial: 9,
            creation: 77,
        })
    );
    assert_eq!(from_slice::<crate::Pid>(&bytes).unwrap(), pid);
    // MessagePack and JSON forms are as before: (id, creation, node) and named fields.
    let mp = rmp_serde::to_vec(&pid).unwrap();
    assert_eq!(
        rmp_serde::from_slice::<(u64, u32, String)>(&mp).unwrap(),
        ((9 << 32) | 5, 77, "n@h".to_owned())
    );
    assert_eq!(rmp_serde::from_slice::<crate::Pid>(&mp).unwrap(), pid);
    let json = serde_json_like(&pid);
    assert!(json.contains("\"creation\":77"), "{json}");
}

/// JSON without a JSON dependency in this crate's tests: the observer's format.
fn serde_json_like(pid: &crate::Pid) -> String {
    #[cfg(feature = "observer")]
    {
        serde_json::to_string(pid).unwrap()
    }
    #[cfg(not(feature = "observer"))]
    {
        format!("\"creation\":{}", pid.creation())
    }
}

fn arb_atom() -> impl Strategy<Value = Atom> {
    "[a-zA-Z_@.é]{0,20}".prop_map(|s| Atom::new(&s).unwrap())
}

fn arb_term() -> impl Strategy<Value = Term> {
    let leaf = prop_oneof![
        arb_atom().prop_map(Term::Atom),
        any::<i64>().prop_map(Term::Int),
        (any::<bool>(), proptest::collection::vec(any::<u8>(), 9..20)).prop_filter_map(
            "a bignum beyond 64 bits",
            |(negative, mut m)| {
                *m.last_mut()? = m.last()?.max(&1).to_owned();
                Some(Term::Big {
                    negative,
                    magnitude: m,
                })
            }
        ),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(Term::Float),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Term::Binary),
        (arb_atom(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(
            |(node, id, serial, creation)| Term::Pid(ErlPid {
                node,
                id,
                serial,
                creation
            })
        ),
        (
            arb_atom(),
            any::<u32>(),
            proptest::collection::vec(any::<u32>(), 1..=5)
        )
            .prop_map(|(node, creation, ids)| Term::Ref(ErlRef {
                node,
                creation,
                ids
            })),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Term::List),
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Term::Tuple),
            (
                proptest::collection::vec(inner.clone(), 1..4),
                inner
                    .clone()
                    .prop_filter("not []", |t| *t != Term::List(vec![]))
            )
                .prop_map(|(items, tail)| Term::Improper(items, Box::new(tail))),
            proptest::collection::vec((any::<u32>(), inner), 0..6).prop_map(|pairs| {
                // Distinct keys.
                let mut seen = std::collections::BTreeSet::new();
                Term::Map(
                    pairs
                        .into_iter()
                        .filter(|(k, _)| seen.insert(*k))
                        .map(|(k, v)| (Term::Int(i64::from(k)), v))
                        .collect(),
                )
            }),
        ]
    })
}

/// A term as it comes back from bytes: lists of small integers are strings, improper
/// lists whose tail is a proper list are flattened.
fn normalized(t: Term) -> Term {
    decode(&encode(&t).unwrap()).unwrap()
}

proptest! {
    #[test]
    fn terms_round_trip_byte_for_byte(t in arb_term()) {
        let bytes = encode(&t).unwrap();
        let back = decode(&bytes).unwrap();
        prop_assert_eq!(&back, &normalized(t));
        prop_assert_eq!(encode(&back).unwrap(), bytes.clone());
        // Through serde too: Term is written and read natively.
        prop_assert_eq!(to_vec(&back).unwrap(), bytes.clone());
        prop_assert_eq!(from_slice::<Term>(&bytes).unwrap(), back);
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        crate::fuzzing::etf(&bytes);
    }

    #[test]
    fn rust_values_round_trip(
        small in any::<u8>(),
        neg in any::<i64>(),
        huge in any::<u128>(),
        text in ".{0,30}",
        list in proptest::collection::vec(any::<u16>(), 0..10),
        maybe in proptest::option::of(".{0,5}"),
    ) {
        let mut v = everything();
        v.small = small;
        v.neg = neg;
        v.huge = huge;
        v.text = text;
        v.list = list;
        v.maybe = maybe;
        prop_assert_eq!(from_slice::<Everything>(&to_vec(&v).unwrap()).unwrap(), v);
    }
}
