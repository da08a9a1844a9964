//! A packet generator: threads in a namespace writing one prepared frame to an interface as fast
//! as they can, through AF_PACKET sockets that bypass the qdisc, in batches of `sendmmsg`.
//!
//! A UDP socket would spend most of each packet in its own stack (route, neighbour, qdisc), and
//! on a veth pair that cost lands on the same CPU as the receiver's; raw frames leave more of the
//! CPU to the receiving side the bench compares.

use netwarden_datapath::interfaces;
use netwarden_lab::Netns;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

const BATCH: usize = 64;

pub struct PacketGen {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    threads: Vec<JoinHandle<io::Result<()>>>,
}

impl PacketGen {
    /// Starts `threads` senders of `frame` out of `interface` in `ns`.
    pub fn start(
        ns: &Netns,
        interface: &str,
        frame: Vec<u8>,
        threads: usize,
    ) -> anyhow::Result<Self> {
        let mut gen = Self {
            stop: Arc::new(AtomicBool::new(false)),
            sent: Arc::new(AtomicU64::new(0)),
            threads: Vec::new(),
        };
        for _ in 0..threads.max(1) {
            let (stop, sent) = (Arc::clone(&gen.stop), Arc::clone(&gen.sent));
            let (frame, interface) = (frame.clone(), interface.to_string());
            gen.threads
                .push(ns.spawn(move || send(&interface, &frame, &stop, &sent))?);
        }
        Ok(gen)
    }

    /// Frames handed to the interface so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Stops the senders.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.halt()
    }

    fn halt(&mut self) -> anyhow::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            match t.join() {
                Ok(r) => r?,
                Err(_) => anyhow::bail!("a packet generator thread panicked"),
            }
        }
        Ok(())
    }
}

impl Drop for PacketGen {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

fn send(interface: &str, frame: &[u8], stop: &AtomicBool, sent: &AtomicU64) -> io::Result<()> {
    let sock = packet_socket(interface)?;
    let mut iov = libc::iovec {
        iov_base: frame.as_ptr() as *mut libc::c_void,
        iov_len: frame.len(),
    };
    let iov_ptr: *mut libc::iovec = &mut iov;
    let mut msgs: Vec<libc::mmsghdr> = (0..BATCH)
        .map(|_| {
            // SAFETY: an all-zero mmsghdr is valid (no name, no control data).
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            // Every message is the same frame; the kernel only reads it.
            m.msg_hdr.msg_iov = iov_ptr;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: BATCH valid headers, each pointing at one iovec over `frame`, live for the call.
        let n = unsafe {
            libc::sendmmsg(
                sock.as_raw_fd(),
                msgs.as_mut_ptr(),
                BATCH as libc::c_uint,
                0,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            // The device refused a frame (its queue is stopped, or memory is short): go on.
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOBUFS | libc::EAGAIN | libc::EBUSY)
            ) {
                std::thread::yield_now();
                continue;
            }
            return Err(e);
        }
        sent.fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok(())
}

/// An AF_PACKET socket bound to `interface` for sending only (protocol 0: it receives nothing).
fn packet_socket(interface: &str) -> io::Result<OwnedFd> {
    let ifindex = interfaces::index_of(interface)
        .ok_or_else(|| io::Error::other(format!("no interface {interface}")))?;
    // SAFETY: plain socket call; the fd is owned from here on.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd nobody else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: an all-zero sockaddr_ll is valid; the fields that matter are set below.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_ifindex = ifindex as i32;
    // SAFETY: addr is a sockaddr_ll of the size given.
    let rc = unsafe {
        libc::bind(
            sock.as_raw_fd(),
            &addr as *const libc::sockaddr_ll as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let one: libc::c_int = 1;
    // SAFETY: an int option of the size given.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_QDISC_BYPASS,
            &one as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as u32,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sock)
}
