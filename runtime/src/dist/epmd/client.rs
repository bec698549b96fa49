//! Talking to a port mapper: register a node, look one up, list them.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::EpmdError;
use super::proto::{
    Registration, Request, decode_alive2_resp, decode_names_resp, decode_port2_resp,
};

/// How long one exchange with a port mapper may take.
pub(crate) const EPMD_TIMEOUT: Duration = Duration::from_secs(5);

async fn connect(addr: SocketAddr) -> Result<TcpStream, EpmdError> {
    match tokio::time::timeout(EPMD_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Err(EpmdError::Unreachable(addr))
        }
        Ok(Err(e)) => Err(EpmdError::Io(addr, e.to_string())),
        Err(_) => Err(EpmdError::Timeout(addr)),
    }
}

/// Sends one request and reads the reply until the port mapper closes the connection.
async fn exchange(addr: SocketAddr, req: Request) -> Result<Vec<u8>, EpmdError> {
    let work = async {
        let mut s = connect(addr).await?;
        s.write_all(&req.encode())
            .await
            .map_err(|e| EpmdError::Io(addr, e.to_string()))?;
        let mut reply = Vec::new();
        // Replies are small; a reply larger than this is not from a port mapper.
        (&mut s)
            .take(1 << 20)
            .read_to_end(&mut reply)
            .await
            .map_err(|e| EpmdError::Io(addr, e.to_string()))?;
        Ok(reply)
    };
    tokio::time::timeout(EPMD_TIMEOUT, work)
        .await
        .map_err(|_| EpmdError::Timeout(addr))?
}

/// Registers a node. The returned connection must stay open for as long as the node is
/// registered: closing it unregisters the node.
pub(crate) async fn register(
    addr: SocketAddr,
    reg: &Registration,
) -> Result<(u32, TcpStream), EpmdError> {
    let mut s = connect(addr).await?;
    let work = async {
        s.write_all(&Request::Alive2(reg.clone()).encode())
            .await
            .map_err(|e| EpmdError::Io(addr, e.to_string()))?;
        let mut reply = [0u8; 6];
        s.read_exact(&mut reply[..2])
            .await
            .map_err(|e| EpmdError::Io(addr, e.to_string()))?;
        // ALIVE2_X_RESP carries a u32 creation, the older ALIVE2_RESP a u16.
        let rest = if reply[0] == super::proto::ALIVE2_RESP {
            2
        } else {
            4
        };
        s.read_exact(&mut reply[2..2 + rest])
            .await
            .map_err(|e| EpmdError::Io(addr, e.to_string()))?;
        let (result, creation) = decode_alive2_resp(&reply[..2 + rest])
            .map_err(|e| EpmdError::Protocol(addr, e.to_string()))?;
        if result != 0 {
            return Err(EpmdError::NameTaken(reg.name.clone()));
        }
        Ok(creation)
    };
    let creation = tokio::time::timeout(EPMD_TIMEOUT, work)
        .await
        .map_err(|_| EpmdError::Timeout(addr))??;
    Ok((creation, s))
}

/// Asks the port mapper at `addr` for a node's registration (`None`: not registered).
pub(crate) async fn port_please(
    addr: SocketAddr,
    name: &str,
) -> Result<Option<Registration>, EpmdError> {
    let reply = exchange(addr, Request::PortPlease2(name.to_owned())).await?;
    decode_port2_resp(&reply).map_err(|e| EpmdError::Protocol(addr, e.to_string()))
}

/// Lists the nodes registered with the port mapper at `addr`, as `(name, port)`.
pub(crate) async fn names(addr: SocketAddr) -> Result<Vec<(String, u16)>, EpmdError> {
    let reply = exchange(addr, Request::Names).await?;
    decode_names_resp(&reply).map_err(|e| EpmdError::Protocol(addr, e.to_string()))
}
