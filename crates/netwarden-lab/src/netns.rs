//! A network namespace owned by this process.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// A command that failed, with what it printed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("{command}: {reason}")]
    Command { command: String, reason: String },
    #[error("entering network namespace {name}: {source}")]
    Enter {
        name: String,
        source: std::io::Error,
    },
}

/// Runs `args` (program first), discarding its output.
fn run(args: &[&str]) -> Result<(), LabError> {
    crate::sys::run(args).map(drop)
}

/// A short tag unique within this machine for the life of this process (interface names have 15
/// characters at most, so keep prefixes short).
pub fn unique_tag() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{:x}{:02x}", std::process::id() % 0x10000, n)
}

/// A `Command` that runs `program` in network namespace `name` but, unlike `ip netns exec`, keeps
/// this process's mounts: /sys/fs/bpf stays the host's bpffs, so pinned BPF objects are shared with
/// the caller.
pub fn command_keep_mounts(name: &str, program: &str) -> std::io::Result<Command> {
    use std::os::unix::process::CommandExt;
    let file = File::open(format!("/var/run/netns/{name}"))?;
    let mut c = Command::new(program);
    // SAFETY: setns is async-signal-safe; the fd stays open (moved into the closure) until exec.
    unsafe {
        c.pre_exec(move || {
            if libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Ok(c)
}

/// A network namespace (`ip netns add`), deleted on drop with everything inside it.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Creates the namespace and brings its loopback up.
    pub fn create(name: impl Into<String>) -> Result<Self, LabError> {
        let name = name.into();
        run(&["ip", "netns", "add", &name])?;
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// `ip -n NAME ARGS...`
    pub fn ip(&self, args: &[&str]) -> Result<(), LabError> {
        let mut full = vec!["ip", "-n", self.name.as_str()];
        full.extend_from_slice(args);
        run(&full)
    }

    /// `sysctl -w KEY=VALUE` inside the namespace.
    pub fn sysctl(&self, key: &str, value: &str) -> Result<(), LabError> {
        run(&[
            "ip",
            "netns",
            "exec",
            &self.name,
            "sysctl",
            "-qw",
            &format!("{key}={value}"),
        ])
    }

    /// A `Command` that runs `program` inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// A `Command` that runs `program` in this namespace keeping the caller's mounts (see
    /// [`command_keep_mounts`]).
    pub fn command_keep_mounts(&self, program: &str) -> std::io::Result<Command> {
        command_keep_mounts(&self.name, program)
    }

    /// A veth pair: `local` stays here, `peer` goes to `other`. Both come up with the given addresses
    /// (CIDR notation; IPv6 ones skip duplicate address detection so they are usable at once).
    pub fn veth_to(
        &self,
        local: &str,
        local_addrs: &[&str],
        other: &Netns,
        peer: &str,
        peer_addrs: &[&str],
    ) -> Result<(), LabError> {
        self.ip(&[
            "link",
            "add",
            local,
            "type",
            "veth",
            "peer",
            "name",
            peer,
            "netns",
            &other.name,
        ])?;
        for (ns, dev, addrs) in [(self, local, local_addrs), (other, peer, peer_addrs)] {
            for addr in addrs {
                if addr.contains(':') {
                    ns.ip(&["addr", "add", addr, "dev", dev, "nodad"])?;
                } else {
                    ns.ip(&["addr", "add", addr, "dev", dev])?;
                }
            }
            ns.ip(&["link", "set", dev, "up"])?;
        }
        Ok(())
    }

    /// A veth pair from the namespace this process is in (`host_if`, with `host_addrs`) to this one
    /// (`ns_if`, with `ns_addrs`). Deleting this namespace deletes the pair.
    pub fn veth_from_host(
        &self,
        host_if: &str,
        host_addrs: &[&str],
        ns_if: &str,
        ns_addrs: &[&str],
    ) -> Result<(), LabError> {
        run(&[
            "ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if, "netns",
            &self.name,
        ])?;
        for addr in host_addrs {
            let mut args = vec!["ip", "addr", "add", addr, "dev", host_if];
            if addr.contains(':') {
                args.push("nodad");
            }
            run(&args)?;
        }
        run(&["ip", "link", "set", host_if, "up"])?;
        for addr in ns_addrs {
            let mut args = vec!["addr", "add", addr, "dev", ns_if];
            if addr.contains(':') {
                args.push("nodad");
            }
            self.ip(&args)?;
        }
        self.ip(&["link", "set", ns_if, "up"])
    }

    /// Runs `f` on a new thread inside the namespace and waits for it. Sockets it creates belong to
    /// the namespace wherever they are used afterwards.
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, LabError> {
        match self.spawn(f)?.join() {
            Ok(v) => Ok(v),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Like [`Netns::run`] without waiting. The namespace is entered before this returns.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<std::thread::JoinHandle<T>, LabError> {
        let path = format!("/var/run/netns/{}", self.name);
        let file = File::open(&path).map_err(|source| LabError::Enter {
            name: self.name.clone(),
            source,
        })?;
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            // SAFETY: setns affects only this thread; the fd is a valid namespace file.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            let entered = if rc == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            };
            let ok = entered.is_ok();
            let _ = tx.send(entered);
            if !ok {
                // The caller gets the error from the channel; f never runs outside the namespace.
                std::panic::resume_unwind(Box::new("setns failed"));
            }
            f()
        });
        match rx.recv() {
            Ok(Ok(())) => Ok(handle),
            Ok(Err(source)) => Err(LabError::Enter {
                name: self.name.clone(),
                source,
            }),
            Err(_) => Err(LabError::Enter {
                name: self.name.clone(),
                source: std::io::Error::other("thread died"),
            }),
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_isolated_and_removed() {
        let tag = unique_tag();
        let a = Netns::create(format!("nwl{tag}a")).unwrap();
        let b = Netns::create(format!("nwl{tag}b")).unwrap();
        a.veth_to(
            &format!("la{tag}"),
            &["10.99.0.1/30"],
            &b,
            &format!("lb{tag}"),
            &["10.99.0.2/30"],
        )
        .unwrap();
        let sock = b
            .run(|| std::net::UdpSocket::bind("10.99.0.2:5000").unwrap())
            .unwrap();
        let client = a
            .run(|| std::net::UdpSocket::bind("10.99.0.1:0").unwrap())
            .unwrap();
        client.send_to(b"hi", "10.99.0.2:5000").unwrap();
        sock.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let mut buf = [0u8; 8];
        let (n, from) = sock.recv_from(&mut buf).unwrap();
        assert_eq!(
            (&buf[..n], from.ip().to_string().as_str()),
            (&b"hi"[..], "10.99.0.1")
        );
        // The address exists only inside the namespaces.
        assert!(std::net::UdpSocket::bind("10.99.0.2:5000").is_err());
        let name = a.name.clone();
        drop(a);
        assert!(!std::path::Path::new(&format!("/var/run/netns/{name}")).exists());
    }

    #[test]
    fn errors_name_the_command() {
        let err = Netns::create("bad/name").unwrap_err().to_string();
        assert!(err.starts_with("ip netns add bad/name:"), "{err}");
    }
}
