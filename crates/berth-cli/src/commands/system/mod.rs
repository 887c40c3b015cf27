//! `docker system ...` and the top-level object-agnostic commands.

pub mod df;
pub mod events;
pub mod info;
pub mod inspect;
pub mod prune;
pub mod version;
