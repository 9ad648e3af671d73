//! A tiny HTTP/1.0 GET over a TCP stream, for port probes from the host to
//! addresses of nodes the harness created (never anything else).
//!
//! Errors are `std::io::Error`s so callers can tell "connection refused"
//! (nothing listens / no DNAT rule) from "timed out" (packets dropped).

use std::io::{Error, ErrorKind, Result};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What a probe got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code, e.g. 200.
    pub status: u16,
    /// The body (lossy UTF-8).
    pub body: String,
}

/// GET `/` at `addr`; the status code. The whole exchange is bounded by
/// `timeout` (an expired timeout is `ErrorKind::TimedOut`).
pub async fn get(addr: SocketAddr, timeout: Duration) -> Result<u16> {
    Ok(fetch(addr, "/", timeout).await?.status)
}

/// GET `path` at `addr`: status and body, bounded by `timeout`.
pub async fn fetch(addr: SocketAddr, path: &str, timeout: Duration) -> Result<HttpResponse> {
    tokio::time::timeout(timeout, fetch_inner(addr, path)).await.map_err(|_| {
        Error::new(ErrorKind::TimedOut, format!("GET http://{addr}{path}: no answer within {} ms", timeout.as_millis()))
    })?
}

async fn fetch_inner(addr: SocketAddr, path: &str) -> Result<HttpResponse> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut buf = Vec::new();
    s.take(1 << 20).read_to_end(&mut buf).await?;
    parse(&buf)
}

fn parse(raw: &[u8]) -> Result<HttpResponse> {
    let text = String::from_utf8_lossy(raw);
    let status_line = text.lines().next().unwrap_or("");
    let bad = || Error::new(ErrorKind::InvalidData, format!("not an HTTP answer: {status_line:?}"));
    let mut parts = status_line.split_whitespace();
    let (Some(proto), Some(code)) = (parts.next(), parts.next()) else { return Err(bad()) };
    if !proto.starts_with("HTTP/") {
        return Err(bad());
    }
    let status = code.parse().map_err(|_| bad())?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok(HttpResponse { status, body })
}

/// Retries [`fetch`] every `interval` until it answers 200, at most
/// `attempts` times; the error names the address and the last failure.
pub async fn wait_ok(addr: SocketAddr, path: &str, attempts: u32, interval: Duration) -> anyhow::Result<HttpResponse> {
    let mut last = String::from("no attempt made");
    for i in 0..attempts.max(1) {
        if i > 0 {
            tokio::time::sleep(interval).await;
        }
        match fetch(addr, path, Duration::from_secs(2)).await {
            Ok(r) if r.status == 200 => return Ok(r),
            Ok(r) => last = format!("HTTP {}", r.status),
            Err(e) => last = e.to_string(),
        }
    }
    anyhow::bail!("http://{addr}{path} did not answer 200 after {attempts} attempts (last: {last})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_body() {
        let r = parse(b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\nprobe ok\n").unwrap();
        assert_eq!(r, HttpResponse { status: 200, body: "probe ok\n".into() });
        assert_eq!(parse(b"SSH-2.0-x\r\n").unwrap_err().kind(), ErrorKind::InvalidData);
    }

    #[tokio::test]
    async fn gets_from_a_local_server_and_reports_refusal() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut b = [0u8; 1024];
            let _ = s.read(&mut b).await;
            s.write_all(b"HTTP/1.0 404 Not Found\r\n\r\nnope").await.unwrap();
        });
        assert_eq!(get(addr, Duration::from_secs(2)).await.unwrap(), 404);
        // The listener is gone after one connection: the next GET is refused.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let e = get(addr, Duration::from_secs(2)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
    }
}
