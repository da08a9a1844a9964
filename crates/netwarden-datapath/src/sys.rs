//! BPF syscalls that aya 0.14 does not wrap.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

const BPF_MAP_LOOKUP_AND_DELETE_BATCH: libc::c_long = 25;

/// The `batch` member of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// Removes every element of a (non-per-CPU) hash map, handing each key and value to `each`.
///
/// Uses `BPF_MAP_LOOKUP_AND_DELETE_BATCH`: a few syscalls for 100k flows instead of 200k. The caller
/// guarantees no program writes the map meanwhile (it has been swapped out of its slot).
pub fn drain_hash_map(
    map: BorrowedFd<'_>,
    key_size: usize,
    value_size: usize,
    mut each: impl FnMut(&[u8], &[u8]),
) -> io::Result<usize> {
    // Large enough for any bucket; ENOSPC below grows it if a bucket ever holds more.
    let mut batch = 4096usize;
    let mut keys = vec![0u8; batch * key_size];
    let mut values = vec![0u8; batch * value_size];
    let mut token_in = 0u64;
    let mut token_out = 0u64;
    let mut first = true;
    let mut total = 0;
    loop {
        let mut attr = BatchAttr {
            in_batch: if first {
                0
            } else {
                &token_in as *const u64 as u64
            },
            out_batch: &mut token_out as *mut u64 as u64,
            keys: keys.as_mut_ptr() as u64,
            values: values.as_mut_ptr() as u64,
            count: batch as u32,
            map_fd: map.as_raw_fd() as u32,
            ..Default::default()
        };
        // SAFETY: attr points at buffers sized for `count` keys and values that outlive the call.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_MAP_LOOKUP_AND_DELETE_BATCH,
                &mut attr as *mut BatchAttr,
                std::mem::size_of::<BatchAttr>() as u32,
            )
        };
        let err = if ret < 0 {
            Some(io::Error::last_os_error())
        } else {
            None
        };
        if let Some(e) = &err {
            if e.raw_os_error() == Some(libc::ENOSPC) && attr.count == 0 {
                batch *= 2;
                keys.resize(batch * key_size, 0);
                values.resize(batch * value_size, 0);
                continue;
            }
        }
        let n = attr.count as usize;
        for i in 0..n {
            each(
                &keys[i * key_size..(i + 1) * key_size],
                &values[i * value_size..(i + 1) * value_size],
            );
        }
        total += n;
        match err {
            None => {}
            Some(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(total),
            Some(e) => return Err(e),
        }
        token_in = token_out;
        first = false;
    }
}

/// Inode number of this thread's network namespace (what `nw_netns_ino` filters drops by).
pub fn current_netns_inode() -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata("/proc/thread-self/ns/net")?.ino())
}

/// CLOCK_MONOTONIC (the clock of `bpf_ktime_get_ns`) and CLOCK_REALTIME, in nanoseconds, read together.
pub fn clocks_ns() -> (u64, i128) {
    fn read(clock: libc::clockid_t) -> i128 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: valid out pointer; these clocks always exist on Linux.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
    }
    let mono = read(libc::CLOCK_MONOTONIC);
    let real = read(libc::CLOCK_REALTIME);
    (mono as u64, real)
}

const BPF_PROG_TEST_RUN: libc::c_long = 10;

/// The `test` member of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}

/// What `BPF_PROG_TEST_RUN` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestRun {
    /// The program's return value (of the last run).
    pub retval: i32,
    /// Mean nanoseconds per run, as the kernel measured it.
    pub duration_ns: u32,
}

/// Runs a loaded program `repeat` times on `frame` without attaching it (`BPF_PROG_TEST_RUN`).
pub fn prog_test_run(prog: BorrowedFd<'_>, frame: &[u8], repeat: u32) -> io::Result<TestRun> {
    test_run(prog, frame, repeat, None)
}

/// `struct xdp_md` as a test run's context: only the receiving interface is set.
#[repr(C)]
#[derive(Default)]
struct XdpMd {
    data: u32,
    data_end: u32,
    data_meta: u32,
    ingress_ifindex: u32,
    rx_queue_index: u32,
    egress_ifindex: u32,
}

/// Runs a loaded XDP program `repeat` times on `frame` as if it arrived on `ifindex`.
pub fn xdp_test_run(
    prog: BorrowedFd<'_>,
    frame: &[u8],
    ifindex: u32,
    repeat: u32,
) -> io::Result<TestRun> {
    let ctx = XdpMd {
        data_end: frame.len() as u32,
        ingress_ifindex: ifindex,
        ..Default::default()
    };
    test_run(prog, frame, repeat, Some(&ctx))
}

fn test_run(
    prog: BorrowedFd<'_>,
    frame: &[u8],
    repeat: u32,
    xdp_ctx: Option<&XdpMd>,
) -> io::Result<TestRun> {
    let mut out = vec![0u8; frame.len() + 256];
    let (ctx_in, ctx_size) = match xdp_ctx {
        Some(c) => (c as *const XdpMd as u64, size_of::<XdpMd>() as u32),
        None => (0, 0),
    };
    let mut attr = TestRunAttr {
        ctx_in,
        ctx_size_in: ctx_size,
        prog_fd: prog.as_raw_fd() as u32,
        data_size_in: frame.len() as u32,
        data_size_out: out.len() as u32,
        data_in: frame.as_ptr() as u64,
        data_out: out.as_mut_ptr() as u64,
        repeat: repeat.max(1),
        ..Default::default()
    };
    // SAFETY: attr points at buffers of the sizes it states, valid for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_TEST_RUN,
            &mut attr as *mut TestRunAttr,
            std::mem::size_of::<TestRunAttr>() as u32,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TestRun {
        retval: attr.retval as i32,
        duration_ns: attr.duration,
    })
}
