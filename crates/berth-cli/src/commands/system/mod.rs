//! `docker system ...` and the top-level object-agnostic commands.

pub mod info;
pub mod inspect;
pub mod version;
