//! Echo servers standing in for a pod's containers: every TCP connection and UDP datagram gets its
//! bytes back. They listen in the network namespace of the thread that starts them.

use crate::spec::Protocol;
use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often blocked servers look at their stop flag.
const TICK: Duration = Duration::from_millis(100);

/// One address to serve: `tcp:10.244.1.5:5201`, `udp:[fd00::5]:53`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    pub protocol: Protocol,
    pub addr: SocketAddr,
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.protocol, self.addr)
    }
}

impl FromStr for Listen {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (proto, addr) = s
            .split_once(':')
            .ok_or_else(|| format!("{s:?}: expected PROTO:ADDR:PORT"))?;
        let protocol = match proto {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            _ => return Err(format!("{s:?}: protocol {proto:?} is not tcp or udp")),
        };
        let addr = addr
            .parse()
            .map_err(|_| format!("{s:?}: {addr:?} is not ADDR:PORT ([ADDR]:PORT for IPv6)"))?;
        Ok(Self { protocol, addr })
    }
}

impl serde::Serialize for Listen {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Listen {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Running echo servers; they stop when this is dropped.
#[derive(Debug)]
pub struct EchoServers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl EchoServers {
    /// Binds every address now (so a failure is returned here and clients may connect as soon as
    /// this returns), then serves each on its own thread.
    pub fn start(listens: &[Listen]) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut bound = Vec::with_capacity(listens.len());
        for l in listens {
            let socket = match l.protocol {
                Protocol::Tcp => Socket::Tcp(TcpListener::bind(l.addr)?),
                Protocol::Udp => Socket::Udp(UdpSocket::bind(l.addr)?),
                Protocol::Sctp => {
                    return Err(std::io::Error::new(
                        ErrorKind::Unsupported,
                        format!("{l}: only TCP and UDP are served"),
                    ))
                }
            };
            bound.push(socket);
        }
        let threads = bound
            .into_iter()
            .map(|socket| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || match socket {
                    Socket::Tcp(l) => serve_tcp(&l, &stop),
                    Socket::Udp(s) => serve_udp(&s, &stop),
                })
            })
            .collect();
        Ok(Self { stop, threads })
    }

    /// Stops every server and waits for them (at most about one tick), closing their sockets.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for EchoServers {
    fn drop(&mut self) {
        self.shutdown();
    }
}

enum Socket {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

/// Waits up to one tick for `fd` to be readable.
fn readable(fd: &impl AsRawFd) -> bool {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut p, 1, TICK.as_millis() as libc::c_int) };
    n > 0
}

fn serve_tcp(listener: &TcpListener, stop: &Arc<AtomicBool>) {
    let mut connections: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        if !readable(listener) {
            continue;
        }
        if let Ok((stream, _)) = listener.accept() {
            let stop = Arc::clone(stop);
            connections.push(std::thread::spawn(move || echo_stream(stream, &stop)));
        }
        connections.retain(|c| !c.is_finished());
    }
    for c in connections {
        let _ = c.join();
    }
}

fn echo_stream(mut stream: TcpStream, stop: &AtomicBool) {
    if stream.set_read_timeout(Some(TICK)).is_err() {
        return;
    }
    let mut buf = [0u8; 16 * 1024];
    while !stop.load(Ordering::Relaxed) {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

fn serve_udp(socket: &UdpSocket, stop: &AtomicBool) {
    let mut buf = [0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        if !readable(socket) {
            continue;
        }
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            // A reply that cannot be sent (peer gone) is as lost as any datagram.
            let _ = socket.send_to(&buf[..n], from);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_text() {
        for text in ["tcp:10.0.0.1:80", "udp:[fd00::1]:53"] {
            assert_eq!(text.parse::<Listen>().unwrap().to_string(), text);
        }
        for bad in ["10.0.0.1:80", "sctp:10.0.0.1:80", "tcp:fd00::1:53", "tcp:x"] {
            assert!(bad.parse::<Listen>().is_err(), "{bad}");
        }
    }

    #[test]
    fn echoes_tcp_and_udp() {
        let tcp: Listen = "tcp:127.0.0.1:0".parse().unwrap();
        // Port 0 cannot be told to a client, so bind a fixed free port found first.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let tcp = Listen {
            addr: SocketAddr::new(tcp.addr.ip(), port),
            ..tcp
        };
        let udp = Listen {
            protocol: Protocol::Udp,
            ..tcp
        };
        let servers = EchoServers::start(&[tcp, udp]).unwrap();
        let mut s = TcpStream::connect(tcp.addr).unwrap();
        s.write_all(b"hello").unwrap();
        let mut got = [0u8; 5];
        s.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello");
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        u.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        u.send_to(b"ping", udp.addr).unwrap();
        let mut buf = [0u8; 8];
        let n = u.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"ping");
        drop(s);
        servers.stop();
        assert!(TcpStream::connect(tcp.addr).is_err());
    }
}
