//! The command tree. Every command lives in its own file with its flags
//! (`Args`) and its `run` function, grouped by Docker object as the docker CLI is.

pub mod container;
pub mod context;
pub mod image;
pub mod network;
pub mod registry;
pub mod system;
pub mod volume;

use anyhow::Result;
use clap::Subcommand;

use crate::cli::Ctx;
use container as c;
use image as i;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and run a new container from an image
    Run(c::run::Args),
    /// Create a new container
    Create(c::create::Args),
    /// Start one or more stopped containers
    Start(c::start::Args),
    /// Stop one or more running containers
    Stop(c::stop::Args),
    /// Restart one or more containers
    Restart(c::restart::Args),
    /// Kill one or more running containers
    Kill(c::kill::Args),
    /// Remove one or more containers
    Rm(c::rm::Args),
    /// Block until one or more containers stop, then print their exit codes
    Wait(c::wait::Args),
    /// Fetch the logs of a container
    Logs(c::logs::Args),
    /// Execute a command in a running container
    Exec(c::exec::Args),
    /// Attach local standard input, output, and error streams to a running container
    Attach(c::attach::Args),
    /// List containers
    Ps(c::ps::Args),
    /// Return low-level information on Docker objects
    Inspect(system::inspect::Args),
    /// Rename a container
    Rename(c::rename::Args),
    /// Pause all processes within one or more containers
    Pause(c::pause::Args),
    /// Unpause all processes within one or more containers
    Unpause(c::unpause::Args),
    /// Display the running processes of a container
    Top(c::top::Args),
    /// Display a live stream of container(s) resource usage statistics
    Stats(c::stats::Args),
    /// Get real time events from the server
    Events(system::events::Args),
    /// List images
    Images(i::list::Args),
    /// Import the contents from a tarball to create a filesystem image
    Import(i::import::Args),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(i::tag::Args),
    /// Remove one or more images
    Rmi(i::remove::Args),
    /// Show the history of an image
    History(i::history::Args),
    /// Download an image from a registry
    Pull(i::pull::Args),
    /// Upload an image to a registry
    Push(registry::push::Args),
    /// Log in to a registry
    Login(registry::login::Args),
    /// Log out from a registry
    Logout(registry::logout::Args),
    /// Search Docker Hub for images
    Search(registry::search::Args),
    /// Show the Docker version information
    Version(system::version::Args),
    /// Display system-wide information
    Info(system::info::Args),
    /// Update configuration of one or more containers
    Update(c::update::Args),
    /// Create a new image from a container's changes
    Commit(c::commit::Args),
    /// Copy files/folders between a container and the local filesystem
    Cp(c::cp::Args),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(c::diff::Args),
    /// Export a container's filesystem as a tar archive
    Export(c::export::Args),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(i::save::Args),
    /// Load an image from a tar archive or STDIN
    Load(i::load::Args),
    /// Build an image from a Dockerfile
    Build(i::build::Args),
    /// List port mappings or a specific mapping for the container
    Port(c::port::Args),
    /// Manage containers
    #[command(subcommand, override_usage = "")]
    Container(ContainerCommand),
    /// Manage images
    #[command(subcommand, override_usage = "")]
    Image(ImageCommand),
    /// Manage builds
    #[command(subcommand, override_usage = "")]
    Builder(BuilderCommand),
    /// Manage Docker
    #[command(subcommand, override_usage = "")]
    System(SystemCommand),
    /// Manage volumes
    #[command(subcommand, override_usage = "COMMAND")]
    Volume(volume::VolumeCommand),
    /// Manage networks
    #[command(subcommand, override_usage = "")]
    Network(network::NetworkCommand),
    /// Manage contexts
    #[command(subcommand, override_usage = "")]
    Context(context::ContextCommand),
}

#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Create and run a new container from an image
    Run(c::run::Args),
    /// Create a new container
    Create(c::create::Args),
    /// Start one or more stopped containers
    Start(c::start::Args),
    /// Stop one or more running containers
    Stop(c::stop::Args),
    /// Restart one or more containers
    Restart(c::restart::Args),
    /// Kill one or more running containers
    Kill(c::kill::Args),
    /// Remove one or more containers
    #[command(alias = "remove")]
    Rm(c::rm::Args),
    /// Block until one or more containers stop, then print their exit codes
    Wait(c::wait::Args),
    /// Fetch the logs of a container
    Logs(c::logs::Args),
    /// Execute a command in a running container
    Exec(c::exec::Args),
    /// Attach local standard input, output, and error streams to a running container
    Attach(c::attach::Args),
    /// List containers
    #[command(aliases = ["ps", "list"])]
    Ls(c::ps::Args),
    /// Display detailed information on one or more containers
    Inspect(c::inspect::Args),
    /// Rename a container
    Rename(c::rename::Args),
    /// Pause all processes within one or more containers
    Pause(c::pause::Args),
    /// Unpause all processes within one or more containers
    Unpause(c::unpause::Args),
    /// Display the running processes of a container
    Top(c::top::Args),
    /// Update configuration of one or more containers
    Update(c::update::Args),
    /// Create a new image from a container's changes
    Commit(c::commit::Args),
    /// Display a live stream of container(s) resource usage statistics
    Stats(c::stats::Args),
    /// Remove all stopped containers
    Prune(c::prune::Args),
    /// List port mappings or a specific mapping for the container
    Port(c::port::Args),
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List images
    #[command(alias = "list")]
    Ls(i::list::Args),
    /// Remove one or more images
    #[command(alias = "remove")]
    Rm(i::remove::Args),
    /// Display detailed information on one or more images
    Inspect(i::inspect::Args),
    /// Import the contents from a tarball to create a filesystem image
    Import(i::import::Args),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(i::tag::Args),
    /// Show the history of an image
    History(i::history::Args),
    /// Download an image from a registry
    Pull(i::pull::Args),
    /// Upload an image to a registry
    Push(registry::push::Args),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(i::save::Args),
    /// Load an image from a tar archive or STDIN
    Load(i::load::Args),
    /// Build an image from a Dockerfile
    Build(Box<i::build::Args>),
    /// Remove unused images
    Prune(i::prune::Args),
}

#[derive(Debug, Subcommand)]
pub enum BuilderCommand {
    /// Build an image from a Dockerfile
    Build(Box<i::build::Args>),
    /// Remove build cache
    Prune(i::build_prune::Args),
}

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Display system-wide information
    Info(system::info::Args),
    /// Show docker disk usage
    Df(system::df::Args),
    /// Remove unused data
    Prune(system::prune::Args),
    /// Get real time events from the server
    Events(system::events::Args),
    /// Proxy the stdio stream to the daemon connection. Should not be invoked manually.
    #[command(hide = true)]
    DialStdio(system::dial_stdio::Args),
}

impl Command {
    /// Commands that must work without a daemon (no version negotiation first);
    /// `dial-stdio` only relays, the peer negotiates.
    pub fn is_offline(&self) -> bool {
        matches!(
            self,
            Command::Version(_)
                | Command::Context(_)
                | Command::System(SystemCommand::DialStdio(_))
        )
    }

    pub async fn run(self, ctx: &mut Ctx) -> Result<()> {
        match self {
            Command::Run(a) => c::run::run(ctx, a).await,
            Command::Create(a) => c::create::run(ctx, a).await,
            Command::Start(a) => c::start::run(ctx, a).await,
            Command::Stop(a) => c::stop::run(ctx, a).await,
            Command::Restart(a) => c::restart::run(ctx, a).await,
            Command::Kill(a) => c::kill::run(ctx, a).await,
            Command::Rm(a) => c::rm::run(ctx, a).await,
            Command::Wait(a) => c::wait::run(ctx, a).await,
            Command::Logs(a) => c::logs::run(ctx, a).await,
            Command::Exec(a) => c::exec::run(ctx, a).await,
            Command::Attach(a) => c::attach::run(ctx, a).await,
            Command::Ps(a) => c::ps::run(ctx, a).await,
            Command::Inspect(a) => system::inspect::run(ctx, a).await,
            Command::Rename(a) => c::rename::run(ctx, a).await,
            Command::Pause(a) => c::pause::run(ctx, a).await,
            Command::Unpause(a) => c::unpause::run(ctx, a).await,
            Command::Top(a) => c::top::run(ctx, a).await,
            Command::Stats(a) => c::stats::run(ctx, a).await,
            Command::Events(a) => system::events::run(ctx, a).await,
            Command::Images(a) => i::list::run(ctx, a).await,
            Command::Import(a) => i::import::run(ctx, a).await,
            Command::Tag(a) => i::tag::run(ctx, a).await,
            Command::Rmi(a) => i::remove::run(ctx, a).await,
            Command::History(a) => i::history::run(ctx, a).await,
            Command::Pull(a) => i::pull::run(ctx, a).await,
            Command::Push(a) => registry::push::run(ctx, a).await,
            Command::Login(a) => registry::login::run(ctx, a).await,
            Command::Logout(a) => registry::logout::run(ctx, a).await,
            Command::Search(a) => registry::search::run(ctx, a).await,
            Command::Version(a) => system::version::run(ctx, a).await,
            Command::Info(a) => system::info::run(ctx, a).await,
            Command::Update(a) => c::update::run(ctx, a).await,
            Command::Commit(a) => c::commit::run(ctx, a).await,
            Command::Cp(a) => c::cp::run(ctx, a).await,
            Command::Diff(a) => c::diff::run(ctx, a).await,
            Command::Export(a) => c::export::run(ctx, a).await,
            Command::Save(a) => i::save::run(ctx, a).await,
            Command::Load(a) => i::load::run(ctx, a).await,
            Command::Build(a) => i::build::run(ctx, a).await,
            Command::Container(sub) => sub.run(ctx).await,
            Command::Image(sub) => sub.run(ctx).await,
            Command::Volume(sub) => sub.run(ctx).await,
            Command::Network(sub) => sub.run(ctx).await,
            Command::Context(sub) => sub.run(&ctx.config),
            Command::Port(a) => c::port::run(ctx, a).await,
            Command::Builder(BuilderCommand::Build(a)) => i::build::run(ctx, *a).await,
            Command::Builder(BuilderCommand::Prune(a)) => i::build_prune::run(ctx, a).await,
            Command::System(SystemCommand::Info(a)) => system::info::run(ctx, a).await,
            Command::System(SystemCommand::Df(a)) => system::df::run(ctx, a).await,
            Command::System(SystemCommand::Prune(a)) => system::prune::run(ctx, a).await,
            Command::System(SystemCommand::Events(a)) => system::events::run(ctx, a).await,
            Command::System(SystemCommand::DialStdio(a)) => system::dial_stdio::run(ctx, a).await,
        }
    }
}

impl ContainerCommand {
    async fn run(self, ctx: &mut Ctx) -> Result<()> {
        match self {
            ContainerCommand::Run(a) => c::run::run(ctx, a).await,
            ContainerCommand::Create(a) => c::create::run(ctx, a).await,
            ContainerCommand::Start(a) => c::start::run(ctx, a).await,
            ContainerCommand::Stop(a) => c::stop::run(ctx, a).await,
            ContainerCommand::Restart(a) => c::restart::run(ctx, a).await,
            ContainerCommand::Kill(a) => c::kill::run(ctx, a).await,
            ContainerCommand::Rm(a) => c::rm::run(ctx, a).await,
            ContainerCommand::Wait(a) => c::wait::run(ctx, a).await,
            ContainerCommand::Logs(a) => c::logs::run(ctx, a).await,
            ContainerCommand::Exec(a) => c::exec::run(ctx, a).await,
            ContainerCommand::Attach(a) => c::attach::run(ctx, a).await,
            ContainerCommand::Ls(a) => c::ps::run(ctx, a).await,
            ContainerCommand::Inspect(a) => c::inspect::run(ctx, a).await,
            ContainerCommand::Rename(a) => c::rename::run(ctx, a).await,
            ContainerCommand::Pause(a) => c::pause::run(ctx, a).await,
            ContainerCommand::Unpause(a) => c::unpause::run(ctx, a).await,
            ContainerCommand::Top(a) => c::top::run(ctx, a).await,
            ContainerCommand::Update(a) => c::update::run(ctx, a).await,
            ContainerCommand::Commit(a) => c::commit::run(ctx, a).await,
            ContainerCommand::Stats(a) => c::stats::run(ctx, a).await,
            ContainerCommand::Prune(a) => c::prune::run(ctx, a).await,
            ContainerCommand::Port(a) => c::port::run(ctx, a).await,
        }
    }
}

impl ImageCommand {
    async fn run(self, ctx: &mut Ctx) -> Result<()> {
        match self {
            ImageCommand::Ls(a) => i::list::run(ctx, a).await,
            ImageCommand::Rm(a) => i::remove::run(ctx, a).await,
            ImageCommand::Inspect(a) => i::inspect::run(ctx, a).await,
            ImageCommand::Import(a) => i::import::run(ctx, a).await,
            ImageCommand::Tag(a) => i::tag::run(ctx, a).await,
            ImageCommand::History(a) => i::history::run(ctx, a).await,
            ImageCommand::Pull(a) => i::pull::run(ctx, a).await,
            ImageCommand::Push(a) => registry::push::run(ctx, a).await,
            ImageCommand::Save(a) => i::save::run(ctx, a).await,
            ImageCommand::Load(a) => i::load::run(ctx, a).await,
            ImageCommand::Build(a) => i::build::run(ctx, *a).await,
            ImageCommand::Prune(a) => i::prune::run(ctx, a).await,
        }
    }
}

/// Percent-encodes one path segment (names and ids are normally safe already).
pub fn seg(s: &str) -> String {
    form_urlencoded_segment(s)
}

fn form_urlencoded_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' | b'@' => {
                (b as char).to_string()
            }
            // Image references keep their slashes: the API routes `/images/{name:.*}`.
            b'/' => "/".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `--filter key=value` flags as the JSON the API takes: `{"key":{"value":true}}`.
pub fn filters_json(filters: &[String]) -> Result<Option<String>> {
    if filters.is_empty() {
        return Ok(None);
    }
    let mut map: std::collections::BTreeMap<String, std::collections::BTreeMap<String, bool>> =
        Default::default();
    for f in filters {
        let (k, v) = f.split_once('=').ok_or_else(|| {
            anyhow::anyhow!("invalid argument \"{f}\" for \"-f, --filter\" flag: bad format of filter (expected name=value)")
        })?;
        map.entry(k.trim().to_lowercase())
            .or_default()
            .insert(v.to_string(), true);
    }
    Ok(Some(serde_json::to_string(&map)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_as_json() {
        assert_eq!(filters_json(&[]).unwrap(), None);
        assert_eq!(
            filters_json(&["name=psx".into(), "label=tier=db".into(), "name=b".into()])
                .unwrap()
                .unwrap(),
            r#"{"label":{"tier=db":true},"name":{"b":true,"psx":true}}"#
        );
        assert!(filters_json(&["bad".into()]).is_err());
    }

    #[test]
    fn path_segments() {
        assert_eq!(seg("busybox:latest"), "busybox:latest");
        assert_eq!(seg("a b"), "a%20b");
        assert_eq!(seg("localhost:5000/x"), "localhost:5000/x");
    }
}
