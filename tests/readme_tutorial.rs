//! Runs the README's tutorial: every command, every line it says a program prints.
//!
//! The tutorial's `console` blocks (between `<!-- tutorial:start -->` and
//! `<!-- tutorial:end -->`) are transcripts:
//!
//! - `name$ COMMAND` starts COMMAND in the terminal `name` (it keeps running);
//! - `name> TEXT` types TEXT into it (`^C` interrupts it);
//! - `name: LINE` waits for it to print LINE;
//! - `$ COMMAND` runs COMMAND to completion; the lines after it are all it prints (retried
//!   until they are, within the deadline, since clusters settle asynchronously);
//! - a line with no prefix is printed by the terminal named last;
//! - a LINE ending in `...` matches any line that starts with what comes before.
//!
//! Each `###` section starts afresh: its terminals are stopped at the next section. Every
//! program runs with a private port mapper port (`LOCUS_EPMD_PORT`), and the HTTP ports the
//! tutorial names are mapped to free ones, so the test runs beside anything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use support::os::{OsNode, example};
use support::{DEADLINE, free_port};

/// One transcript line.
#[derive(Debug)]
enum Step {
    /// A new `###` section.
    Section(String),
    Start {
        term: String,
        command: String,
    },
    Type {
        term: String,
        text: String,
    },
    Expect {
        term: String,
        line: String,
    },
    Run {
        command: String,
        output: Vec<String>,
    },
}

/// The tutorial's steps, in order.
fn steps(readme: &str) -> Vec<Step> {
    let start = readme
        .find("<!-- tutorial:start -->")
        .expect("the README has a tutorial");
    let end = readme
        .find("<!-- tutorial:end -->")
        .expect("the tutorial ends");
    let mut steps = Vec::new();
    let mut in_block = false;
    let mut last_term: Option<String> = None;
    // Terminals started in this section: only their names prefix `name>` and `name:`.
    let mut started: Vec<String> = Vec::new();
    for line in readme[start..end].lines() {
        if !in_block {
            if let Some(title) = line.strip_prefix("### ") {
                steps.push(Step::Section(title.to_owned()));
                last_term = None;
                started.clear();
            } else if line.trim() == "```console" {
                in_block = true;
            }
            continue;
        }
        if line.trim() == "```" {
            in_block = false;
            continue;
        }
        if let Some(command) = line.strip_prefix("$ ") {
            steps.push(Step::Run {
                command: command.to_owned(),
                output: Vec::new(),
            });
            last_term = None;
            continue;
        }
        let prefixed = line
            .split_once(['$', '>', ':'])
            .filter(|(term, rest)| {
                !term.is_empty()
                    && term.chars().all(|c| c.is_ascii_alphanumeric())
                    && rest.starts_with(' ')
            })
            .filter(|(term, _)| {
                line.as_bytes()[term.len()] == b'$' || started.iter().any(|t| t == term)
            });
        if let Some((term, rest)) = prefixed {
            let kind = line.as_bytes()[term.len()];
            let rest = rest[1..].to_owned();
            let term = term.to_owned();
            if kind == b'$' {
                started.push(term.clone());
            }
            steps.push(match kind {
                b'$' => Step::Start {
                    term: term.clone(),
                    command: rest,
                },
                b'>' => Step::Type {
                    term: term.clone(),
                    text: rest,
                },
                _ => Step::Expect {
                    term: term.clone(),
                    line: rest,
                },
            });
            last_term = Some(term);
            continue;
        }
        match (steps.last_mut(), &last_term) {
            (Some(Step::Run { output, .. }), _) => output.push(line.to_owned()),
            (_, Some(term)) => steps.push(Step::Expect {
                term: term.clone(),
                line: line.to_owned(),
            }),
            _ => panic!("tutorial line {line:?} belongs to no terminal or command"),
        }
    }
    steps
}

/// Splits a shell command line: words, '...' and "..." quotes.
fn words(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            (None, c) => word.push(c),
        }
    }
    if any || !word.is_empty() {
        out.push(word);
    }
    out
}

/// Where the tutorial's fixed ports go in this run.
struct Session {
    epmd: u16,
    ports: HashMap<String, String>,
    terms: HashMap<String, OsNode>,
}

impl Session {
    fn new() -> Self {
        Self {
            epmd: free_port(),
            ports: HashMap::new(),
            terms: HashMap::new(),
        }
    }

    /// `text` with the tutorial's HTTP ports (4001-4009) replaced by this run's.
    fn remap(&mut self, text: &str) -> String {
        let mut out = text.to_owned();
        for p in 4001..=4009 {
            let p = p.to_string();
            if out.contains(&p) {
                let mine = self
                    .ports
                    .entry(p.clone())
                    .or_insert_with(|| free_port().to_string())
                    .clone();
                out = out.replace(&p, &mine);
            }
        }
        out
    }

    /// The process a command line names: `locus ...`, `cargo run --example X -- ...`,
    /// with `VAR=value` prefixes; `curl` is answered by [`curl`].
    fn command(&mut self, line: &str) -> Command {
        let line = self.remap(line);
        let mut words = words(&line).into_iter().peekable();
        let mut env = Vec::new();
        while let Some(w) = words.peek() {
            match w.split_once('=') {
                Some((k, v)) if k.chars().all(|c| c.is_ascii_uppercase() || c == '_') => {
                    env.push((k.to_owned(), v.to_owned()));
                    words.next();
                }
                _ => break,
            }
        }
        let words: Vec<String> = words.collect();
        let mut cmd = match words.first().map(String::as_str) {
            Some("locus") => {
                let mut c = Command::new(env!("CARGO_BIN_EXE_locus"));
                c.args(&words[1..]);
                c
            }
            Some("cargo") => {
                let at = words
                    .iter()
                    .position(|w| w == "--example")
                    .expect("cargo run --example");
                let mut c = example(&words[at + 1]);
                if let Some(dash) = words.iter().position(|w| w == "--") {
                    c.args(&words[dash + 1..]);
                }
                c
            }
            other => panic!("the tutorial runs {other:?}, which this test does not know"),
        };
        cmd.env("LOCUS_EPMD_PORT", self.epmd.to_string())
            .env_remove("LOCUS_COOKIE")
            .env_remove("LOCUS_NODE")
            .envs(env);
        cmd
    }

    fn term(&mut self, name: &str) -> &mut OsNode {
        self.terms
            .get_mut(name)
            .unwrap_or_else(|| panic!("no terminal {name} was started in this section"))
    }

    fn run(&mut self, step: &Step) {
        match step {
            Step::Section(_) => unreachable!("sections are handled by the caller"),
            Step::Start { term, command } => {
                let cmd = self.command(command);
                self.terms.insert(term.clone(), OsNode::spawn(term, cmd));
            }
            Step::Type { term, text } if text == "^C" => {
                let pid = self.term(term).pid().to_string();
                assert!(
                    Command::new("kill")
                        .args(["-INT", &pid])
                        .status()
                        .unwrap()
                        .success()
                );
            }
            Step::Type { term, text } => self.term(term).send_line(text),
            Step::Expect { term, line } => {
                let want = self.remap(line);
                let node = self.term(term);
                match want.strip_suffix("...") {
                    Some(prefix) => {
                        node.expect_prefix(prefix);
                    }
                    None => node.expect(&want),
                }
            }
            Step::Run { command, output } => {
                let want: Vec<String> = output.iter().map(|l| self.remap(l)).collect();
                let start = Instant::now();
                loop {
                    let got = if command.starts_with("curl ") {
                        curl(&self.remap(command))
                    } else {
                        let out = self.command(command).output().expect("run the command");
                        String::from_utf8_lossy(&out.stdout).into_owned()
                    };
                    let got: Vec<&str> = got.lines().collect();
                    if matches(&got, &want) {
                        break;
                    }
                    assert!(
                        start.elapsed() < DEADLINE,
                        "`{command}` printed {got:?}, the tutorial says {want:?}"
                    );
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }
}

/// Whether `got` is `want`, line by line (a wanted line ending in `...` is a prefix).
fn matches(got: &[&str], want: &[String]) -> bool {
    got.len() == want.len()
        && got
            .iter()
            .zip(want)
            .all(|(g, w)| match w.strip_suffix("...") {
                Some(prefix) => g.starts_with(prefix),
                None => g == w,
            })
}

/// `curl -s http://127.0.0.1:PORT/PATH`: the body.
fn curl(command: &str) -> String {
    let url = words(command)
        .into_iter()
        .find(|w| w.starts_with("http://"))
        .expect("curl URL");
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let Ok(mut s) = std::net::TcpStream::connect(host) else {
        return String::new();
    };
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let path = if path.is_empty() { "/" } else { path };
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    );
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.split_once("\r\n\r\n")
        .map(|(_, body)| format!("{body}\n"))
        .unwrap_or_default()
}

#[test]
fn the_readme_tutorial_works_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let steps = steps(&readme);
    assert!(
        steps
            .iter()
            .filter(|s| matches!(s, Step::Section(_)))
            .count()
            >= 7,
        "the tutorial has its sections"
    );
    let mut session = Session::new();
    let mut section = String::new();
    for step in &steps {
        if let Step::Section(title) = step {
            // The previous section's terminals stop here (dropping them kills them).
            session = Session::new();
            section = title.clone();
            continue;
        }
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| session.run(step)));
        if let Err(e) = outcome {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            panic!(
                "tutorial section {section:?}, step {step:?} (after {:?}): {msg}",
                started.elapsed()
            );
        }
    }
}

#[test]
fn the_transcript_reader_understands_the_notation() {
    let text = "<!-- tutorial:start -->\n### A\n```console\nn1$ locus node --name a@h\nready a@h\nn1> ping\npong\n$ locus nodes a@h\nb@h\nepmd: c@h\nn1: bye...\n```\n<!-- tutorial:end -->";
    let s = steps(text);
    assert!(matches!(&s[0], Step::Section(t) if t == "A"));
    assert!(
        matches!(&s[1], Step::Start { term, command } if term == "n1" && command == "locus node --name a@h")
    );
    assert!(matches!(&s[2], Step::Expect { term, line } if term == "n1" && line == "ready a@h"));
    assert!(matches!(&s[3], Step::Type { term, text } if term == "n1" && text == "ping"));
    assert!(matches!(&s[4], Step::Expect { line, .. } if line == "pong"));
    assert!(
        matches!(&s[5], Step::Run { command, output } if command == "locus nodes a@h" && output == &["b@h", "epmd: c@h"])
    );
    assert!(matches!(&s[6], Step::Expect { term, line } if term == "n1" && line == "bye..."));
    assert_eq!(
        words(r#"locus rpc n node.connect '"x@h"' --cookie s"#),
        [
            "locus",
            "rpc",
            "n",
            "node.connect",
            "\"x@h\"",
            "--cookie",
            "s"
        ]
    );
    assert!(matches(
        &["name n1 at port 9100"],
        &["name n1 at port 91...".to_owned()]
    ));
    assert!(!matches(&["a", "b"], &["a".to_owned()]));
}
