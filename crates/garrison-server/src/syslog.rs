//! Syslog listeners: UDP (RFC 5426, one message per datagram) and TCP, plain or TLS
//! (RFC 6587 and 5425: octet-counted frames `LEN SP MSG`, or messages ended by a line feed,
//! told apart frame by frame). A TCP sender is slowed by not reading while the spool is behind.

use crate::intake::Intake;
use crate::spool::Spool;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// Datagrams taken in one spool append at most.
const UDP_BATCH: usize = 2048;
/// Bytes read from a TCP connection at once.
const TCP_READ: usize = 256 << 10;
/// Connections served at once per listener.
pub const MAX_CONNECTIONS: usize = 1024;
/// Time a TLS client has to finish its handshake.
const HANDSHAKE_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Takes datagrams until shutdown.
pub async fn serve_udp(socket: UdpSocket, spool: Spool, mut intake: Intake, max_message: usize) {
    let mut buffer = vec![0u8; 65536];
    loop {
        let first = tokio::select! {
            _ = intake.stopping() => return,
            received = socket.recv_from(&mut buffer) => received,
        };
        let mut batch = Vec::new();
        let mut received = first;
        loop {
            if let Ok((length, peer)) = received
                && let Some(message) = datagram_message(&buffer[..length])
            {
                if message.len() > max_message {
                    let reason = format!(
                        "message of {} bytes, over the {max_message}-byte limit",
                        message.len()
                    );
                    intake.refuse(Some(peer), &reason, message);
                } else {
                    batch.push(message.to_vec());
                }
            }
            if batch.len() >= UDP_BATCH {
                break;
            }
            received = socket.try_recv_from(&mut buffer);
            if matches!(&received, Err(error) if error.kind() == std::io::ErrorKind::WouldBlock) {
                break;
            }
        }
        if batch.is_empty() {
            continue;
        }
        let count = batch.len() as u64;
        match spool.append(batch).await {
            Ok(_) => {
                intake.stats.accepted.fetch_add(count, Ordering::Relaxed);
            }
            Err(error) => {
                tracing::warn!("garrison serve: {}: {error}; datagrams lost", intake.input);
                return;
            }
        }
    }
}

/// A datagram's message: without trailing line ends or NULs; `None` when empty.
fn datagram_message(datagram: &[u8]) -> Option<&[u8]> {
    let end = datagram
        .iter()
        .rposition(|b| !matches!(b, b'\n' | b'\r' | b'\0'))?;
    Some(&datagram[..=end])
}

/// Accepts connections until shutdown, each served by its own task.
pub async fn serve_tcp(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    spool: Spool,
    mut intake: Intake,
    max_message: usize,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let permit = tokio::select! {
            _ = intake.stopping() => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = intake.stopping() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!("garrison serve: {}: accept: {error}", intake.input);
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        intake.stats.connections.fetch_add(1, Ordering::Relaxed);
        let (spool, intake, tls) = (spool.clone(), intake.clone(), tls.clone());
        connections.spawn(async move {
            let _permit = permit;
            match tls {
                None => read_frames(stream, peer, &spool, intake, max_message).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_LIMIT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            read_frames(stream, peer, &spool, intake, max_message).await
                        }
                        Ok(Err(_)) | Err(_) => {
                            // A failed handshake (no or an untrusted client certificate).
                            intake.stats.unauthorized.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
    // Connections finish what they have read; their senders see the close.
    connections.shutdown().await;
}

/// Reads one connection's messages into the spool, batch by batch.
async fn read_frames<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    spool: &Spool,
    mut intake: Intake,
    max_message: usize,
) {
    let mut framer = Framer::new(max_message);
    let mut buffer = vec![0u8; TCP_READ];
    loop {
        let read = tokio::select! {
            _ = intake.stopping() => 0,
            read = stream.read(&mut buffer) => read.unwrap_or(0),
        };
        let mut batch = Vec::new();
        let mut refused = Vec::new();
        match read {
            0 => framer.finish(&mut batch, &mut refused),
            n => framer.push(&buffer[..n], &mut batch, &mut refused),
        }
        for (reason, raw) in refused {
            intake.refuse(Some(peer), &reason, &raw);
        }
        if !batch.is_empty() {
            let count = batch.len() as u64;
            if let Err(error) = spool.append(batch).await {
                tracing::warn!("garrison serve: {}: {error}; closing {peer}", intake.input);
                return;
            }
            intake.stats.accepted.fetch_add(count, Ordering::Relaxed);
        }
        if read == 0 {
            // A TLS sender is told the close was meant (close_notify).
            let _ = stream.shutdown().await;
            return;
        }
    }
}

/// Cuts a TCP byte stream into syslog messages.
#[derive(Debug)]
pub struct Framer {
    pending: Vec<u8>,
    max_message: usize,
    /// Bytes still to drop of a frame refused as too long.
    skipping: Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    Nothing,
    /// The rest of an octet-counted frame.
    Bytes(usize),
    /// Up to the next line feed.
    Line,
}

type Refused = Vec<(String, Vec<u8>)>;

impl Framer {
    pub fn new(max_message: usize) -> Framer {
        Framer {
            pending: Vec::new(),
            max_message,
            skipping: Skip::Nothing,
        }
    }

    /// Takes `data`, adding the complete messages to `out`.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<Vec<u8>>, refused: &mut Refused) {
        self.pending.extend_from_slice(data);
        let mut start = 0;
        loop {
            let rest = &self.pending[start..];
            match self.skipping {
                Skip::Bytes(n) => {
                    let dropped = n.min(rest.len());
                    start += dropped;
                    self.skipping = match n - dropped {
                        0 => Skip::Nothing,
                        left => Skip::Bytes(left),
                    };
                    if start >= self.pending.len() {
                        break;
                    }
                    continue;
                }
                Skip::Line => match memchr::memchr(b'\n', rest) {
                    Some(end) => {
                        start += end + 1;
                        self.skipping = Skip::Nothing;
                        continue;
                    }
                    None => {
                        start = self.pending.len();
                        break;
                    }
                },
                Skip::Nothing => {}
            }
            // Line ends and NULs between frames are not messages.
            let skip = rest
                .iter()
                .position(|b| !matches!(b, b'\n' | b'\r' | b'\0' | b' '))
                .unwrap_or(rest.len());
            start += skip;
            let rest = &self.pending[start..];
            if rest.is_empty() {
                break;
            }
            match octet_count(rest) {
                Some(Ok((header, length))) => {
                    if length > self.max_message {
                        let available = rest.len() - header;
                        refused.push((
                            format!(
                                "frame of {length} bytes, over the {}-byte limit",
                                self.max_message
                            ),
                            rest[header..header + available.min(length)].to_vec(),
                        ));
                        let dropped = available.min(length);
                        start += header + dropped;
                        if length > dropped {
                            self.skipping = Skip::Bytes(length - dropped);
                        }
                        continue;
                    }
                    if rest.len() < header + length {
                        break;
                    }
                    if let Some(message) = datagram_message(&rest[header..header + length]) {
                        out.push(message.to_vec());
                    }
                    start += header + length;
                }
                // Not yet known: the count's digits are not all here.
                None => break,
                Some(Err(())) => match memchr::memchr(b'\n', rest) {
                    Some(end) => {
                        let line = &rest[..end];
                        if line.len() > self.max_message {
                            refused.push((
                                format!(
                                    "message of {} bytes, over the {}-byte limit",
                                    line.len(),
                                    self.max_message
                                ),
                                line.to_vec(),
                            ));
                        } else if let Some(message) = datagram_message(line) {
                            out.push(message.to_vec());
                        }
                        start += end + 1;
                    }
                    None if rest.len() > self.max_message => {
                        refused.push((
                            format!("message over the {}-byte limit", self.max_message),
                            rest.to_vec(),
                        ));
                        start = self.pending.len();
                        self.skipping = Skip::Line;
                        break;
                    }
                    None => break,
                },
            }
        }
        self.pending.drain(..start);
    }

    /// The connection closed: a last message without its line feed is still a message.
    pub fn finish(&mut self, out: &mut Vec<Vec<u8>>, refused: &mut Refused) {
        if self.skipping == Skip::Nothing
            && let Some(message) = datagram_message(&self.pending)
        {
            match octet_count(message) {
                Some(Ok((header, length))) => refused.push((
                    format!("connection closed inside a frame of {length} bytes"),
                    message[header..].to_vec(),
                )),
                _ => out.push(message.to_vec()),
            }
        }
        self.pending.clear();
    }
}

/// An octet-counting frame's header length and message length; `Err` when the data does not
/// start with one (so a line follows); `None` when it cannot be told yet.
fn octet_count(data: &[u8]) -> Option<Result<(usize, usize), ()>> {
    let digits = data.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || data[0] == b'0' {
        return Some(Err(()));
    }
    if digits > 9 {
        return Some(Err(()));
    }
    match data.get(digits) {
        None => None,
        Some(b' ') => {
            let length: usize = std::str::from_utf8(&data[..digits]).ok()?.parse().ok()?;
            Some(Ok((digits + 1, length)))
        }
        Some(_) => Some(Err(())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(chunks: &[&[u8]], max: usize) -> (Vec<String>, Vec<String>) {
        let mut framer = Framer::new(max);
        let (mut out, mut refused) = (Vec::new(), Vec::new());
        for chunk in chunks {
            framer.push(chunk, &mut out, &mut refused);
        }
        framer.finish(&mut out, &mut refused);
        (
            out.into_iter()
                .map(|m| String::from_utf8(m).unwrap())
                .collect(),
            refused.into_iter().map(|(reason, _)| reason).collect(),
        )
    }

    #[test]
    fn octet_counted_and_line_framed_messages_mix_and_split_anywhere() {
        let stream = b"<13>1 2026-12-02T10:00:00Z h app - - - one\n16 <13>two\nwith lf\n<14>Dec  2 10:00:01 h app: three";
        for cut in 0..stream.len() {
            let (out, refused) = frame(&[&stream[..cut], &stream[cut..]], 1024);
            assert_eq!(
                out,
                [
                    "<13>1 2026-12-02T10:00:00Z h app - - - one",
                    "<13>two\nwith lf",
                    "<14>Dec  2 10:00:01 h app: three"
                ],
                "cut at {cut}"
            );
            assert!(refused.is_empty());
        }
    }

    #[test]
    fn messages_over_the_limit_are_refused_and_the_stream_goes_on() {
        let (out, refused) = frame(
            &[b"30 0123456789", b"01234567890123456789ok\n", b"short\n"],
            16,
        );
        assert_eq!(out, ["ok", "short"]);
        assert_eq!(refused, ["frame of 30 bytes, over the 16-byte limit"]);
        let (out, refused) = frame(&[b"a line far too long for", b" the limit\nnext\n"], 16);
        assert_eq!(out, ["next"]);
        assert_eq!(refused, ["message over the 16-byte limit"]);
        let (out, refused) = frame(&[b"40 cut short"], 1024);
        assert!(out.is_empty());
        assert_eq!(refused, ["connection closed inside a frame of 40 bytes"]);
    }

    #[test]
    fn datagrams_lose_their_line_ends_and_empty_ones_are_nothing() {
        assert_eq!(
            datagram_message(b"<13>hello\r\n\0"),
            Some(&b"<13>hello"[..])
        );
        assert_eq!(datagram_message(b"\n\0"), None);
    }
}
