//! The few rtnetlink requests the pod guard needs, on one socket of the calling thread's network
//! namespace: the route to an address (`ip route get`), a link's name, kind and master, and the
//! neighbour and bridge forwarding tables (to find a bridged pod's port).

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NLMSG_HDR: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
const RTM_NEWNEIGH: u16 = 28;
const RTM_GETNEIGH: u16 = 30;

const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_MULTIPATH: u16 = 9;
const RTA_VIA: u16 = 18;

const IFLA_IFNAME: u16 = 3;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;

const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
const NDA_MASTER: u16 = 9;

const AF_BRIDGE: u8 = 7;
/// Neighbour states that carry no usable link-layer address.
const NUD_INCOMPLETE: u16 = 0x01;
const NUD_FAILED: u16 = 0x20;

/// `rtm_type` of an address of this host.
pub const RTN_LOCAL: u8 = 2;

/// What the kernel's routing says about an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// `rtm_type` (RTN_UNICAST, RTN_LOCAL, ...).
    pub kind: u8,
    /// The output interface.
    pub oif: Option<u32>,
    /// Reached through a gateway (or several): not on a link of this node.
    pub via_gateway: bool,
}

/// A link's name, kind (`veth`, `bridge`...; empty when the driver reports none) and master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub kind: String,
    pub master: Option<u32>,
}

/// An IP neighbour: address, link-layer address and the interface it was learned on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    pub ifindex: u32,
    pub ip: IpAddr,
    pub lladdr: Vec<u8>,
}

/// A bridge forwarding entry: `lladdr` is behind port `ifindex` of bridge `master`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdbEntry {
    pub ifindex: u32,
    pub master: Option<u32>,
    pub lladdr: Vec<u8>,
}

/// An rtnetlink socket.
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn push_attr(msg: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let len = 4 + data.len();
    msg.extend_from_slice(&(len as u16).to_ne_bytes());
    msg.extend_from_slice(&kind.to_ne_bytes());
    msg.extend_from_slice(data);
    msg.resize(align4(msg.len()), 0);
}

/// The attributes in `data`: (type without flag bits, payload).
fn attrs(mut data: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let len = u16::from_ne_bytes([data[0], data[1]]) as usize;
        let kind = u16::from_ne_bytes([data[2], data[3]]) & 0x3fff;
        if len < 4 || len > data.len() {
            break;
        }
        out.push((kind, &data[4..len]));
        data = &data[align4(len).min(data.len())..];
    }
    out
}

fn u32_of(b: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(..4)?.try_into().ok()?))
}

fn ip_of(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(b).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(b).ok()?)),
        _ => None,
    }
}

fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

impl Netlink {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Netlink> {
        // SAFETY: plain socket/bind/setsockopt calls on a fresh fd we own.
        unsafe {
            let fd = libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            );
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            let fd = OwnedFd::from_raw_fd(fd);
            let mut addr: libc::sockaddr_nl = std::mem::zeroed();
            addr.nl_family = libc::AF_NETLINK as u16;
            if libc::bind(
                fd.as_raw_fd(),
                &addr as *const libc::sockaddr_nl as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // A request never waits long for its answer; never hang the caller on a lost one.
            let tv = libc::timeval {
                tv_sec: 1,
                tv_usec: 0,
            };
            if libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const libc::timeval as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as u32,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            Ok(Netlink {
                fd,
                seq: 1,
                buf: vec![0; 64 * 1024],
            })
        }
    }

    /// Sends a request (`body` after the header) and hands every answer message of type `want`
    /// (its payload after the header) to `each`, until the answer ends.
    fn request(
        &mut self,
        kind: u16,
        flags: u16,
        body: &[u8],
        want: u16,
        mut each: impl FnMut(&[u8]),
    ) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut msg = Vec::with_capacity(NLMSG_HDR + body.len());
        msg.extend_from_slice(&((NLMSG_HDR + body.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&kind.to_ne_bytes());
        msg.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        msg.extend_from_slice(&seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(body);
        // SAFETY: sending an initialised buffer on our socket (the kernel is the destination).
        let sent = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                msg.as_ptr() as *const libc::c_void,
                msg.len(),
                0,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let dump = flags & NLM_F_DUMP != 0;
        loop {
            // SAFETY: receiving into our buffer, bounded by its length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr() as *mut libc::c_void,
                    self.buf.len(),
                    0,
                )
            };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut data = &self.buf[..n as usize];
            while data.len() >= NLMSG_HDR {
                let len = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]) as usize;
                let mtype = u16::from_ne_bytes([data[4], data[5]]);
                let mseq = u32::from_ne_bytes([data[8], data[9], data[10], data[11]]);
                if len < NLMSG_HDR || len > data.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "truncated netlink message",
                    ));
                }
                let payload = &data[NLMSG_HDR..len];
                data = &data[align4(len).min(data.len())..];
                if mseq != seq {
                    // An answer to an earlier request that timed out: not ours.
                    continue;
                }
                match mtype {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => {
                        let code = payload
                            .get(..4)
                            .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                        return if code == 0 {
                            Ok(())
                        } else {
                            Err(io::Error::from_raw_os_error(-code))
                        };
                    }
                    t if t == want => {
                        each(payload);
                        if !dump {
                            return Ok(());
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// The route the kernel would use to reach `ip` (`ip route get`). Unreachable addresses are
    /// errors (ENETUNREACH, EHOSTUNREACH...).
    pub fn route_get(&mut self, ip: IpAddr) -> io::Result<Route> {
        let (family, addr): (u8, Vec<u8>) = match ip {
            IpAddr::V4(a) => (libc::AF_INET as u8, a.octets().to_vec()),
            IpAddr::V6(a) => (libc::AF_INET6 as u8, a.octets().to_vec()),
        };
        // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
        let mut body = vec![family, (addr.len() * 8) as u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        push_attr(&mut body, RTA_DST, &addr);
        let mut route = None;
        self.request(RTM_GETROUTE, 0, &body, RTM_NEWROUTE, |p| {
            if p.len() < 12 {
                return;
            }
            let mut r = Route {
                kind: p[7],
                oif: None,
                via_gateway: false,
            };
            for (kind, data) in attrs(&p[12..]) {
                match kind {
                    RTA_OIF => r.oif = u32_of(data),
                    RTA_GATEWAY | RTA_VIA | RTA_MULTIPATH => r.via_gateway = true,
                    _ => {}
                }
            }
            route = Some(r);
        })?;
        route.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no route in the answer"))
    }

    /// The link with index `index`.
    pub fn link(&mut self, index: u32) -> io::Result<Link> {
        // struct ifinfomsg: family, pad, type, index, flags, change.
        let mut body = vec![0u8; 16];
        body[4..8].copy_from_slice(&(index as i32).to_ne_bytes());
        let mut link = None;
        self.request(RTM_GETLINK, 0, &body, RTM_NEWLINK, |p| {
            if p.len() < 16 {
                return;
            }
            let mut l = Link {
                index,
                name: String::new(),
                kind: String::new(),
                master: None,
            };
            for (kind, data) in attrs(&p[16..]) {
                match kind {
                    IFLA_IFNAME => l.name = c_string(data),
                    IFLA_MASTER => l.master = u32_of(data),
                    IFLA_LINKINFO => {
                        for (k, d) in attrs(data) {
                            if k == IFLA_INFO_KIND {
                                l.kind = c_string(d);
                            }
                        }
                    }
                    _ => {}
                }
            }
            link = Some(l);
        })?;
        link.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no link in the answer"))
    }

    fn neigh_dump(&mut self, family: u8, mut each: impl FnMut(u32, u16, &[u8])) -> io::Result<()> {
        // struct ndmsg: family, pad1, pad2, ifindex, state, flags, type.
        let mut body = vec![0u8; 12];
        body[0] = family;
        self.request(RTM_GETNEIGH, NLM_F_DUMP, &body, RTM_NEWNEIGH, |p| {
            if p.len() < 12 {
                return;
            }
            let ifindex = i32::from_ne_bytes([p[4], p[5], p[6], p[7]]) as u32;
            let state = u16::from_ne_bytes([p[8], p[9]]);
            each(ifindex, state, &p[12..]);
        })
    }

    /// Every IPv4 and IPv6 neighbour with a link-layer address.
    pub fn neighbours(&mut self) -> io::Result<Vec<Neighbour>> {
        let mut out = Vec::new();
        for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
            self.neigh_dump(family, |ifindex, state, attrs_data| {
                if state & (NUD_INCOMPLETE | NUD_FAILED) != 0 {
                    return;
                }
                let mut ip = None;
                let mut lladdr = None;
                for (kind, data) in attrs(attrs_data) {
                    match kind {
                        NDA_DST => ip = ip_of(data),
                        NDA_LLADDR => lladdr = Some(data.to_vec()),
                        _ => {}
                    }
                }
                if let (Some(ip), Some(lladdr)) = (ip, lladdr) {
                    out.push(Neighbour {
                        ifindex,
                        ip,
                        lladdr,
                    });
                }
            })?;
        }
        Ok(out)
    }

    /// Every bridge forwarding entry.
    pub fn fdb(&mut self) -> io::Result<Vec<FdbEntry>> {
        let mut out = Vec::new();
        self.neigh_dump(AF_BRIDGE, |ifindex, _, attrs_data| {
            let mut entry = FdbEntry {
                ifindex,
                master: None,
                lladdr: Vec::new(),
            };
            for (kind, data) in attrs(attrs_data) {
                match kind {
                    NDA_LLADDR => entry.lladdr = data.to_vec(),
                    NDA_MASTER => entry.master = u32_of(data),
                    _ => {}
                }
            }
            if !entry.lladdr.is_empty() {
                out.push(entry);
            }
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip() {
        let mut msg = Vec::new();
        push_attr(&mut msg, RTA_DST, &[10, 0, 0, 1]);
        push_attr(&mut msg, IFLA_IFNAME, b"eth0\0");
        push_attr(&mut msg, RTA_OIF, &7u32.to_ne_bytes());
        let got = attrs(&msg);
        assert_eq!(got.len(), 3);
        assert_eq!(ip_of(got[0].1), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(c_string(got[1].1), "eth0");
        assert_eq!(u32_of(got[2].1), Some(7));
        // A length past the end stops the walk instead of reading beyond.
        let mut bad = msg.clone();
        bad[0] = 200;
        assert!(attrs(&bad).is_empty());
    }

    #[test]
    fn loopback_routes_and_links() {
        let mut nl = Netlink::open().unwrap();
        let r = nl.route_get("127.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(r.kind, RTN_LOCAL);
        assert_eq!(r.oif, Some(1));
        let lo = nl.link(1).unwrap();
        assert_eq!(lo.name, "lo");
        assert!(nl.link(u32::MAX >> 1).is_err());
        nl.neighbours().unwrap();
        nl.fdb().unwrap();
    }
}
