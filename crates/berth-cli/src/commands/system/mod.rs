//! `docker system ...` and the top-level object-agnostic commands.

pub mod df;
pub mod dial_stdio;
pub mod events;
pub mod info;
pub mod inspect;
pub mod prune;
pub mod version;
