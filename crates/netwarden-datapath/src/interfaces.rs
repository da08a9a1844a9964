//! Network interfaces of this namespace: listing them, their link type, and which ones to capture on.

use regex::Regex;
use std::collections::BTreeMap;
use std::ffi::CStr;

/// An interface as the kernel lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub index: u32,
    pub name: String,
}

/// Every interface of the calling thread's network namespace, by index.
///
/// `if_nameindex` asks the kernel over netlink, so it sees the namespace we are in (unlike
/// /sys/class/net, which shows the namespace sysfs was mounted from).
pub fn list() -> std::io::Result<BTreeMap<u32, String>> {
    // SAFETY: if_nameindex returns a NULL-terminated array we free with if_freenameindex.
    unsafe {
        let head = libc::if_nameindex();
        if head.is_null() {
            return Err(std::io::Error::last_os_error());
        }
        let mut out = BTreeMap::new();
        let mut cur = head;
        while (*cur).if_index != 0 && !(*cur).if_name.is_null() {
            let name = CStr::from_ptr((*cur).if_name)
                .to_string_lossy()
                .into_owned();
            out.insert((*cur).if_index, name);
            cur = cur.add(1);
        }
        libc::if_freenameindex(head);
        Ok(out)
    }
}

/// Index of the interface called `name`, if it exists now.
pub fn index_of(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: valid C string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (idx != 0).then_some(idx)
}

/// Whether frames on this interface start with an Ethernet header (most do; tun and wireguard
/// interfaces carry bare IP packets). Unknown or vanished interfaces count as Ethernet.
pub fn has_ethernet_header(name: &str) -> bool {
    const ARPHRD_NONE: u16 = 0xfffe;
    const ARPHRD_IPGRE: u16 = 778;
    const ARPHRD_TUNNEL: u16 = 768;
    const ARPHRD_TUNNEL6: u16 = 769;
    const ARPHRD_SIT: u16 = 776;
    const ARPHRD_RAWIP: u16 = 519;
    if name.len() >= libc::IFNAMSIZ {
        return true;
    }
    // SAFETY: a plain ioctl on a throwaway socket with a zeroed, NUL-terminated ifreq.
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            return true;
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(name.as_bytes()) {
            *dst = *src as libc::c_char;
        }
        let ret = libc::ioctl(sock, libc::SIOCGIFHWADDR, &mut req);
        libc::close(sock);
        if ret < 0 {
            return true;
        }
        let family = req.ifr_ifru.ifru_hwaddr.sa_family;
        !matches!(
            family,
            ARPHRD_NONE | ARPHRD_IPGRE | ARPHRD_TUNNEL | ARPHRD_TUNNEL6 | ARPHRD_SIT | ARPHRD_RAWIP
        )
    }
}

/// Which interfaces to capture on: names matching `include` (all when absent) and not `exclude`.
#[derive(Debug, Clone)]
pub struct InterfaceSelector {
    include: Option<Regex>,
    exclude: Option<Regex>,
}

impl InterfaceSelector {
    /// The default: every interface except loopback.
    pub fn all_but_loopback() -> Self {
        Self {
            include: None,
            exclude: Some(Regex::new("^lo$").expect("static regex")),
        }
    }

    /// Selector from regexes; `None` keeps the default for that side (include all, exclude `^lo$`).
    pub fn new(include: Option<Regex>, exclude: Option<Regex>) -> Self {
        let default = Self::all_but_loopback();
        Self {
            include,
            exclude: exclude.or(default.exclude),
        }
    }

    /// Whether `name` is selected.
    pub fn selects(&self, name: &str) -> bool {
        self.include.as_ref().is_none_or(|re| re.is_match(name))
            && !self.exclude.as_ref().is_some_and(|re| re.is_match(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_table() {
        let re = |s: &str| Some(Regex::new(s).unwrap());
        let cases: &[(InterfaceSelector, &str, bool)] = &[
            (InterfaceSelector::all_but_loopback(), "eth0", true),
            (InterfaceSelector::all_but_loopback(), "lo", false),
            (InterfaceSelector::all_but_loopback(), "lo0", true),
            (InterfaceSelector::new(re("^veth"), None), "veth12", true),
            (InterfaceSelector::new(re("^veth"), None), "eth0", false),
            (InterfaceSelector::new(re("^veth"), None), "lo", false),
            (
                InterfaceSelector::new(None, re("^(lo|docker.*)$")),
                "docker0",
                false,
            ),
            (
                InterfaceSelector::new(None, re("^(lo|docker.*)$")),
                "eth1",
                true,
            ),
            (InterfaceSelector::new(re("^lo$"), re("^$")), "lo", true),
        ];
        for (sel, name, want) in cases {
            assert_eq!(sel.selects(name), *want, "{name} with {sel:?}");
        }
    }

    #[test]
    fn loopback_is_listed_with_its_index() {
        let all = list().unwrap();
        let lo = index_of("lo").unwrap();
        assert_eq!(all.get(&lo).map(String::as_str), Some("lo"));
        assert!(has_ethernet_header("lo"));
        assert_eq!(index_of("nw-no-such-if0"), None);
    }
}
