//! berth-seccomp
