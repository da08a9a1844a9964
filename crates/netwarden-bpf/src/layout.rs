//! Test support: compares a Rust mirror's size and field offsets with a struct in an object's BTF.

use crate::btf::Btf;

/// Panics naming the first difference between `fields` (name, Rust offset, in order) and the C
/// struct `c_name` in `object`'s BTF.
pub fn check(object: &[u8], c_name: &str, rust_size: usize, fields: &[(&str, usize)]) {
    let btf = Btf::from_elf(object).expect("object has BTF");
    let layout = btf
        .struct_layout(c_name)
        .unwrap_or_else(|| panic!("struct {c_name} missing from the object's BTF"));
    assert_eq!(layout.size as usize, rust_size, "size of struct {c_name}");
    assert_eq!(
        layout.members.len(),
        fields.len(),
        "member count of struct {c_name}"
    );
    for (member, (name, offset)) in layout.members.iter().zip(fields) {
        assert_eq!(member.name, *name, "member order of struct {c_name}");
        assert_eq!(member.offset as usize, *offset, "offset of {c_name}.{name}");
    }
}

/// `fields!(Type: "c_name" => rust_field, ...)`: (C name, Rust offset) pairs for [`check`].
#[macro_export]
#[doc(hidden)]
macro_rules! fields {
    ($ty:ty: $($c:literal => $r:ident),* $(,)?) => {
        &[$(($c, std::mem::offset_of!($ty, $r))),*]
    };
}

/// Asserts that every `(C enumerator, Rust value)` pair matches `enum_name` in `object`'s BTF.
pub fn check_enum(object: &[u8], enum_name: &str, values: &[(&str, i64)]) {
    let btf = Btf::from_elf(object).expect("object has BTF");
    let members = btf
        .enum_members(enum_name)
        .unwrap_or_else(|| panic!("enum {enum_name} missing from the object's BTF"));
    for (c_name, rust) in values {
        let value = members.iter().find(|(n, _)| n == c_name).map(|(_, v)| *v);
        assert_eq!(value, Some(*rust), "{enum_name}::{c_name}");
    }
}
