//! A UDP datagram from the host to a node's port, and its echo: the UDP
//! counterpart of `http_probe`, for nodes the harness created only.
//!
//! The socket is connected, so an ICMP port-unreachable from the other end
//! (nothing listens there) is `ConnectionRefused`, and silence (dropped,
//! no DNAT rule to a listener) is `TimedOut`.

use std::io::{Error, ErrorKind, Result};
use std::net::SocketAddr;
use std::time::Duration;

/// What every probe sends; an echo server answers with its tag before it.
pub const PAYLOAD: &str = "repro-udp-probe";

/// Send [`PAYLOAD`] to `addr` and wait up to `timeout` for a reply
/// containing it; the reply's text.
pub async fn echo(addr: SocketAddr, timeout: Duration) -> Result<String> {
    let s = tokio::net::UdpSocket::bind(if addr.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }).await?;
    s.connect(addr).await?;
    s.send(PAYLOAD.as_bytes()).await?;
    let mut buf = [0u8; 2048];
    let n = tokio::time::timeout(timeout, s.recv(&mut buf))
        .await
        .map_err(|_| Error::new(ErrorKind::TimedOut, format!("UDP {addr}: no reply within {} ms", timeout.as_millis())))??;
    let text = String::from_utf8_lossy(&buf[..n]).trim().to_string();
    if text.contains(PAYLOAD) {
        Ok(text)
    } else {
        Err(Error::new(ErrorKind::InvalidData, format!("UDP {addr}: reply without the probe's payload: {text:?}")))
    }
}

/// The shell command (run inside a node, whose python3 firewalld brought)
/// of an echo server on `port` that prefixes each reply with `tag`.
pub fn echo_server_script(port: u16, tag: &str) -> String {
    format!(
        "python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind((\"\",{port}));[s.sendto(b\"{tag} \"+d,a) for d,a in iter(lambda:s.recvfrom(2048),None)]'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_echo_comes_back_and_silence_times_out() {
        let server = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            let (n, from) = server.recv_from(&mut buf).await.unwrap();
            let mut reply = b"tag ".to_vec();
            reply.extend_from_slice(&buf[..n]);
            server.send_to(&reply, from).await.unwrap();
        });
        assert_eq!(echo(addr, Duration::from_secs(2)).await.unwrap(), "tag repro-udp-probe");
        // The server answered once and is gone: nothing listens any more.
        let e = echo(addr, Duration::from_millis(300)).await.unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::ConnectionRefused | ErrorKind::TimedOut), "{e}");
    }
}
