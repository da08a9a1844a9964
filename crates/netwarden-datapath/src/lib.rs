//! The userspace side of netwarden's eBPF datapath.
//!
//! [`capture`] loads the flow capture object, attaches it to the selected interfaces (following
//! interfaces as they come and go), evicts flows from the kernel and turns them into
//! [`netwarden_model::FlowRecord`]s. [`interfaces`] lists and selects interfaces, [`kernel_names`]
//! names kernel enum values from BTF, [`sys`] holds the few BPF syscalls aya does not wrap.
//! [`podguard`] guards pods' network access on the host side of their interfaces.

pub mod capture;
pub mod firewall;
pub mod interfaces;
pub mod kernel_names;
pub mod podguard;
pub mod sys;

pub use capture::{Capture, CaptureConfig, CaptureError, EvictStats, LossCounters};
