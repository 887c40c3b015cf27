//! berth-build: the Dockerfile front end of the classic builder. Parsing
//! (logical lines, instructions), variable substitution with Docker's rules,
//! `.dockerignore` matching, the build plan (stages, `ARG` scoping, target)
//! and cache keys. No daemon dependency: the daemon's executor drives it.

pub mod archive;
pub mod cache;
pub mod error;
pub mod history;
pub mod ignore;
pub mod instruction;
pub mod parser;
pub mod plan;
pub mod words;

pub use error::BuildError;
pub use instruction::{Command, CopyArgs, Instruction};
pub use parser::{parse, Step};
pub use plan::{Plan, Stage};
