//! Distribution settings: cookie, ports, timing, limits.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::frame::DEFAULT_MAX_FRAME;

/// Erlang's `net_ticktime`.
pub const DEFAULT_TICK_TIME: Duration = Duration::from_secs(60);
/// Erlang's `net_setuptime`: each step of a connection setup must finish within this.
pub(crate) const SETUP_TIME: Duration = Duration::from_secs(7);
/// Where an unset cookie is kept, as `~/.erlang.cookie` for Erlang.
pub(crate) const COOKIE_FILE: &str = ".locus.cookie";
/// Beyond this many bytes waiting for one peer, new messages to it are dropped and counted
/// (a peer that stops reading must not make this node grow without bound).
pub(crate) const DEFAULT_MAX_OUTBOX: usize = 256 * 1024 * 1024;
/// Beyond this many messages waiting in one process's mailbox, further messages to it from
/// other nodes are dropped and counted (calls fail with `CallError::Overloaded`).
pub const DEFAULT_MAX_MAILBOX: usize = 1_000_000;
/// How long a connection's reader keeps polling its socket after traffic before it sleeps
/// (see `NodeBuilder::spin`).
pub const DEFAULT_SPIN: Duration = Duration::from_micros(100);

/// Which port distribution listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ports {
    /// Any free port (the port mapper tells peers which).
    Any,
    /// The first free port in this range (`inet_dist_listen_min/max`).
    Range(u16, u16),
    /// Exactly this port, without a port mapper: peers are reached on the same port number
    /// (like `ERL_DIST_PORT`).
    Fixed(u16),
}

#[derive(Clone)]
pub(crate) struct DistConfig {
    pub(crate) cookie: Vec<u8>,
    pub(crate) listen: IpAddr,
    pub(crate) ports: Ports,
    pub(crate) epmd_port: u16,
    /// Where the port mapper this node may serve listens (Erlang's `ERL_EPMD_ADDRESS`), as
    /// well as loopback: `None` is every interface.
    pub(crate) epmd_address: Option<IpAddr>,
    pub(crate) tick_time: Duration,
    pub(crate) hidden: bool,
    pub(crate) max_frame: usize,
    pub(crate) max_outbox: usize,
    pub(crate) max_mailbox: usize,
    pub(crate) spin: Duration,
    /// TLS for every connection, if set.
    pub(crate) tls: Option<Arc<super::tls::TlsContext>>,
    /// Who may connect, and be connected to.
    pub(crate) allow: super::allow::AllowList,
    /// Whether BEAM nodes may connect, and be connected to (Erlang distribution).
    pub(crate) erlang: bool,
    /// The protocol of a peer the port mapper does not tell about (fixed ports).
    pub(crate) protocol: DistProtocol,
}

/// Which protocol a connection to a peer speaks, when the port mapper cannot tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DistProtocol {
    /// From the port mapper: a node that registered as locus speaks locus's protocol, any
    /// other Erlang distribution (which needs `erlang_dist`). Without a port mapper (a
    /// fixed distribution port), locus's.
    #[default]
    Auto,
    /// locus's own protocol with every peer dialled.
    Locus,
    /// Erlang distribution with every peer dialled (needs `erlang_dist`).
    Erlang,
}

impl DistConfig {
    pub(crate) fn new(cookie: Vec<u8>) -> Self {
        Self {
            cookie,
            listen: IpAddr::from([0, 0, 0, 0]),
            ports: Ports::Any,
            epmd_port: super::epmd::DEFAULT_EPMD_PORT,
            epmd_address: None,
            tick_time: DEFAULT_TICK_TIME,
            hidden: false,
            max_frame: DEFAULT_MAX_FRAME,
            max_outbox: DEFAULT_MAX_OUTBOX,
            max_mailbox: DEFAULT_MAX_MAILBOX,
            spin: DEFAULT_SPIN,
            tls: None,
            allow: super::allow::AllowList::default(),
            erlang: false,
            protocol: DistProtocol::Auto,
        }
    }

    /// How often a connection with nothing to send sends a tick (Erlang: tick time / 4).
    pub(crate) fn tick_interval(&self) -> Duration {
        (self.tick_time / 4).max(Duration::from_millis(10))
    }
}

/// Checks a cookie: 1 to 255 visible ASCII characters.
pub(crate) fn validate_cookie(cookie: &str) -> Result<(), String> {
    if cookie.is_empty() || cookie.len() > 255 {
        return Err(format!(
            "invalid cookie: it must be 1 to 255 characters long (got {})",
            cookie.len()
        ));
    }
    if let Some(c) = cookie.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "invalid cookie: {c:?} is not allowed; use visible ASCII characters without spaces"
        ));
    }
    Ok(())
}

/// The cookie from `~/.locus.cookie`, created with a random value (mode 0400) if missing.
pub(crate) fn cookie_from_file() -> Result<String, String> {
    let home = std::env::var_os("HOME").ok_or_else(|| {
        "no cookie given (builder .cookie(), --cookie or LOCUS_COOKIE) and HOME is not set, so ~/.locus.cookie cannot be used".to_owned()
    })?;
    let path = PathBuf::from(home).join(COOKIE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let cookie = text.trim().to_owned();
            validate_cookie(&cookie).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(cookie)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_cookie_file(&path),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn create_cookie_file(path: &std::path::Path) -> Result<String, String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).map_err(|e| format!("no random source for a new cookie: {e}"))?;
    // 20 uppercase letters, as Erlang's generated cookies.
    let cookie: String = bytes.iter().map(|b| char::from(b'A' + b % 26)).collect();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o400)
        .open(path);
    match &mut file {
        Ok(f) => f
            .write_all(cookie.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        // Another node created it at the same moment: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return std::fs::read_to_string(path)
                .map(|t| t.trim().to_owned())
                .map_err(|e| format!("cannot read {}: {e}", path.display()));
        }
        Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
    }
    tracing::info!(path = %path.display(), "created a new random cookie");
    Ok(cookie)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_validated() {
        assert!(validate_cookie("secret").is_ok());
        assert!(validate_cookie("A-b_c.1!").is_ok());
        assert!(validate_cookie("").unwrap_err().contains("1 to 255"));
        assert!(validate_cookie("has space").unwrap_err().contains("' '"));
        assert!(validate_cookie(&"x".repeat(256)).is_err());
        assert!(validate_cookie("tab\there").is_err());
    }

    #[test]
    fn a_missing_cookie_file_is_created_once_with_mode_0400() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("locus-cookie-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(COOKIE_FILE);
        let _ = std::fs::remove_file(&path);
        let first = create_cookie_file(&path).unwrap();
        assert_eq!(first.len(), 20);
        validate_cookie(&first).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o400);
        // A second creation finds the file and reuses it.
        assert_eq!(create_cookie_file(&path).unwrap(), first);
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir(&dir);
    }
}
