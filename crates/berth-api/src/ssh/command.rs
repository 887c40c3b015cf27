//! The `ssh` command line for one connection, argument for argument the docker
//! CLI's: the remote end runs `docker system dial-stdio`, which berth provides
//! too, so a remote host with either engine (or berth installed as `docker`) works.

use super::SshHost;

/// The program run; found through `PATH`, as docker finds it.
pub const PROGRAM: &str = "ssh";

impl SshHost {
    /// The arguments after `ssh`. `-o ConnectTimeout=30` is one argument, as
    /// docker passes it; `--` keeps a host that starts with `-` a host.
    pub fn ssh_args(&self) -> Vec<String> {
        let mut args = vec!["-o ConnectTimeout=30".to_string(), "-T".to_string()];
        if let Some(user) = &self.user {
            args.extend(["-l".to_string(), user.clone()]);
        }
        if let Some(port) = self.port {
            args.extend(["-p".to_string(), port.to_string()]);
        }
        args.extend(["--".to_string(), self.host.clone()]);
        args.extend(self.remote_command());
        args
    }

    /// What runs on the remote host. ssh hands the words to the remote shell
    /// joined by spaces, unquoted, as docker does.
    fn remote_command(&self) -> Vec<String> {
        let mut cmd = vec!["docker".to_string()];
        if let Some(path) = &self.socket_path {
            cmd.extend(["--host".to_string(), format!("unix://{path}")]);
        }
        cmd.extend(["system".to_string(), "dial-stdio".to_string()]);
        cmd
    }

    /// The whole command as docker's messages show it: `ssh -o ... dial-stdio`.
    pub fn command_line(&self) -> String {
        std::iter::once(PROGRAM.to_string())
            .chain(self.ssh_args())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(url: &str) -> Vec<String> {
        SshHost::parse(url).unwrap().ssh_args()
    }

    #[test]
    fn argv_is_dockers() {
        // As logged from docker 28 by a fake `ssh` first in PATH.
        assert_eq!(
            args("ssh://me@example:2222"),
            [
                "-o ConnectTimeout=30",
                "-T",
                "-l",
                "me",
                "-p",
                "2222",
                "--",
                "example",
                "docker",
                "system",
                "dial-stdio"
            ]
        );
        assert_eq!(
            args("ssh://example"),
            [
                "-o ConnectTimeout=30",
                "-T",
                "--",
                "example",
                "docker",
                "system",
                "dial-stdio"
            ]
        );
        assert_eq!(
            args("ssh://[::1]:22/var/run/x.sock"),
            [
                "-o ConnectTimeout=30",
                "-T",
                "-p",
                "22",
                "--",
                "::1",
                "docker",
                "--host",
                "unix:///var/run/x.sock",
                "system",
                "dial-stdio"
            ]
        );
    }

    #[test]
    fn command_line_as_docker_prints_it() {
        assert_eq!(
            SshHost::parse("ssh://me@example").unwrap().command_line(),
            "ssh -o ConnectTimeout=30 -T -l me -- example docker system dial-stdio"
        );
    }
}
