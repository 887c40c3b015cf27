//! Registry commands: `login`, `logout`, `push`, `search`, and the stored
//! credentials they (and `pull`) use.

pub mod credentials;
pub mod login;
pub mod logout;
pub mod push;
pub mod search;
