//! A small reader for BPF Type Format (BTF).
//!
//! netwarden needs BTF for two narrow jobs: naming kernel enum values at
//! runtime (drop reasons, TCP states) without hard-coding tables that drift
//! between kernel versions, and checking in tests that our `#[repr(C)]`
//! mirrors match the structs clang laid out for the BPF programs. Neither job
//! needs a full BTF/CO-RE implementation, so this module only indexes the type
//! section and answers those questions directly.
//!
//! Only little-endian, self-contained ("base") BTF is supported. Split BTF
//! (kernel module BTF under `/sys/kernel/btf/<module>`) numbers its types after
//! vmlinux's and cannot be interpreted on its own.
//!
//! Parsing is a single pass that records where each type lives; names are
//! resolved lazily from the string table because vmlinux carries ~130k types
//! and callers look at a handful of them.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where the running kernel exposes its own BTF.
const KERNEL_BTF_PATH: &str = "/sys/kernel/btf/vmlinux";

const BTF_MAGIC: u16 = 0xEB9F;
const BTF_VERSION: u8 = 1;
/// Size of the fixed part of the header; newer producers may append fields,
/// which `hdr_len` lets us skip.
const MIN_HEADER_LEN: usize = 24;
/// `name_off`, `info`, `size_or_type`: common to every type record.
const TYPE_RECORD_LEN: usize = 12;
/// Bound on reference chains and nesting so that malformed (cyclic) BTF makes
/// lookups give up instead of looping forever. Real chains are a few links.
const MAX_CHAIN: usize = 64;
/// Pointer size for the targets BTF describes (BPF and 64-bit kernels).
const POINTER_SIZE: u32 = 8;

// BTF_KIND_* values from include/uapi/linux/btf.h.
const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FWD: u32 = 7;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_FLOAT: u32 = 16;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

/// Why BTF could not be loaded or parsed.
#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    /// The BTF file could not be read (e.g. the kernel was built without
    /// `CONFIG_DEBUG_INFO_BTF`, so `/sys/kernel/btf/vmlinux` does not exist).
    #[error("cannot read BTF from {}: {source}", path.display())]
    Io {
        /// The file we tried to read.
        path: PathBuf,
        /// The underlying I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// The data does not start with the little-endian BTF magic.
    #[error("bad BTF magic {0:#06x}: expected 0xeb9f (big-endian BTF is not supported)")]
    BadMagic(u16),
    /// The header announces a format version this reader does not know.
    #[error("unsupported BTF version {0}: only version 1 is understood")]
    UnsupportedVersion(u8),
    /// Some structure extends past the end of the data.
    #[error("BTF is truncated: {what} runs past the end of the data")]
    Truncated {
        /// Which structure was cut off.
        what: String,
    },
    /// The data is complete but violates the format.
    #[error("malformed BTF: {what}")]
    Malformed {
        /// What rule was broken.
        what: String,
    },
    /// A type record has a kind this reader does not know; its length is
    /// unknown, so nothing after it can be located.
    #[error("BTF type {id} has unknown kind {kind} (newer than this reader?)")]
    UnknownKind {
        /// The unrecognised `BTF_KIND_*` value.
        kind: u32,
        /// The id of the offending type.
        id: u32,
    },
    /// A name offset points outside the string table.
    #[error("BTF type {id} uses name offset {offset}, outside the {len}-byte string table")]
    BadStringOffset {
        /// The id of the type that owns the name (or whose member does).
        id: u32,
        /// The out-of-range offset.
        offset: u32,
        /// Length of the string table.
        len: usize,
    },
    /// The ELF object has no `.BTF` section.
    #[error("ELF object has no .BTF section (was it compiled with -g?)")]
    NoBtfSection,
    /// The ELF object itself could not be parsed.
    #[error("cannot parse ELF object: {0}")]
    Elf(String),
}

fn truncated(what: impl Into<String>) -> BtfError {
    BtfError::Truncated { what: what.into() }
}

fn malformed(what: impl Into<String>) -> BtfError {
    BtfError::Malformed { what: what.into() }
}

fn read_u16(buf: &[u8], off: usize) -> Option<u16> {
    let bytes = buf.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes(bytes.try_into().ok()?))
}

fn read_u32(buf: &[u8], off: usize) -> Option<u32> {
    let bytes = buf.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// Returns `len` bytes at `off` within `body`, naming `what` if they don't fit.
fn subslice<'a>(body: &'a [u8], off: u32, len: u32, what: &str) -> Result<&'a [u8], BtfError> {
    let start = off as usize;
    start
        .checked_add(len as usize)
        .and_then(|end| body.get(start..end))
        .ok_or_else(|| truncated(format!("{what} (offset {off}, length {len})")))
}

fn kind_name(kind: u32) -> &'static str {
    match kind {
        KIND_INT => "INT",
        KIND_PTR => "PTR",
        KIND_ARRAY => "ARRAY",
        KIND_STRUCT => "STRUCT",
        KIND_UNION => "UNION",
        KIND_ENUM => "ENUM",
        KIND_FWD => "FWD",
        KIND_TYPEDEF => "TYPEDEF",
        KIND_VOLATILE => "VOLATILE",
        KIND_CONST => "CONST",
        KIND_RESTRICT => "RESTRICT",
        KIND_FUNC => "FUNC",
        KIND_FUNC_PROTO => "FUNC_PROTO",
        KIND_VAR => "VAR",
        KIND_DATASEC => "DATASEC",
        KIND_FLOAT => "FLOAT",
        KIND_DECL_TAG => "DECL_TAG",
        KIND_TYPE_TAG => "TYPE_TAG",
        KIND_ENUM64 => "ENUM64",
        _ => "unknown",
    }
}

/// The common part of one type record, kept so lookups need not re-decode it.
#[derive(Debug, Clone, Copy)]
struct TypeEntry {
    name_off: u32,
    info: u32,
    size_or_type: u32,
    /// Offset of the kind-specific trailing data within `Btf::types`.
    data_off: u32,
}

impl TypeEntry {
    fn kind(&self) -> u32 {
        (self.info >> 24) & 0x1f
    }

    fn vlen(&self) -> usize {
        (self.info & 0xffff) as usize
    }

    fn kind_flag(&self) -> bool {
        self.info >> 31 != 0
    }

    fn is_enum(&self) -> bool {
        matches!(self.kind(), KIND_ENUM | KIND_ENUM64)
    }
}

/// Parsed BTF: the raw type and string sections plus an index of type records.
///
/// The sections are copied so that the value does not borrow the input (the
/// kernel blob is read into a temporary buffer).
pub struct Btf {
    types: Vec<u8>,
    strings: Vec<u8>,
    /// Entry `i` describes type id `i + 1`; id 0 is the implicit `void`.
    entries: Vec<TypeEntry>,
}

impl fmt::Debug for Btf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The raw sections are megabytes; their sizes are what matter when debugging.
        f.debug_struct("Btf")
            .field("types", &self.entries.len())
            .field("type_bytes", &self.types.len())
            .field("string_bytes", &self.strings.len())
            .finish()
    }
}

/// Layout of a C struct as recorded in BTF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructLayout {
    /// The struct's tag name.
    pub name: String,
    /// `sizeof` the struct, in bytes.
    pub size: u32,
    /// Named members in declaration order. Members of anonymous
    /// structs/unions are listed in place of their container with offsets
    /// relative to this struct, mirroring how C code names them (e.g.
    /// `iphdr.daddr`, which recent kernels wrap in an anonymous union).
    pub members: Vec<MemberLayout>,
}

/// One member of a [`StructLayout`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberLayout {
    /// The member's name.
    pub name: String,
    /// Byte offset from the start of the struct. For a bitfield this is the
    /// byte holding its first bit.
    pub offset: u32,
    /// Byte size of the member's type when it can be resolved. For a bitfield
    /// it is the size of the declared type, not of the bitfield.
    pub size: Option<u32>,
}

impl Btf {
    /// Parses a raw BTF blob (the format of /sys/kernel/btf/vmlinux).
    pub fn parse(bytes: &[u8]) -> Result<Btf, BtfError> {
        let magic = read_u16(bytes, 0).ok_or_else(|| truncated("BTF magic"))?;
        if magic != BTF_MAGIC {
            return Err(BtfError::BadMagic(magic));
        }
        if bytes.len() < MIN_HEADER_LEN {
            return Err(truncated("BTF header"));
        }
        let version = bytes
            .get(2)
            .copied()
            .ok_or_else(|| truncated("BTF header"))?;
        if version != BTF_VERSION {
            return Err(BtfError::UnsupportedVersion(version));
        }
        let header_field = |off: usize| read_u32(bytes, off).ok_or_else(|| truncated("BTF header"));
        let hdr_len = header_field(4)?;
        let type_off = header_field(8)?;
        let type_len = header_field(12)?;
        let str_off = header_field(16)?;
        let str_len = header_field(20)?;
        if (hdr_len as usize) < MIN_HEADER_LEN {
            return Err(malformed(format!(
                "header length {hdr_len} is shorter than the {MIN_HEADER_LEN}-byte BTF header"
            )));
        }
        let body = bytes
            .get(hdr_len as usize..)
            .ok_or_else(|| truncated(format!("BTF header of {hdr_len} bytes")))?;
        let type_sec = subslice(body, type_off, type_len, "type section")?;
        let str_sec = subslice(body, str_off, str_len, "string section")?;

        // Offset 0 must be the empty name and every string must be terminated;
        // checking both ends once lets lazy name lookups assume it.
        if str_sec.first() != Some(&0) {
            return Err(malformed(
                "string table does not start with an empty string (split BTF is not supported)",
            ));
        }
        if str_sec.last() != Some(&0) {
            return Err(malformed("string table does not end with a NUL byte"));
        }

        let entries = index_types(type_sec, str_sec.len())?;
        Ok(Btf {
            types: type_sec.to_vec(),
            strings: str_sec.to_vec(),
            entries,
        })
    }

    /// Reads the running kernel's BTF from /sys/kernel/btf/vmlinux.
    pub fn from_kernel() -> Result<Btf, BtfError> {
        Self::from_file(Path::new(KERNEL_BTF_PATH))
    }

    fn from_file(path: &Path) -> Result<Btf, BtfError> {
        let bytes = std::fs::read(path).map_err(|source| BtfError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&bytes)
    }

    /// Parses the `.BTF` section of an ELF object (e.g. a clang -target bpf object).
    pub fn from_elf(elf: &[u8]) -> Result<Btf, BtfError> {
        use object::{Object, ObjectSection};

        let file = object::read::File::parse(elf).map_err(|e| BtfError::Elf(e.to_string()))?;
        let section = file.section_by_name(".BTF").ok_or(BtfError::NoBtfSection)?;
        let data = section
            .data()
            .map_err(|e| BtfError::Elf(format!(".BTF section: {e}")))?;
        Self::parse(data)
    }

    /// Members of the named enum (BTF_KIND_ENUM or BTF_KIND_ENUM64), as (name, value), in declaration order.
    ///
    /// Enum values are returned as `i64`; an unsigned 64-bit enumerator above
    /// `i64::MAX` keeps its bit pattern. If BTF only has a forward declaration
    /// (no enumerators) the result is an empty list.
    pub fn enum_members(&self, enum_name: &str) -> Option<Vec<(String, i64)>> {
        if enum_name.is_empty() {
            // Anonymous enums have no name to match; see `enum_with_member`.
            return None;
        }
        let mut forward_decl = None;
        for entry in self.entries.iter().filter(|e| e.is_enum()) {
            if self.name_bytes(entry.name_off) != enum_name.as_bytes() {
                continue;
            }
            if entry.vlen() > 0 {
                return self.enum_values(entry);
            }
            // A definition may still follow the forward declaration.
            forward_decl.get_or_insert(entry);
        }
        forward_decl.and_then(|entry| self.enum_values(entry))
    }

    /// Members of the first enum (named or anonymous) that has a member called `member`.
    pub fn enum_with_member(&self, member: &str) -> Option<Vec<(String, i64)>> {
        let wanted = member.as_bytes();
        let entry = self.entries.iter().filter(|e| e.is_enum()).find(|entry| {
            let stride = if entry.kind() == KIND_ENUM64 { 12 } else { 8 };
            (0..entry.vlen()).any(|i| {
                read_u32(&self.types, entry.data_off as usize + i * stride)
                    .is_some_and(|name_off| self.name_bytes(name_off) == wanted)
            })
        })?;
        self.enum_values(entry)
    }

    /// Layout of the named struct (BTF_KIND_STRUCT).
    ///
    /// Returns `None` if no such struct exists or its BTF is inconsistent
    /// (e.g. anonymous members nested implausibly deep).
    pub fn struct_layout(&self, name: &str) -> Option<StructLayout> {
        if name.is_empty() {
            return None;
        }
        let entry = self
            .entries
            .iter()
            .find(|e| e.kind() == KIND_STRUCT && self.name_bytes(e.name_off) == name.as_bytes())?;
        let mut members = Vec::with_capacity(entry.vlen());
        self.collect_members(entry, 0, 0, &mut members)?;
        Some(StructLayout {
            name: name.to_owned(),
            size: entry.size_or_type,
            members,
        })
    }

    /// Appends the named members of `entry` (a struct or union) located
    /// `base_bits` into the outermost struct, descending into anonymous
    /// struct/union members.
    fn collect_members(
        &self,
        entry: &TypeEntry,
        base_bits: u64,
        depth: usize,
        out: &mut Vec<MemberLayout>,
    ) -> Option<()> {
        if depth > MAX_CHAIN {
            return None;
        }
        for i in 0..entry.vlen() {
            let at = entry.data_off as usize + i * 12;
            let name_off = read_u32(&self.types, at)?;
            let type_id = read_u32(&self.types, at + 4)?;
            let raw_offset = read_u32(&self.types, at + 8)?;
            // With kind_flag the top 8 bits hold the bitfield size, not offset.
            let bit_offset = if entry.kind_flag() {
                raw_offset & 0x00ff_ffff
            } else {
                raw_offset
            };
            let bits = base_bits + u64::from(bit_offset);
            let name = self.name_bytes(name_off);
            if name.is_empty() {
                // Anonymous aggregates are how C spells transparent members;
                // anything else unnamed is padding that code cannot refer to.
                if let Some(inner) = self.aggregate_behind(type_id) {
                    self.collect_members(inner, bits, depth + 1, out)?;
                }
                continue;
            }
            out.push(MemberLayout {
                name: String::from_utf8_lossy(name).into_owned(),
                offset: u32::try_from(bits / 8).ok()?,
                size: self.type_size(type_id),
            });
        }
        Some(())
    }

    /// The struct/union that `id` denotes once modifiers are stripped.
    fn aggregate_behind(&self, mut id: u32) -> Option<&TypeEntry> {
        for _ in 0..MAX_CHAIN {
            let entry = self.entry(id)?;
            match entry.kind() {
                KIND_STRUCT | KIND_UNION => return Some(entry),
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    id = entry.size_or_type;
                }
                _ => return None,
            }
        }
        None
    }

    /// Byte size of type `id`, or `None` for sizeless kinds (void, functions,
    /// forward declarations) and for malformed chains.
    fn type_size(&self, mut id: u32) -> Option<u32> {
        // Product of the element counts of the arrays walked through so far.
        let mut count: u64 = 1;
        for _ in 0..MAX_CHAIN {
            let entry = self.entry(id)?;
            let size = match entry.kind() {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    id = entry.size_or_type;
                    continue;
                }
                KIND_ARRAY => {
                    let data = entry.data_off as usize;
                    let nelems = read_u32(&self.types, data + 8)?;
                    count = count.checked_mul(u64::from(nelems))?;
                    id = read_u32(&self.types, data)?;
                    continue;
                }
                KIND_INT | KIND_ENUM | KIND_ENUM64 | KIND_STRUCT | KIND_UNION | KIND_FLOAT => {
                    entry.size_or_type
                }
                KIND_PTR => POINTER_SIZE,
                _ => return None,
            };
            return u32::try_from(u64::from(size).checked_mul(count)?).ok();
        }
        None
    }

    fn enum_values(&self, entry: &TypeEntry) -> Option<Vec<(String, i64)>> {
        let signed = entry.kind_flag();
        let base = entry.data_off as usize;
        (0..entry.vlen())
            .map(|i| {
                let (name_off, value) = if entry.kind() == KIND_ENUM64 {
                    let at = base + i * 12;
                    let lo = read_u32(&self.types, at + 4)?;
                    let hi = read_u32(&self.types, at + 8)?;
                    let bits = (u64::from(hi) << 32) | u64::from(lo);
                    // Signed and unsigned both keep the bit pattern in i64.
                    (read_u32(&self.types, at)?, bits as i64)
                } else {
                    let at = base + i * 8;
                    let raw = read_u32(&self.types, at + 4)?;
                    let value = if signed {
                        i64::from(raw as i32)
                    } else {
                        i64::from(raw)
                    };
                    (read_u32(&self.types, at)?, value)
                };
                let name = String::from_utf8_lossy(self.name_bytes(name_off)).into_owned();
                Some((name, value))
            })
            .collect()
    }

    fn entry(&self, id: u32) -> Option<&TypeEntry> {
        let index = (id as usize).checked_sub(1)?;
        self.entries.get(index)
    }

    /// The NUL-terminated string at `off`, without the terminator.
    fn name_bytes(&self, off: u32) -> &[u8] {
        let rest = self.strings.get(off as usize..).unwrap_or_default();
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        rest.get(..end).unwrap_or_default()
    }
}

/// Walks the type section once, checking that every record and every name
/// offset we may later read is in bounds.
fn index_types(type_sec: &[u8], str_len: usize) -> Result<Vec<TypeEntry>, BtfError> {
    // vmlinux averages roughly 40 bytes per type; a close guess avoids regrowth.
    let mut entries = Vec::with_capacity(type_sec.len() / 32);
    let mut pos = 0usize;
    while pos < type_sec.len() {
        // Every record is at least 12 bytes and the section length is a u32,
        // so ids cannot overflow.
        let id = entries.len() as u32 + 1;
        let header = |off: usize| {
            read_u32(type_sec, pos + off).ok_or_else(|| truncated(format!("type {id} record")))
        };
        let name_off = header(0)?;
        let info = header(4)?;
        let size_or_type = header(8)?;
        let entry = TypeEntry {
            name_off,
            info,
            size_or_type,
            data_off: 0,
        };
        let kind = entry.kind();
        let vlen = entry.vlen();
        let (data_len, named_stride) = match kind {
            KIND_PTR | KIND_FWD | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT
            | KIND_FUNC | KIND_FLOAT | KIND_TYPE_TAG => (0, 0),
            KIND_INT | KIND_VAR | KIND_DECL_TAG => (4, 0),
            KIND_ARRAY => (12, 0),
            KIND_STRUCT | KIND_UNION => (vlen * 12, 12),
            KIND_ENUM => (vlen * 8, 8),
            KIND_ENUM64 => (vlen * 12, 12),
            KIND_FUNC_PROTO => (vlen * 8, 0),
            KIND_DATASEC => (vlen * 12, 0),
            _ => return Err(BtfError::UnknownKind { kind, id }),
        };
        let data_off = pos + TYPE_RECORD_LEN;
        let data = data_off
            .checked_add(data_len)
            .and_then(|end| type_sec.get(data_off..end))
            .ok_or_else(|| truncated(format!("type {id} ({}) data", kind_name(kind))))?;

        let check_name = |offset: u32| {
            if (offset as usize) < str_len {
                Ok(())
            } else {
                Err(BtfError::BadStringOffset {
                    id,
                    offset,
                    len: str_len,
                })
            }
        };
        check_name(name_off)?;
        if named_stride != 0 {
            // Member names of structs, unions and enums are read lazily later.
            for member in data.chunks_exact(named_stride) {
                check_name(read_u32(member, 0).unwrap_or(u32::MAX))?;
            }
        }

        entries.push(TypeEntry {
            data_off: data_off as u32,
            ..entry
        });
        pos = data_off + data_len;
    }
    Ok(entries)
}

/// Maps the values of one enum to names; built once, looked up on the hot path.
///
/// Kernel enums are mostly small and dense, so values near zero are indexed
/// directly; outliers (masks, negative values) fall back to a binary search.
/// When several enumerators share a value the first declared name wins, since
/// later ones are usually aliases such as `..._MAX`.
#[derive(Debug, Clone, Default)]
pub struct EnumNames {
    /// Name for value `i`, for values `0..dense.len()`.
    dense: Vec<Option<Box<str>>>,
    /// Every other value, sorted by value.
    sparse: Vec<(i64, Box<str>)>,
}

impl EnumNames {
    /// Builds the lookup table from `(name, value)` pairs in declaration order.
    pub fn new(members: Vec<(String, i64)>) -> Self {
        // Cap the direct table at a few slots per member so one large value
        // (e.g. a subsystem mask) cannot blow up memory.
        let dense_limit = members.len().saturating_mul(4).saturating_add(64);
        let dense_len = members
            .iter()
            .filter_map(|&(_, v)| usize::try_from(v).ok())
            .filter(|&v| v < dense_limit)
            .max()
            .map_or(0, |max| max + 1);
        let mut dense: Vec<Option<Box<str>>> = vec![None; dense_len];
        let mut sparse = Vec::new();
        for (name, value) in members {
            match usize::try_from(value).ok().and_then(|i| dense.get_mut(i)) {
                Some(slot) => {
                    if slot.is_none() {
                        *slot = Some(name.into_boxed_str());
                    }
                }
                None => sparse.push((value, name.into_boxed_str())),
            }
        }
        // Stable sort keeps declaration order among equal values, so dedup
        // keeps the first declared name.
        sparse.sort_by_key(|&(value, _)| value);
        sparse.dedup_by_key(|&mut (value, _)| value);
        EnumNames { dense, sparse }
    }

    /// The name for `value`, if the enum has it.
    pub fn name(&self, value: i64) -> Option<&str> {
        if let Some(slot) = usize::try_from(value).ok().and_then(|i| self.dense.get(i)) {
            return slot.as_deref();
        }
        self.sparse
            .binary_search_by_key(&value, |&(v, _)| v)
            .ok()
            .and_then(|i| self.sparse.get(i))
            .map(|(_, name)| &**name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Assembles BTF blobs by hand so tests can cover each encoding without
    /// depending on a compiler.
    struct Builder {
        types: Vec<u8>,
        strings: Vec<u8>,
        next_id: u32,
    }

    impl Builder {
        fn new() -> Self {
            Builder {
                types: Vec::new(),
                strings: vec![0],
                next_id: 1,
            }
        }

        fn string(&mut self, s: &str) -> u32 {
            if s.is_empty() {
                return 0;
            }
            let off = self.strings.len() as u32;
            self.strings.extend_from_slice(s.as_bytes());
            self.strings.push(0);
            off
        }

        fn raw(
            &mut self,
            name_off: u32,
            kind: u32,
            kind_flag: bool,
            vlen: u32,
            size_or_type: u32,
            data: &[u32],
        ) -> u32 {
            let info = (u32::from(kind_flag) << 31) | (kind << 24) | vlen;
            for word in [name_off, info, size_or_type].iter().chain(data) {
                self.types.extend_from_slice(&word.to_le_bytes());
            }
            let id = self.next_id;
            self.next_id += 1;
            id
        }

        fn int(&mut self, name: &str, size: u32) -> u32 {
            let name = self.string(name);
            self.raw(name, KIND_INT, false, 0, size, &[size * 8])
        }

        fn ptr(&mut self, target: u32) -> u32 {
            self.raw(0, KIND_PTR, false, 0, target, &[])
        }

        fn typedef(&mut self, name: &str, target: u32) -> u32 {
            let name = self.string(name);
            self.raw(name, KIND_TYPEDEF, false, 0, target, &[])
        }

        fn modifier(&mut self, kind: u32, target: u32) -> u32 {
            self.raw(0, kind, false, 0, target, &[])
        }

        fn array(&mut self, elem: u32, index: u32, nelems: u32) -> u32 {
            self.raw(0, KIND_ARRAY, false, 0, 0, &[elem, index, nelems])
        }

        /// Members are `(name, type, offset word)`; with `kind_flag` the offset
        /// word is `bitfield_size << 24 | bit_offset`.
        fn aggregate(
            &mut self,
            kind: u32,
            name: &str,
            size: u32,
            kind_flag: bool,
            members: &[(&str, u32, u32)],
        ) -> u32 {
            let name = self.string(name);
            let mut data = Vec::new();
            for &(member, ty, offset) in members {
                data.extend([self.string(member), ty, offset]);
            }
            self.raw(name, kind, kind_flag, members.len() as u32, size, &data)
        }

        fn enum32(&mut self, name: &str, signed: bool, members: &[(&str, i32)]) -> u32 {
            let name = self.string(name);
            let mut data = Vec::new();
            for &(member, value) in members {
                data.extend([self.string(member), value as u32]);
            }
            self.raw(name, KIND_ENUM, signed, members.len() as u32, 4, &data)
        }

        fn enum64(&mut self, name: &str, signed: bool, members: &[(&str, i64)]) -> u32 {
            let name = self.string(name);
            let mut data = Vec::new();
            for &(member, value) in members {
                let bits = value as u64;
                data.extend([self.string(member), bits as u32, (bits >> 32) as u32]);
            }
            self.raw(name, KIND_ENUM64, signed, members.len() as u32, 8, &data)
        }

        fn build(&self) -> Vec<u8> {
            let mut out = Vec::new();
            out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
            out.push(BTF_VERSION);
            out.push(0);
            let type_len = self.types.len() as u32;
            for word in [24, 0, type_len, type_len, self.strings.len() as u32] {
                out.extend_from_slice(&word.to_le_bytes());
            }
            out.extend_from_slice(&self.types);
            out.extend_from_slice(&self.strings);
            out
        }
    }

    /// A lookup key and the enum members it should produce.
    type EnumCase = (&'static str, Option<&'static [(&'static str, i64)]>);
    /// A description, a bad blob, and a check that the error names the right cause.
    type ErrorCase = (&'static str, Vec<u8>, fn(&BtfError) -> bool);

    fn owned(members: &[(&str, i64)]) -> Vec<(String, i64)> {
        members.iter().map(|&(n, v)| (n.to_owned(), v)).collect()
    }

    fn member(name: &str, offset: u32, size: Option<u32>) -> MemberLayout {
        MemberLayout {
            name: name.to_owned(),
            offset,
            size,
        }
    }

    /// One blob exercising every lookup the module offers.
    fn sample_blob() -> Vec<u8> {
        let mut b = Builder::new();
        let u8_t = b.int("unsigned char", 1);
        let u16_t = b.int("unsigned short", 2);
        let u32_t = b.int("unsigned int", 4);
        let u64_t = b.int("unsigned long long", 8);
        let int_t = b.int("int", 4);
        let be32 = b.typedef("__be32", u32_t);
        let const_be32 = b.modifier(KIND_CONST, be32);
        let volatile_u16 = b.modifier(KIND_VOLATILE, u16_t);
        let tagged_u64 = b.modifier(KIND_TYPE_TAG, u64_t);
        let comm = b.array(u8_t, int_t, 16);
        let grid = b.array(comm, int_t, 3);
        let void_ptr = b.ptr(0);

        b.enum32(
            "skb_drop_reason",
            false,
            &[("REASON_NOT_SPECIFIED", 2), ("REASON_NO_SOCKET", 3)],
        );
        b.enum32("", false, &[("ST_ESTABLISHED", 1), ("ST_SYN_SENT", 2)]);
        b.enum32("signed_e", true, &[("NEG", -5), ("POS", 7)]);
        b.enum32("unsigned_e", false, &[("MASK", 0xffff_0000u32 as i32)]);
        b.enum64(
            "wide_e",
            true,
            &[("BIG", 1 << 40), ("MIN", i64::MIN), ("NEG1", -1)],
        );
        b.enum64("uwide_e", false, &[("TOP", u64::MAX as i64)]);
        b.enum32("fwd_only", false, &[]);

        let inner_union = b.aggregate(
            KIND_UNION,
            "",
            8,
            false,
            &[("saddr", const_be32, 0), ("pair", u64_t, 0)],
        );
        b.aggregate(
            KIND_STRUCT,
            "event",
            96,
            false,
            &[
                ("ts", tagged_u64, 0),
                ("daddr", const_be32, 64),
                ("port", volatile_u16, 96),
                ("comm", comm, 128),
                ("grid", grid, 256),
                ("ctx", void_ptr, 640),
                ("", inner_union, 704),
            ],
        );
        b.aggregate(
            KIND_STRUCT,
            "flags",
            8,
            true,
            &[
                ("a", u32_t, 3 << 24),
                ("b", u32_t, (5 << 24) | 3),
                ("c", u32_t, (4 << 24) | 20),
                ("d", u8_t, 32),
                ("", u32_t, (2 << 24) | 40),
            ],
        );
        // Without kind_flag the whole word is the bit offset.
        b.aggregate(
            KIND_STRUCT,
            "far",
            0x0020_0008,
            false,
            &[("x", u8_t, 0x0100_0000)],
        );
        // A typedef cycle must not hang size resolution.
        let loop_a = b.next_id;
        let loop_b = b.typedef("loop_b", loop_a);
        b.typedef("loop_a", loop_b);
        b.aggregate(KIND_STRUCT, "cyclic", 4, false, &[("v", loop_b, 0)]);
        b.aggregate(KIND_STRUCT, "empty", 0, false, &[]);
        b.build()
    }

    #[test]
    fn enum_lookups() {
        let btf = Btf::parse(&sample_blob()).expect("sample blob parses");
        let cases: &[EnumCase] = &[
            (
                "skb_drop_reason",
                Some(&[("REASON_NOT_SPECIFIED", 2), ("REASON_NO_SOCKET", 3)]),
            ),
            ("signed_e", Some(&[("NEG", -5), ("POS", 7)])),
            ("unsigned_e", Some(&[("MASK", 0xffff_0000)])),
            (
                "wide_e",
                Some(&[("BIG", 1 << 40), ("MIN", i64::MIN), ("NEG1", -1)]),
            ),
            ("uwide_e", Some(&[("TOP", -1)])),
            ("fwd_only", Some(&[])),
            ("missing", None),
            ("", None),
            // Structs are not enums.
            ("event", None),
        ];
        for &(name, want) in cases {
            assert_eq!(btf.enum_members(name), want.map(owned), "enum {name:?}");
        }
    }

    #[test]
    fn enum_by_member() {
        let btf = Btf::parse(&sample_blob()).expect("sample blob parses");
        let cases: &[EnumCase] = &[
            (
                "ST_ESTABLISHED",
                Some(&[("ST_ESTABLISHED", 1), ("ST_SYN_SENT", 2)]),
            ),
            (
                "ST_SYN_SENT",
                Some(&[("ST_ESTABLISHED", 1), ("ST_SYN_SENT", 2)]),
            ),
            (
                "MIN",
                Some(&[("BIG", 1 << 40), ("MIN", i64::MIN), ("NEG1", -1)]),
            ),
            ("NEG", Some(&[("NEG", -5), ("POS", 7)])),
            // Struct members are not enumerators.
            ("daddr", None),
            ("NOPE", None),
        ];
        for &(member, want) in cases {
            assert_eq!(
                btf.enum_with_member(member),
                want.map(owned),
                "member {member:?}"
            );
        }
    }

    #[test]
    fn struct_layouts() {
        let btf = Btf::parse(&sample_blob()).expect("sample blob parses");
        let cases: Vec<(&str, Option<StructLayout>)> = vec![
            (
                "event",
                Some(StructLayout {
                    name: "event".into(),
                    size: 96,
                    members: vec![
                        member("ts", 0, Some(8)),
                        member("daddr", 8, Some(4)),
                        member("port", 12, Some(2)),
                        member("comm", 16, Some(16)),
                        member("grid", 32, Some(48)),
                        member("ctx", 80, Some(8)),
                        // Flattened out of the anonymous union at byte 88.
                        member("saddr", 88, Some(4)),
                        member("pair", 88, Some(8)),
                    ],
                }),
            ),
            (
                "flags",
                Some(StructLayout {
                    name: "flags".into(),
                    size: 8,
                    members: vec![
                        member("a", 0, Some(4)),
                        member("b", 0, Some(4)),
                        member("c", 2, Some(4)),
                        member("d", 4, Some(1)),
                    ],
                }),
            ),
            (
                "far",
                Some(StructLayout {
                    name: "far".into(),
                    size: 0x0020_0008,
                    members: vec![member("x", 0x0020_0000, Some(1))],
                }),
            ),
            (
                "cyclic",
                Some(StructLayout {
                    name: "cyclic".into(),
                    size: 4,
                    members: vec![member("v", 0, None)],
                }),
            ),
            (
                "empty",
                Some(StructLayout {
                    name: "empty".into(),
                    size: 0,
                    members: vec![],
                }),
            ),
            ("missing", None),
            ("", None),
            // Enums and typedefs are not structs.
            ("skb_drop_reason", None),
            ("__be32", None),
        ];
        for (name, want) in cases {
            assert_eq!(btf.struct_layout(name), want, "struct {name:?}");
        }
    }

    #[test]
    fn malformed_blobs_are_errors() {
        let good = sample_blob();
        let with_header = |patch: &dyn Fn(&mut Vec<u8>)| {
            let mut blob = good.clone();
            patch(&mut blob);
            blob
        };
        let unknown_kind = {
            let mut b = Builder::new();
            b.int("int", 4);
            b.raw(0, 25, false, 0, 0, &[]);
            b.build()
        };
        let kind_zero = {
            let mut b = Builder::new();
            b.raw(0, 0, false, 0, 0, &[]);
            b.build()
        };
        let bad_name = {
            let mut b = Builder::new();
            b.raw(9999, KIND_INT, false, 0, 4, &[32]);
            b.build()
        };
        let bad_member_name = {
            let mut b = Builder::new();
            let int_t = b.int("int", 4);
            b.raw(0, KIND_STRUCT, false, 1, 4, &[9999, int_t, 0]);
            b.build()
        };
        let short_members = {
            let mut b = Builder::new();
            // Claims three enumerators but carries one.
            b.raw(0, KIND_ENUM, false, 3, 4, &[0, 1]);
            b.build()
        };
        let cases: Vec<ErrorCase> = vec![
            ("empty input", vec![], |e| {
                matches!(e, BtfError::Truncated { .. })
            }),
            ("magic only", good[..2].to_vec(), |e| {
                matches!(e, BtfError::Truncated { .. })
            }),
            (
                "big-endian magic",
                with_header(&|b| b[..2].copy_from_slice(&[0xeb, 0x9f])),
                |e| matches!(e, BtfError::BadMagic(0x9feb)),
            ),
            ("ELF instead of BTF", b"\x7fELF\x02\x01".to_vec(), |e| {
                matches!(e, BtfError::BadMagic(0x457f))
            }),
            ("version 2", with_header(&|b| b[2] = 2), |e| {
                matches!(e, BtfError::UnsupportedVersion(2))
            }),
            ("short hdr_len", with_header(&|b| b[4] = 8), |e| {
                matches!(e, BtfError::Malformed { .. })
            }),
            ("huge hdr_len", with_header(&|b| b[4..8].fill(0xff)), |e| {
                matches!(e, BtfError::Truncated { .. })
            }),
            (
                "type_len past end",
                with_header(&|b| b[12..16].fill(0xff)),
                |e| matches!(e, BtfError::Truncated { .. }),
            ),
            (
                "str_off overflow",
                with_header(&|b| b[16..20].fill(0xff)),
                |e| matches!(e, BtfError::Truncated { .. }),
            ),
            ("chopped end", good[..good.len() - 1].to_vec(), |e| {
                matches!(e, BtfError::Truncated { .. })
            }),
            ("unknown kind", unknown_kind, |e| {
                matches!(e, BtfError::UnknownKind { kind: 25, id: 2 })
            }),
            ("kind zero", kind_zero, |e| {
                matches!(e, BtfError::UnknownKind { kind: 0, id: 1 })
            }),
            ("name offset past strings", bad_name, |e| {
                matches!(
                    e,
                    BtfError::BadStringOffset {
                        id: 1,
                        offset: 9999,
                        ..
                    }
                )
            }),
            ("member name past strings", bad_member_name, |e| {
                matches!(
                    e,
                    BtfError::BadStringOffset {
                        id: 2,
                        offset: 9999,
                        ..
                    }
                )
            }),
            ("members past type section", short_members, |e| {
                matches!(e, BtfError::Truncated { .. })
            }),
        ];
        for (what, blob, expected) in cases {
            match Btf::parse(&blob) {
                Ok(_) => panic!("{what}: parsed successfully"),
                Err(e) => assert!(expected(&e), "{what}: unexpected error {e:?}"),
            }
        }
    }

    #[test]
    fn string_table_must_be_terminated() {
        let mut blob = sample_blob();
        let last = blob.len() - 1;
        blob[last] = b'x';
        assert!(matches!(Btf::parse(&blob), Err(BtfError::Malformed { .. })));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let good = sample_blob();
        for len in 0..good.len() {
            assert!(Btf::parse(&good[..len]).is_err(), "prefix of {len} bytes");
        }
    }

    #[test]
    fn garbage_never_panics() {
        // Deterministic xorshift so failures reproduce.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let good = sample_blob();
        let mut parsed = 0;
        for _ in 0..20_000 {
            let mut blob = good.clone();
            for _ in 0..(next() % 4 + 1) {
                // Leave the magic and version alone so mutations reach the body.
                let at = 3 + (next() as usize) % (blob.len() - 3);
                blob[at] = next() as u8;
            }
            if let Ok(btf) = Btf::parse(&blob) {
                parsed += 1;
                for name in [
                    "event",
                    "flags",
                    "far",
                    "cyclic",
                    "wide_e",
                    "skb_drop_reason",
                ] {
                    let _ = btf.struct_layout(name);
                    let _ = btf.enum_members(name);
                }
                let _ = btf.enum_with_member("ST_ESTABLISHED");
            }
        }
        assert!(parsed > 0, "mutations never produced parseable BTF");
    }

    #[test]
    fn enum_names_lookup() {
        let names = EnumNames::new(owned(&[
            ("ZERO", 0),
            ("ONE", 1),
            ("ALIAS_OF_ONE", 1),
            ("FIVE", 5),
            ("NEG", -3),
            ("MASK", 0xffff_0000),
            ("MASK_ALIAS", 0xffff_0000),
            ("MIN", i64::MIN),
        ]));
        let cases: &[(i64, Option<&str>)] = &[
            (0, Some("ZERO")),
            (1, Some("ONE")),
            (2, None),
            (5, Some("FIVE")),
            (6, None),
            (-3, Some("NEG")),
            (-1, None),
            (0xffff_0000, Some("MASK")),
            (i64::MIN, Some("MIN")),
            (i64::MAX, None),
        ];
        for &(value, want) in cases {
            assert_eq!(names.name(value), want, "value {value}");
        }
        assert_eq!(EnumNames::default().name(0), None);
        assert_eq!(EnumNames::new(Vec::new()).name(0), None);
    }

    #[test]
    fn kernel_btf() {
        let btf = Btf::from_kernel().unwrap_or_else(|e| {
            panic!("this test needs the running kernel's BTF ({KERNEL_BTF_PATH}): {e}")
        });

        let reasons = btf
            .enum_members("skb_drop_reason")
            .expect("kernel BTF has enum skb_drop_reason");
        let no_socket = reasons
            .iter()
            .find(|(name, _)| name == "SKB_DROP_REASON_NO_SOCKET")
            .map(|&(_, value)| value)
            .expect("skb_drop_reason has SKB_DROP_REASON_NO_SOCKET");
        let names = EnumNames::new(reasons);
        assert_eq!(names.name(no_socket), Some("SKB_DROP_REASON_NO_SOCKET"));

        let tcp_states = btf
            .enum_with_member("TCP_ESTABLISHED")
            .expect("kernel BTF has the TCP state enum");
        for (state, value) in [("TCP_ESTABLISHED", 1), ("TCP_CLOSE", 7), ("TCP_LISTEN", 10)] {
            assert!(
                tcp_states.contains(&(state.to_owned(), value)),
                "{state} = {value} missing from {tcp_states:?}"
            );
        }

        let iphdr = btf
            .struct_layout("iphdr")
            .expect("kernel BTF has struct iphdr");
        assert_eq!(iphdr.size, 20);
        let find = |name: &str| {
            iphdr
                .members
                .iter()
                .find(|m| m.name == name)
                .unwrap_or_else(|| panic!("iphdr.{name} missing from {iphdr:?}"))
        };
        assert_eq!(find("daddr"), &member("daddr", 16, Some(4)));
        assert_eq!(find("saddr"), &member("saddr", 12, Some(4)));
        assert_eq!(find("protocol"), &member("protocol", 9, Some(1)));
        // ihl and version are 4-bit fields sharing the first byte.
        assert_eq!(find("ihl").offset, 0);
        assert_eq!(find("version").offset, 0);
    }

    /// Expected layout of `struct flow_event` in [`FLOW_EVENT_C`]; members
    /// marked `true` are also checked by clang with `offsetof`.
    const FLOW_EVENT_MEMBERS: &[(&str, u32, Option<u32>, bool)] = &[
        ("ts_ns", 0, Some(8), true),
        ("pid", 8, Some(4), true),
        ("comm", 12, Some(16), true),
        ("proto", 28, Some(4), false),
        ("dir", 29, Some(4), false),
        ("sport", 30, Some(2), true),
        ("v4", 32, Some(4), true),
        ("v6", 32, Some(16), true),
        ("ctx", 48, Some(8), true),
        ("state", 56, Some(4), true),
    ];
    const FLOW_EVENT_SIZE: u32 = 64;

    const FLOW_EVENT_C: &str = r#"
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
enum flow_state { FLOW_NEW = 0, FLOW_SEEN = 4, FLOW_GONE = -1 };

struct flow_event {
    u64 ts_ns;
    u32 pid;
    u8 comm[16];
    u32 proto : 8;
    u32 dir : 1;
    u16 sport;
    union {
        u32 v4;
        u8 v6[16];
    };
    void *ctx;
    enum flow_state state;
};

/* A global of the type makes clang emit its BTF. */
struct flow_event sample_event;
"#;

    #[test]
    fn elf_object_from_clang() {
        let dir = std::env::temp_dir().join(format!("netwarden-btf-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        let mut source = FLOW_EVENT_C.to_owned();
        for &(name, offset, _, check) in FLOW_EVENT_MEMBERS {
            if check {
                source.push_str(&format!(
                    "_Static_assert(__builtin_offsetof(struct flow_event, {name}) == {offset}, \"{name}\");\n"
                ));
            }
        }
        source.push_str(&format!(
            "_Static_assert(sizeof(struct flow_event) == {FLOW_EVENT_SIZE}, \"size\");\n"
        ));
        let c_path = dir.join("x.c");
        let o_path = dir.join("x.o");
        std::fs::write(&c_path, source).expect("write C source");

        let output = Command::new("clang-19")
            .args(["-g", "-O2", "-target", "bpf", "-c"])
            .arg(&c_path)
            .arg("-o")
            .arg(&o_path)
            .output()
            .unwrap_or_else(|e| {
                panic!("this test needs clang-19 on PATH to build a BPF object, but running it failed: {e}")
            });
        assert!(
            output.status.success(),
            "clang-19 failed to compile the test object:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let elf = std::fs::read(&o_path).expect("read compiled object");
        let _ = std::fs::remove_dir_all(&dir);

        let btf = Btf::from_elf(&elf).expect("object has parseable .BTF");
        let want = StructLayout {
            name: "flow_event".into(),
            size: FLOW_EVENT_SIZE,
            members: FLOW_EVENT_MEMBERS
                .iter()
                .map(|&(name, offset, size, _)| member(name, offset, size))
                .collect(),
        };
        assert_eq!(btf.struct_layout("flow_event"), Some(want));
        assert_eq!(
            btf.enum_members("flow_state"),
            Some(owned(&[
                ("FLOW_NEW", 0),
                ("FLOW_SEEN", 4),
                ("FLOW_GONE", -1)
            ]))
        );
    }

    #[test]
    fn elf_errors() {
        assert!(matches!(
            Btf::from_elf(b"not an elf"),
            Err(BtfError::Elf(_))
        ));
        // A bare ELF header: valid, but with no sections at all.
        let mut elf = vec![0u8; 64];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2; // ELFCLASS64
        elf[5] = 1; // little-endian
        elf[6] = 1; // EV_CURRENT
        elf[16] = 1; // ET_REL
        elf[18] = 247; // EM_BPF
        elf[20] = 1; // e_version
        elf[52] = 64; // e_ehsize
        assert!(matches!(Btf::from_elf(&elf), Err(BtfError::NoBtfSection)));
    }
}
