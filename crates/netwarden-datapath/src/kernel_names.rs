//! Names of kernel enum values, read from the running kernel's BTF rather than a table that goes
//! stale with every kernel release.

use netwarden_bpf::btf::{Btf, EnumNames};

/// `NW_DROP_CAUSE_POD_GUARD_BLOCKED` (bpf/include/netwarden/marks.h): a packet the pod guard
/// dropped, recorded instead of the kernel's generic TC_INGRESS reason.
pub const DROP_CAUSE_POD_GUARD_BLOCKED: u32 = 0x4e57_0001;

/// `NW_DROP_CAUSE_POLICY_DENIED`: a packet the pod guard dropped because network policy denies
/// its connection (enforce mode).
pub const DROP_CAUSE_POLICY_DENIED: u32 = 0x4e57_0002;

/// Drop reason and TCP state names of this kernel.
#[derive(Debug, Clone, Default)]
pub struct KernelNames {
    drop_reasons: EnumNames,
    tcp_states: EnumNames,
}

impl KernelNames {
    /// Reads `enum skb_drop_reason` and the TCP states from /sys/kernel/btf/vmlinux.
    pub fn from_kernel() -> Result<Self, netwarden_bpf::btf::BtfError> {
        Ok(Self::from_btf(&Btf::from_kernel()?))
    }

    /// Reads the names from a parsed BTF.
    pub fn from_btf(btf: &Btf) -> Self {
        Self {
            drop_reasons: EnumNames::new(btf.enum_members("skb_drop_reason").unwrap_or_default()),
            tcp_states: EnumNames::new(btf.enum_with_member("TCP_ESTABLISHED").unwrap_or_default()),
        }
    }

    /// `SKB_DROP_REASON_NO_SOCKET` for the kernel's value; unknown values (e.g. a subsystem's own
    /// reasons) keep their number so nothing is hidden.
    pub fn drop_reason(&self, value: u32) -> String {
        if value == DROP_CAUSE_POD_GUARD_BLOCKED {
            return "NETWARDEN_POD_GUARD_BLOCKED".to_string();
        }
        if value == DROP_CAUSE_POLICY_DENIED {
            return "NETWARDEN_NETWORK_POLICY_DENIED".to_string();
        }
        match self.drop_reasons.name(value as i64) {
            Some(name) => name.to_string(),
            None => format!("SKB_DROP_REASON_{value:#x}"),
        }
    }

    /// `TCP_ESTABLISHED` for 1; `None` for 0 (no socket).
    pub fn tcp_state(&self, value: u8) -> Option<String> {
        if value == 0 {
            return None;
        }
        Some(match self.tcp_states.name(value as i64) {
            Some(name) => name.to_string(),
            None => format!("TCP_STATE_{value}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_running_kernel() {
        let names = KernelNames::from_kernel().expect("kernel BTF");
        assert_eq!(
            names.drop_reason(names_value("SKB_DROP_REASON_NO_SOCKET")),
            "SKB_DROP_REASON_NO_SOCKET"
        );
        assert_eq!(names.tcp_state(1).as_deref(), Some("TCP_ESTABLISHED"));
        assert_eq!(names.tcp_state(0), None);
        assert_eq!(names.drop_reason(0xdead_beef), "SKB_DROP_REASON_0xdeadbeef");
    }

    fn names_value(name: &str) -> u32 {
        let btf = Btf::from_kernel().unwrap();
        btf.enum_members("skb_drop_reason")
            .unwrap()
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap()
            .1 as u32
    }
}
