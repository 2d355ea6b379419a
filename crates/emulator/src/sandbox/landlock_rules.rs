//! The Landlock tier: for hosts without namespaces, the kernel is confined by filesystem, network and
//! signal rules instead.

use std::path::Path;

use ::landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreated,
    RulesetCreatedAttr, Scope, path_beneath_rules,
};

/// The newest Landlock ABI this emulator asks for; older kernels get what they support (best effort).
const ABI_WANTED: ABI = ABI::V6;

/// The Landlock ABI of the running kernel (0 when unsupported).
pub(crate) fn abi_version() -> i64 {
    // SAFETY: landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) only returns a number.
    let v = unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, std::ptr::null::<u8>(), 0usize, 1u32) };
    v.max(0)
}

/// A ruleset: read-only runtime paths, read-write session directories, no TCP, no signals or abstract
/// sockets outside the sandbox.
pub(crate) fn ruleset(read_only: &[&Path], read_write: &[&Path]) -> Result<RulesetCreated, ::landlock::RulesetError> {
    let abi = ABI_WANTED;
    Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))?
        .handle_access(AccessNet::from_all(abi))?
        .scope(Scope::from_all(abi))?
        .create()?
        .add_rules(path_beneath_rules(read_only, AccessFs::from_read(abi)))?
        .add_rules(path_beneath_rules(read_write, AccessFs::from_all(abi)))
}
