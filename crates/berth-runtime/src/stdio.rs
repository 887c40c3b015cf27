//! Wiring the container process's standard streams: the caller's fds (pipes
//! or a pty slave), or a terminal the process opens itself on the container's
//! own devpts instance, whose master travels back to the caller over a unix
//! socket (runc's console socket).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, open, FcntlArg, OFlag};
use nix::pty::{posix_openpt, ptsname_r, unlockpt};
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use nix::sys::stat::{fchmod, Mode};
use nix::unistd::{dup2, fchown, setsid, Gid, Uid};

use crate::error::{Context, Result, RuntimeError};

/// The `tty` group that owns terminals, as devpts' `gid=5` mount option says.
const TTY_GID: u32 = 5;
/// Owner read/write, group write: what runc and a login leave on a terminal.
const TTY_MODE: u32 = 0o620;

/// A terminal's size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PtySize {
    pub rows: u16,
    pub cols: u16,
}

/// The container process's standard streams.
#[derive(Debug)]
pub enum Stdio {
    /// fds become the process's 0,1,2 (stdin may be an fd of /dev/null)
    Pipes {
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
    /// A pty slave of the caller's becomes 0,1,2 and the controlling terminal
    /// (setsid + TIOCSCTTY). Inside a container with its own devpts it has no
    /// name (`tty` says /dev/console): prefer [`Stdio::NewPty`].
    Pty { slave: OwnedFd },
    /// The process opens a new pty from the /dev/ptmx it sees (the
    /// container's devpts instance, so `tty` says /dev/pts/N as with runc),
    /// makes the slave its controlling terminal and 0,1,2, and the master is
    /// handed to the caller in [`crate::Started::pty_master`].
    NewPty { size: Option<PtySize> },
}

impl Stdio {
    /// Child side, right after entering the namespaces: a new session, then
    /// the fds on 0, 1, 2. Returns the pty slave (now fd 0) when the caller
    /// gave one, for /dev/console. A [`Stdio::NewPty`] terminal is set up
    /// later, by [`NewPty::open`], once the container's /dev is in place.
    pub(crate) fn install(&self) -> Result<Option<RawFd>> {
        setsid().ctx(|| "setsid")?;
        match self {
            Stdio::Pipes {
                stdin,
                stdout,
                stderr,
            } => {
                let fds = [stdin.as_raw_fd(), stdout.as_raw_fd(), stderr.as_raw_fd()];
                place(fds)?;
                Ok(None)
            }
            Stdio::Pty { slave } => {
                make_controlling(slave.as_fd())?;
                let fd = slave.as_raw_fd();
                place([fd, fd, fd])?;
                Ok(Some(0))
            }
            Stdio::NewPty { .. } => Ok(None),
        }
    }

    /// Parent side, before fork: the socket pair the master will come back
    /// over when the child is to open its own terminal.
    pub(crate) fn new_pty(&self) -> Result<Option<NewPty>> {
        let Stdio::NewPty { size } = self else {
            return Ok(None);
        };
        // SEQPACKET keeps the one message (and its fd) in one piece; CLOEXEC
        // so neither end leaks into the container program.
        let (parent, child) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .ctx(|| "socketpair for the terminal")?;
        Ok(Some(NewPty {
            size: *size,
            parent,
            child,
        }))
    }
}

/// A terminal the container process opens itself; see [`Stdio::NewPty`].
#[derive(Debug)]
pub(crate) struct NewPty {
    size: Option<PtySize>,
    parent: OwnedFd,
    child: OwnedFd,
}

impl NewPty {
    /// Child side, inside the container's mount namespace and root: opens a
    /// pty on /dev/ptmx, gives the slave to `uid` (group tty, 0620), makes it
    /// the controlling terminal and 0, 1, 2, and sends the master to the
    /// parent.
    pub(crate) fn open(&self, uid: Uid) -> Result<()> {
        let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
            .ctx(|| "open /dev/ptmx")?;
        unlockpt(&master).ctx(|| "unlockpt")?;
        let name = ptsname_r(&master).ctx(|| "ptsname")?;
        let raw = open(
            name.as_str(),
            OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ctx(|| format!("open {name}"))?;
        // SAFETY: `open` just returned this fd and nothing else owns it.
        let slave = unsafe { OwnedFd::from_raw_fd(raw) };
        fchown(raw, Some(uid), Some(Gid::from_raw(TTY_GID))).ctx(|| format!("chown {name}"))?;
        fchmod(raw, Mode::from_bits_truncate(TTY_MODE)).ctx(|| format!("chmod {name}"))?;
        if let Some(size) = self.size {
            set_size(slave.as_fd(), size)?;
        }
        make_controlling(slave.as_fd())?;
        place([raw, raw, raw])?;
        let fds = [master.as_raw_fd()];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        let iov = [std::io::IoSlice::new(b"t")];
        sendmsg::<()>(self.child.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
            .ctx(|| "send the terminal master to the runtime")?;
        // The process must not keep the master: its last slave closing is
        // how the caller learns the terminal is done (EIO on read).
        drop(master);
        drop(slave);
        Ok(())
    }

    /// Parent side, after the child has exec'd (so it has sent the master,
    /// or failed and said so): takes the master off the socket.
    pub(crate) fn receive(self) -> Result<OwnedFd> {
        // Our copy of the child's end must go, or a child that never sent
        // would leave the read below waiting forever instead of seeing EOF.
        drop(self.child);
        let mut byte = [0u8; 1];
        let mut iov = [std::io::IoSliceMut::new(&mut byte)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<()>(
            self.parent.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .ctx(|| "receive the terminal master")?;
        let mut got = None;
        for c in msg.cmsgs().ctx(|| "read the terminal master message")? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                for fd in fds {
                    // SAFETY: SCM_RIGHTS just installed this fd in our table;
                    // we are its only owner.
                    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                    got.get_or_insert(owned);
                }
            }
        }
        got.ok_or_else(|| {
            RuntimeError::Child("the container process did not send its terminal".into())
        })
    }
}

/// Makes `tty` the controlling terminal of this (new session leader) process.
fn make_controlling(tty: BorrowedFd<'_>) -> Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal).
    if unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
        return Err(RuntimeError::sys("ioctl TIOCSCTTY", Errno::last()));
    }
    Ok(())
}

fn set_size(tty: BorrowedFd<'_>, size: PtySize) -> Result<()> {
    let ws = libc::winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize we own for the duration of the call.
    if unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
        return Err(RuntimeError::sys("ioctl TIOCSWINSZ", Errno::last()));
    }
    Ok(())
}

/// Puts `fds` on 0, 1, 2. Each is first copied above 2 so that a source
/// already sitting on 0..2 is not overwritten before it is used.
fn place(fds: [RawFd; 3]) -> Result<()> {
    let mut high = [0; 3];
    for (i, fd) in fds.iter().enumerate() {
        high[i] = fcntl(*fd, FcntlArg::F_DUPFD_CLOEXEC(3)).ctx(|| format!("dup fd {fd}"))?;
    }
    for (target, fd) in high.iter().enumerate() {
        // dup2 clears CLOEXEC on the new descriptor, as wanted for 0..2.
        dup2(*fd, target as RawFd).ctx(|| format!("dup2 onto fd {target}"))?;
    }
    Ok(())
}
