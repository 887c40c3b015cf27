//! Links `berth` as a position-dependent executable.
//!
//! Every container has a shim: a long-lived process running this binary.
//! As a PIE, the dynamic loader patches ~40,000 relocations into
//! `.data.rel.ro` (vtables, static tables of pointers) at every start, and
//! each patched page becomes private: about 700 KiB of anonymous memory per
//! shim, more than half of what a whole idle container costs. Linked without
//! PIE (the objects stay PIC; only the final link changes) those pages stay
//! shared with the file. Shared libraries, the heap, the stack and mmap
//! regions are still randomised; only the executable's own image sits at a
//! fixed address, as with Go-built engines such as containerd's shims.
fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
