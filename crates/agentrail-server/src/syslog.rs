//! Syslog in `serve` (`[syslog]`): appliances, `logger` and rsyslog send
//! directly, over TCP or UDP.
//!
//! - **TCP**: each message is framed by a newline (RFC 6587 "non-transparent
//!   framing", what most senders do) or by its length (`<len> <message>`,
//!   RFC 6587 octet counting, which allows newlines inside a message); the
//!   framing is recognised per message. A connection is read, its complete
//!   messages normalized and written through the writer (group commit,
//!   fsync), and only then read further: a slow disk slows the sender down
//!   through TCP instead of piling messages up in memory.
//! - **UDP**: one message per datagram, as many as have arrived written
//!   together. UDP has no back-pressure: what the kernel drops is lost
//!   before agentrail sees it (the counters of `netstat -su`).
//!
//! A message is parsed by [`agentrail_collect::syslog`] and normalized like
//! any record (the `syslog` mapping, or the mapping of a JSON message); one
//! that cannot be read goes to quarantine with the reason and its bytes, so
//! nothing received is dropped silently. Syslog has no authentication:
//! listen on a network only behind something that decides who may send.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use agentrail_collect::decode::Position;
use agentrail_collect::{Normalizer, SourceChoice, syslog};
use agentrail_event::{Event, Timestamp};
use agentrail_store::Quarantined;
use serde::Deserialize;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Semaphore, watch};

use crate::metrics::Metrics;
use crate::writer::Writer;

/// `[syslog]` in the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// Address for syslog over TCP, e.g. `127.0.0.1:6514`.
    #[serde(default)]
    pub tcp: Option<SocketAddr>,
    /// Address for syslog over UDP, e.g. `127.0.0.1:6514`.
    #[serde(default)]
    pub udp: Option<SocketAddr>,
    /// `auto` (the `syslog` mapping, or a JSON message's own) or a source name.
    #[serde(default = "default_source")]
    pub source: String,
    /// Largest message accepted; a longer one is quarantined (cut to this size).
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// TCP connections served at once; more wait to be accepted.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

fn default_source() -> String {
    "auto".to_owned()
}
fn default_max_message_bytes() -> usize {
    64 * 1024
}
fn default_max_connections() -> usize {
    256
}

/// Why the syslog listeners could not start.
#[derive(Debug, thiserror::Error)]
pub enum SyslogError {
    #[error("cannot listen for syslog over {protocol} on {addr}: {source}")]
    Bind {
        protocol: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("[syslog] source: {0}")]
    Source(String),
    #[error("[syslog] needs `tcp` or `udp` (an address to listen on)")]
    NoListener,
}

/// The bound listeners, before they serve.
pub struct SyslogListeners {
    tcp: Option<TcpListener>,
    udp: Option<UdpSocket>,
    intake: Intake,
    max_connections: usize,
}

impl std::fmt::Debug for SyslogListeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (tcp, udp) = self.addresses();
        f.debug_struct("SyslogListeners").field("tcp", &tcp).field("udp", &udp).finish()
    }
}

impl SyslogListeners {
    /// Binds the configured addresses (a port in use stops the start).
    pub async fn bind(
        config: &SyslogConfig,
        normalizer: Arc<Normalizer>,
        writer: Writer,
        metrics: Metrics,
    ) -> Result<SyslogListeners, SyslogError> {
        if config.tcp.is_none() && config.udp.is_none() {
            return Err(SyslogError::NoListener);
        }
        let choice = SourceChoice::parse(&config.source);
        normalizer.check_choice(&choice).map_err(|e| SyslogError::Source(e.to_string()))?;
        let tcp = match config.tcp {
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(|source| SyslogError::Bind {
                protocol: "TCP",
                addr,
                source,
            })?),
            None => None,
        };
        let udp = match config.udp {
            Some(addr) => Some(UdpSocket::bind(addr).await.map_err(|source| SyslogError::Bind {
                protocol: "UDP",
                addr,
                source,
            })?),
            None => None,
        };
        let intake = Intake { normalizer, choice, writer, metrics, max_message_bytes: config.max_message_bytes.max(1) };
        Ok(SyslogListeners { tcp, udp, intake, max_connections: config.max_connections.max(1) })
    }

    /// The bound addresses (TCP, UDP), for the startup message.
    pub fn addresses(&self) -> (Option<SocketAddr>, Option<SocketAddr>) {
        (self.tcp.as_ref().and_then(|l| l.local_addr().ok()), self.udp.as_ref().and_then(|s| s.local_addr().ok()))
    }

    /// Serves until `stopping`: connections in progress finish their current
    /// messages (written before this returns).
    pub async fn run(self, stopping: watch::Receiver<bool>) {
        let SyslogListeners { tcp, udp, intake, max_connections } = self;
        let tcp =
            tcp.map(|listener| tokio::spawn(serve_tcp(listener, intake.clone(), max_connections, stopping.clone())));
        let udp = udp.map(|socket| tokio::spawn(serve_udp(socket, intake, stopping)));
        for task in [tcp, udp].into_iter().flatten() {
            if let Err(error) = task.await {
                tracing::error!(%error, "a syslog listener failed");
            }
        }
    }
}

/// What turns received messages into stored events.
#[derive(Clone)]
struct Intake {
    normalizer: Arc<Normalizer>,
    choice: SourceChoice,
    writer: Writer,
    metrics: Metrics,
    max_message_bytes: usize,
}

impl Intake {
    /// Normalizes `messages`, each with the peer it came from (off the async
    /// threads), and makes them durable; returns once they are fsynced.
    async fn store(&self, messages: Vec<(SocketAddr, Vec<u8>)>, protocol: &'static str) {
        if messages.is_empty() {
            return;
        }
        let count = messages.len() as u64;
        let normalizer = Arc::clone(&self.normalizer);
        let choice = self.choice.clone();
        let limit = self.max_message_bytes;
        let normalized = tokio::task::spawn_blocking(move || {
            let now = Timestamp::now();
            let mut events: Vec<Event> = Vec::new();
            let mut rejects = Vec::new();
            for (n, (peer, message)) in messages.iter().enumerate() {
                let origin = format!("syslog+{protocol}:{peer}#{}", n + 1);
                let quarantine = |source: Option<String>, reason: String, raw: &[u8]| Quarantined {
                    received_at: now,
                    origin: origin.clone(),
                    source,
                    reason,
                    raw: raw.to_vec(),
                };
                if message.len() > limit {
                    let reason = format!("syslog: the message is {} bytes, over the limit of {limit}", message.len());
                    rejects.push(quarantine(None, reason, &message[..limit]));
                    continue;
                }
                let position = Position { line: n + 1, record: None };
                let normalized = match syslog::record(message, position) {
                    Ok(record) => normalizer.normalize_record(record, &choice),
                    Err(rejection) => Err(rejection.into()),
                };
                match normalized {
                    Ok(event) => events.push(event),
                    Err(rejection) => {
                        rejects.push(quarantine(rejection.source, rejection.reason.to_string(), &rejection.raw))
                    }
                }
            }
            (events, rejects)
        })
        .await;
        let (events, rejects) = match normalized {
            Ok(done) => done,
            Err(error) => {
                tracing::error!(%error, "syslog: normalization failed unexpectedly; the messages are lost");
                self.metrics.syslog_errors.add(count);
                return;
            }
        };
        self.metrics.received.add(count);
        self.metrics.rejected.add(rejects.len() as u64);
        match self.writer.write_waiting(events, rejects).await {
            Ok(_) => self.metrics.syslog_messages.add(count),
            Err(error) => {
                self.metrics.syslog_errors.add(count);
                tracing::error!(%error, protocol, "syslog: cannot store the messages");
            }
        }
    }
}

async fn serve_tcp(listener: TcpListener, intake: Intake, max_connections: usize, mut stopping: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(max_connections));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = stopping.wait_for(|stop| *stop) => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopping.wait_for(|stop| *stop) => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, say: wait a moment rather than spin.
                intake.metrics.syslog_errors.add(1);
                tracing::warn!(%error, "syslog: cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let intake = intake.clone();
        let stopping = stopping.clone();
        connections.spawn(async move {
            read_connection(stream, peer, &intake, stopping).await;
            drop(permit);
        });
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
    while connections.join_next().await.is_some() {}
}

/// Reads one connection's messages until it closes (or the server stops),
/// storing each read's complete messages before reading on.
async fn read_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    intake: &Intake,
    mut stopping: watch::Receiver<bool>,
) {
    let mut framer = Framer::new(intake.max_message_bytes);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let read = tokio::select! {
            read = stream.read(&mut chunk) => read,
            _ = stopping.wait_for(|stop| *stop) => break,
        };
        match read {
            Ok(0) => break,
            Ok(n) => {
                let messages = framer.push(&chunk[..n]);
                intake.store(messages.into_iter().map(|m| (peer, m)).collect(), "tcp").await;
            }
            Err(error) => {
                intake.metrics.syslog_errors.add(1);
                tracing::warn!(%error, %peer, "syslog: connection cut");
                break;
            }
        }
    }
    // A last message without its newline still counts.
    intake.store(framer.finish().into_iter().map(|m| (peer, m)).collect(), "tcp").await;
}

async fn serve_udp(socket: UdpSocket, intake: Intake, mut stopping: watch::Receiver<bool>) {
    // A datagram can be up to 64 KiB; a longer message than the limit is
    // kept cut (and quarantined), never silently truncated by a small buffer.
    let mut buffer = vec![0u8; 65_536];
    loop {
        let received = tokio::select! {
            received = socket.recv_from(&mut buffer) => received,
            _ = stopping.wait_for(|stop| *stop) => break,
        };
        let (n, peer) = match received {
            Ok(received) => received,
            Err(error) => {
                intake.metrics.syslog_errors.add(1);
                tracing::warn!(%error, "syslog: cannot receive a datagram");
                continue;
            }
        };
        let mut messages = vec![(peer, buffer[..n].to_vec())];
        // Whatever else has arrived, from any sender, is written in the same group.
        while messages.len() < 1024 {
            match socket.try_recv_from(&mut buffer) {
                Ok((n, from)) => messages.push((from, buffer[..n].to_vec())),
                Err(_) => break,
            }
        }
        intake.store(messages, "udp").await;
    }
}

/// Splits a TCP byte stream into messages, each framed by a newline or by
/// an octet count (`123 <34>1 …`).
struct Framer {
    buffer: Vec<u8>,
    limit: usize,
    /// What is left of an over-long message after the part kept.
    skip: Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    Nothing,
    ToNewline,
    Bytes(usize),
}

impl Framer {
    fn new(limit: usize) -> Framer {
        Framer { buffer: Vec::new(), limit, skip: Skip::Nothing }
    }

    /// Adds bytes; returns the messages now complete. An over-long message
    /// is returned cut to one byte over the limit (so it is quarantined as
    /// too long) and the rest of it is skipped.
    fn push(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        self.buffer.extend_from_slice(bytes);
        let mut messages = Vec::new();
        let mut start = 0;
        let kept = self.limit + 1;
        while start < self.buffer.len() {
            let rest = &self.buffer[start..];
            match self.skip {
                Skip::Bytes(n) => {
                    let skipped = n.min(rest.len());
                    start += skipped;
                    self.skip = if skipped == n { Skip::Nothing } else { Skip::Bytes(n - skipped) };
                    continue;
                }
                Skip::ToNewline => match rest.iter().position(|&b| b == b'\n') {
                    Some(end) => {
                        self.skip = Skip::Nothing;
                        start += end + 1;
                        continue;
                    }
                    None => {
                        start = self.buffer.len();
                        break;
                    }
                },
                Skip::Nothing => {}
            }
            if let Some((length, header)) = octet_count(rest) {
                let wanted = header + length.min(kept);
                if rest.len() < wanted {
                    break; // the rest of the frame is still on its way
                }
                messages.push(rest[header..wanted].to_vec());
                start += wanted;
                if length > kept {
                    self.skip = Skip::Bytes(length - kept);
                }
                continue;
            }
            match rest.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    let line = rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]);
                    if !line.trim_ascii().is_empty() {
                        messages.push(line[..line.len().min(kept)].to_vec());
                    }
                    start += end + 1;
                }
                None if rest.len() > self.limit => {
                    messages.push(rest[..kept].to_vec());
                    self.skip = Skip::ToNewline;
                    start = self.buffer.len();
                }
                None => break,
            }
        }
        self.buffer.drain(..start);
        messages
    }

    /// The bytes left when the connection closes, as a last message.
    fn finish(&mut self) -> Vec<Vec<u8>> {
        let rest = std::mem::take(&mut self.buffer);
        if self.skip != Skip::Nothing || rest.trim_ascii().is_empty() { Vec::new() } else { vec![rest] }
    }
}

/// `<digits> ` at the start of an octet-counted frame: the length and the
/// header's size. A newline-framed message starts with `<`, never a digit.
fn octet_count(bytes: &[u8]) -> Option<(usize, usize)> {
    let digits = bytes.iter().take(7).take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || bytes.get(digits) != Some(&b' ') {
        return None;
    }
    let length: usize = std::str::from_utf8(&bytes[..digits]).ok()?.parse().ok()?;
    (length > 0).then_some((length, digits + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newline_and_octet_counted_frames_split_across_reads() {
        let mut framer = Framer::new(1024);
        let first = "<13>1 - h a - - - one\n18 <13>1 - h a - -";
        assert_eq!(framer.push(first.as_bytes()), vec![b"<13>1 - h a - - - one".to_vec()]);
        // The counted frame's last bytes, then a CRLF line and half of another.
        let second = " - \r\n<13>Nov 24 06:30:01 host app: two\r\n<13>thr";
        let messages = framer.push(second.as_bytes());
        assert_eq!(messages, vec![b"<13>1 - h a - - - ".to_vec(), b"<13>Nov 24 06:30:01 host app: two".to_vec()]);
        assert!(framer.push(b"ee").is_empty());
        assert_eq!(framer.finish(), vec![b"<13>three".to_vec()]);
    }

    #[test]
    fn a_counted_frame_may_hold_newlines() {
        let message = "<13>1 - h a - - - line one\nline two";
        let framed = format!("{} {message}", message.len());
        let mut framer = Framer::new(1024);
        assert_eq!(framer.push(framed.as_bytes()), vec![message.as_bytes().to_vec()]);
    }

    #[test]
    fn over_long_messages_are_cut_once_and_the_stream_goes_on() {
        let mut framer = Framer::new(16);
        let long = format!("<13>{}\n<13>short\n40 {}<13>after\n", "x".repeat(40), "z".repeat(40));
        let messages = framer.push(long.as_bytes());
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert_eq!(messages[0].len(), 17, "cut to just over the limit, to be quarantined");
        assert_eq!(messages[1], b"<13>short");
        assert_eq!(messages[2], "z".repeat(17).as_bytes(), "a counted frame cut, its rest skipped by count");
        assert_eq!(messages[3], b"<13>after");
        // Over-long without a newline yet: cut now, the rest skipped up to the newline.
        let mut framer = Framer::new(16);
        assert_eq!(framer.push(format!("<13>{}", "y".repeat(30)).as_bytes()).len(), 1);
        assert!(framer.push(b"yyyy").is_empty());
        assert_eq!(framer.push(b"yy\n<13>next\n"), vec![b"<13>next".to_vec()]);
    }
}
