//! The floor of a BPF_PROG_TEST_RUN measurement: the kernel's mean per run of an XDP program that
//! only returns XDP_PASS. It is the harness's own cost (loop, context setup, the indirect call into
//! the program, costly under retpolines), part of every figure and none of the firewall's work.

use netwarden_datapath::sys;
use std::io;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TYPE_XDP: u32 = 6;

/// The head of `union bpf_attr` as BPF_PROG_LOAD reads it (the kernel takes the rest as zero).
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// Loads `r0 = XDP_PASS; exit`.
fn load_pass_program() -> io::Result<OwnedFd> {
    // BPF_ALU64 | BPF_MOV | BPF_K into r0, imm 2; then BPF_JMP | BPF_EXIT.
    let insns: [u64; 2] = [
        u64::from_le_bytes([0xb7, 0, 0, 0, 2, 0, 0, 0]),
        u64::from_le_bytes([0x95, 0, 0, 0, 0, 0, 0, 0]),
    ];
    let license = c"GPL";
    let mut name = [0u8; 16];
    name[..7].copy_from_slice(b"nw_pass");
    let attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_XDP,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    // SAFETY: attr points at instructions and a license string that live for the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &attr as *const ProgLoadAttr,
            std::mem::size_of::<ProgLoadAttr>() as u32,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Mean ns per run of the pass-only program on `frame` arriving on `ifindex`, one measurement per
/// element of the result.
pub fn measure(frame: &[u8], ifindex: u32, repeat: u32, runs: usize) -> io::Result<Vec<u32>> {
    let prog = load_pass_program()?;
    sys::xdp_test_run(prog.as_fd(), frame, ifindex, 1000)?;
    (0..runs)
        .map(|_| sys::xdp_test_run(prog.as_fd(), frame, ifindex, repeat).map(|r| r.duration_ns))
        .collect()
}
