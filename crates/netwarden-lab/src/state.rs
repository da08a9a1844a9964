//! What a lab made, on disk: one JSON file per lab, so another process (`netwarden lab down`) can
//! remove it, and a lock that keeps labs being made or removed from racing for names and subnets.

use crate::addressing::Gateway;
use crate::echo::Listen;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Where lab state files live unless told otherwise (tmpfs: a reboot removes the labs and their
/// records together).
pub const DEFAULT_STATE_DIR: &str = "/run/netwarden/lab";

/// A state file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a lab state file: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Everything one lab made, written before it is made (so a lab that failed half-way up can still
/// be removed) and updated as service processes start.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LabRecord {
    pub name: String,
    /// The part of every interface and namespace name that is this lab's.
    pub tag: String,
    pub created_by_pid: u32,
    /// Seconds since the Unix epoch.
    pub created_unix: u64,
    /// The bridge in the host namespace: the node.
    pub bridge: String,
    /// The bridge's address in each pod subnet, the pods' default gateway.
    pub gateways: Vec<Gateway>,
    /// Every pod of the inventory, host-network ones included, in file order.
    pub pods: Vec<PodRecord>,
    /// Echo server processes, if services run as processes.
    #[serde(default)]
    pub service_processes: Vec<ServiceProcess>,
    /// Things the lab could not do as asked (an SCTP port not served, IPv6 not forwarded between
    /// subnets on an old kernel).
    #[serde(default)]
    pub notes: Vec<String>,
}

impl LabRecord {
    /// The pod `namespace/name` (a bare name means namespace `default`).
    pub fn pod(&self, key: &str) -> Option<&PodRecord> {
        let (namespace, name) = key.split_once('/').unwrap_or(("default", key));
        self.pods
            .iter()
            .find(|p| p.namespace == namespace && p.name == name)
    }
}

/// One pod and where it lives.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PodRecord {
    pub namespace: String,
    pub name: String,
    /// The pod's network namespace; `None` for a host-network pod, which is the node itself.
    pub netns: Option<String>,
    /// The pod's interface inside its namespace (`eth0`).
    pub interface: Option<String>,
    /// The host end of the pod's veth pair, a port of the bridge.
    pub host_interface: Option<String>,
    pub ips: Vec<IpAddr>,
    /// Addresses the pod's echo servers listen on (its container ports on each of its addresses).
    #[serde(default)]
    pub listen: Vec<Listen>,
}

impl PodRecord {
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// An echo server process started in a pod's namespace.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServiceProcess {
    /// `namespace/name`
    pub pod: String,
    pub pid: i32,
    /// The process's start time (clock ticks after boot, /proc/PID/stat field 22): with the pid, it
    /// tells the process from a later one that reused the pid.
    pub start_time: u64,
}

/// The directory of state files.
#[derive(Debug, Clone)]
pub(crate) struct StateDir {
    dir: PathBuf,
}

/// Held while a lab is made or removed; released on drop.
pub(crate) struct StateLock {
    _file: File,
}

impl StateDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// Where a pod's service process writes its errors.
    pub fn log_path(&self, name: &str, netns: &str) -> PathBuf {
        self.dir.join(format!("{name}.{netns}.log"))
    }

    /// Waits for and takes the lock (a `flock`, so it is released if the holder dies).
    pub fn lock(&self) -> Result<StateLock, StateError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StateError::Io { path, source }
        };
        fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let path = self.dir.join(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        loop {
            // SAFETY: a valid open fd.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(StateLock { _file: file });
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(io(&path)(e));
            }
        }
    }

    /// The record of lab `name`, if there is one.
    pub fn read(&self, name: &str) -> Result<Option<LabRecord>, StateError> {
        read_record(&self.path(name))
    }

    /// Replaces the record (write then rename: a reader sees the old or the new one whole).
    pub fn write(&self, record: &LabRecord) -> Result<(), StateError> {
        let path = self.path(&record.name);
        let tmp = self.dir.join(format!(".{}.json.tmp", record.name));
        let io = |source| StateError::Io {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(&self.dir).map_err(io)?;
        let mut text = serde_json::to_vec_pretty(record).map_err(|source| StateError::Parse {
            path: path.clone(),
            source,
        })?;
        text.push(b'\n');
        let mut f = File::create(&tmp).map_err(io)?;
        f.write_all(&text).map_err(io)?;
        f.sync_all().map_err(io)?;
        fs::rename(&tmp, &path).map_err(io)
    }

    /// Removes the record of lab `name` (no record is not an error).
    pub fn remove(&self, name: &str) -> Result<(), StateError> {
        let path = self.path(name);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(StateError::Io { path, source: e })
            }
            _ => Ok(()),
        }
    }

    /// Every record, by name. An unreadable one is returned as its error.
    pub fn list(&self) -> Result<Vec<Result<LabRecord, StateError>>, StateError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(StateError::Io {
                    path: self.dir.clone(),
                    source,
                })
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|x| x == "json")
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        paths.sort();
        Ok(paths
            .iter()
            .filter_map(|p| read_record(p).transpose())
            .collect())
    }
}

fn read_record(path: &Path) -> Result<Option<LabRecord>, StateError> {
    let text = match fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|source| StateError::Parse {
            path: path.to_path_buf(),
            source,
        })
}

/// Lab names become file names and appear in commands: letters, digits, `-`, `_` and `.`, not
/// starting with `.` or `-`, at most 64 characters.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 64 {
        return Err("must have 1 to 64 characters");
    }
    if name.starts_with(['.', '-']) {
        return Err("must not start with '.' or '-'");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err("may only have letters, digits, '-', '_' and '.'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["a", "lab-1", "My_lab.2"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", ".x", "-x", "a/b", "a b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn records_round_trip_and_list() {
        let dir = std::env::temp_dir().join(format!("nwlab-state-{}", crate::unique_tag()));
        let state = StateDir::new(&dir);
        let record = LabRecord {
            name: "t".into(),
            tag: "abc123".into(),
            created_by_pid: 1,
            created_unix: 2,
            bridge: "nwbabc123".into(),
            gateways: vec![Gateway {
                subnet: "10.1.1.0/24".parse().unwrap(),
                address: "10.1.1.1".parse().unwrap(),
                usual_address_taken_by: None,
            }],
            pods: vec![PodRecord {
                namespace: "n".into(),
                name: "p".into(),
                netns: Some("nwpabc1230".into()),
                interface: Some("eth0".into()),
                host_interface: Some("nwvabc1230".into()),
                ips: vec!["10.1.1.5".parse().unwrap()],
                listen: vec!["tcp:10.1.1.5:80".parse().unwrap()],
            }],
            service_processes: vec![],
            notes: vec![],
        };
        let _lock = state.lock().unwrap();
        state.write(&record).unwrap();
        assert_eq!(state.read("t").unwrap().as_ref(), Some(&record));
        assert!(record.pod("n/p").is_some() && record.pod("p").is_none());
        fs::write(dir.join("broken.json"), "{").unwrap();
        let listed = state.list().unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed[0].as_ref().is_err());
        assert_eq!(listed[1].as_ref().unwrap(), &record);
        state.remove("t").unwrap();
        state.remove("t").unwrap();
        assert_eq!(state.read("t").unwrap(), None);
        let _ = fs::remove_dir_all(&dir);
    }
}
