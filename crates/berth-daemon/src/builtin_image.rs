//! The built-in `hello-world` image: one tiny static x86-64 program that
//! prints a greeting, so `berth run hello-world` works on a machine with no
//! network and no images. The program is assembled here by hand because no
//! crate ships a dependency-free static binary; it is 33 bytes of code.

use std::io::Read;

pub const NAME: &str = "hello-world:latest";

const MESSAGE: &[u8] = b"\nHello from berth!\nThis message shows that your installation appears to be working correctly.\n\nTo generate this message, berth:\n 1. answered the client over the Docker Engine API.\n 2. created a container from the built-in \"hello-world\" image.\n 3. ran it in its own namespaces and cgroups, and streamed this output back.\n\n";

const BASE: u64 = 0x40_0000;
const EHDR: usize = 64;
const PHDR: usize = 56;

/// A minimal ELF64 executable: write(1, MESSAGE, len); exit(0).
pub fn hello_elf() -> Vec<u8> {
    let mut code: Vec<u8> = Vec::new();
    code.extend_from_slice(&[0xb8, 1, 0, 0, 0]); // mov eax, 1 (write)
    code.extend_from_slice(&[0xbf, 1, 0, 0, 0]); // mov edi, 1 (stdout)
    code.extend_from_slice(&[0x48, 0x8d, 0x35]); // lea rsi, [rip + rel32]
    code.extend_from_slice(&16i32.to_le_bytes()); //   message follows the 16 bytes after this instruction
    code.push(0xba); // mov edx, len
    code.extend_from_slice(&(MESSAGE.len() as u32).to_le_bytes());
    code.extend_from_slice(&[0x0f, 0x05]); // syscall
    code.extend_from_slice(&[0xb8, 60, 0, 0, 0]); // mov eax, 60 (exit)
    code.extend_from_slice(&[0x31, 0xff]); // xor edi, edi
    code.extend_from_slice(&[0x0f, 0x05]); // syscall
    code.extend_from_slice(MESSAGE);
    let total = (EHDR + PHDR + code.len()) as u64;

    let mut f = Vec::with_capacity(total as usize);
    f.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    f.extend_from_slice(&0x3eu16.to_le_bytes()); // x86-64
    f.extend_from_slice(&1u32.to_le_bytes());
    f.extend_from_slice(&(BASE + (EHDR + PHDR) as u64).to_le_bytes()); // entry
    f.extend_from_slice(&(EHDR as u64).to_le_bytes()); // phoff
    f.extend_from_slice(&0u64.to_le_bytes()); // shoff
    f.extend_from_slice(&0u32.to_le_bytes()); // flags
    f.extend_from_slice(&(EHDR as u16).to_le_bytes());
    f.extend_from_slice(&(PHDR as u16).to_le_bytes());
    f.extend_from_slice(&1u16.to_le_bytes()); // phnum
    f.extend_from_slice(&[0; 6]); // shentsize, shnum, shstrndx
    f.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    f.extend_from_slice(&5u32.to_le_bytes()); // R + X
    f.extend_from_slice(&0u64.to_le_bytes()); // offset
    f.extend_from_slice(&BASE.to_le_bytes()); // vaddr
    f.extend_from_slice(&BASE.to_le_bytes()); // paddr
    f.extend_from_slice(&total.to_le_bytes()); // filesz
    f.extend_from_slice(&total.to_le_bytes()); // memsz
    f.extend_from_slice(&0x1000u64.to_le_bytes()); // align
    f.extend_from_slice(&code);
    f
}

fn rootfs_tar() -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    let elf = hello_elf();
    let mut h = tar::Header::new_gnu();
    h.set_size(elf.len() as u64);
    h.set_mode(0o755);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mtime(1_577_836_800);
    h.set_cksum();
    b.append_data(&mut h, "hello", elf.as_slice())?;
    b.into_inner()
}

/// Imports the image unless a `hello-world` image already exists.
pub fn ensure(images: &berth_image::ImageStore) -> anyhow::Result<()> {
    if images.resolve(NAME).is_ok() {
        return Ok(());
    }
    let tar = rootfs_tar()?;
    let mut reader: Box<dyn Read> = Box::new(std::io::Cursor::new(tar));
    images.import(
        &mut reader,
        berth_image::ImportOptions {
            changes: vec!["CMD [\"/hello\"]".into()],
            message: "berth built-in image".into(),
            reference: Some(NAME.into()),
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The program really runs and prints the message (on the host, directly).
    #[test]
    fn hello_elf_runs() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hello");
        std::fs::write(&p, hello_elf()).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = std::process::Command::new(&p).output().unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, MESSAGE);
    }
}
