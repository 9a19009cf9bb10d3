//! Safe extraction of gzipped tar model archives: nothing an archive says can touch a path outside the extraction root.
//!
//! Policy, checked entry by entry before anything is written for that entry:
//! - paths must be relative and free of `..` (absolute paths and `..` are refused, not
//!   rewritten, so a malicious archive fails loudly instead of half-extracting);
//! - no entry is ever written *through* a symlink: every directory on the way to an entry
//!   must be a real directory. This is what makes the symlink rule below sufficient;
//! - symlinks are kept (model repositories use them, e.g. Hugging Face snapshots link
//!   `../../blobs/<hash>`) when their target is relative, any `..` components lead the
//!   target, and those do not climb above the extraction root. With no links traversed on
//!   the way to the link itself, a leading run of `..` walks up real directories only, and
//!   the rest of the target descends; so every link resolves inside the root;
//! - hard links must name an already extracted regular file inside the root;
//! - device files and fifos are refused; unknown entry types too.
//!
//! Permissions: setuid/setgid/sticky bits are dropped; files are made at least
//! world-readable and directories world-traversable, because the result is mounted
//! read-only into containers that may run as any user.

use std::fs;
use std::io::{self, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use tar::EntryType;

use crate::error::ObjectError;

/// Extracts the gzipped tar at `archive` into `root` (which must not exist yet).
/// `uri` is where the archive came from, for error messages.
pub(crate) fn extract_tar_gz(uri: &str, archive: &Path, root: &Path) -> Result<(), ObjectError> {
    let io_err = |e: io::Error| ObjectError::io(uri, e);
    fs::create_dir(root).map_err(io_err)?;
    let file = fs::File::open(archive).map_err(io_err)?;
    // MultiGzDecoder: parallel compressors (pigz) write several gzip members.
    let mut tar = tar::Archive::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)));
    for entry in tar.entries().map_err(io_err)? {
        let mut entry = entry.map_err(io_err)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let refuse = |reason: &str| ObjectError::UnsafeEntry {
            uri: uri.to_owned(),
            entry: name.clone(),
            reason: reason.to_owned(),
        };
        let rel = relative_path(&entry.path().map_err(io_err)?).map_err(&refuse)?;
        let kind = entry.header().entry_type();
        if rel.as_os_str().is_empty() {
            // "./" names the root itself; nothing to create.
            if kind.is_dir() {
                continue;
            }
            return Err(refuse("has an empty path"));
        }
        let dest = root.join(&rel);
        if let Some(parent) = rel.parent() {
            ensure_real_dirs(root, parent, true).map_err(|e| map_walk(e, &refuse, uri))?;
        }
        let mode = entry.header().mode().unwrap_or(0o644) & 0o777;
        match kind {
            EntryType::Directory => {
                match fs::symlink_metadata(&dest) {
                    Ok(md) if md.is_dir() => {}
                    Ok(_) => return Err(refuse("is a directory where the archive already put a file or link")),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir(&dest).map_err(io_err)?,
                    Err(e) => return Err(io_err(e)),
                }
                fs::set_permissions(&dest, fs::Permissions::from_mode(mode | 0o755)).map_err(io_err)?;
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                replace_non_dir(&dest).map_err(|e| map_walk(e, &refuse, uri))?;
                let mut out = fs::OpenOptions::new().write(true).create_new(true).open(&dest).map_err(io_err)?;
                io::copy(&mut entry, &mut out).map_err(io_err)?;
                out.set_permissions(fs::Permissions::from_mode(mode | 0o644)).map_err(io_err)?;
            }
            EntryType::Symlink => {
                let target =
                    entry.link_name().map_err(io_err)?.ok_or_else(|| refuse("is a symlink without a target"))?;
                check_symlink_target(&rel, &target).map_err(&refuse)?;
                replace_non_dir(&dest).map_err(|e| map_walk(e, &refuse, uri))?;
                std::os::unix::fs::symlink(&target, &dest).map_err(io_err)?;
            }
            EntryType::Link => {
                let target =
                    entry.link_name().map_err(io_err)?.ok_or_else(|| refuse("is a hard link without a target"))?;
                let target_rel =
                    relative_path(&target).map_err(|_| refuse("is a hard link to a path outside the archive"))?;
                if let Some(parent) = target_rel.parent() {
                    ensure_real_dirs(root, parent, false).map_err(|e| map_walk(e, &refuse, uri))?;
                }
                let source = root.join(&target_rel);
                match fs::symlink_metadata(&source) {
                    Ok(md) if md.is_file() => {}
                    _ => return Err(refuse("is a hard link to something other than an extracted regular file")),
                }
                replace_non_dir(&dest).map_err(|e| map_walk(e, &refuse, uri))?;
                fs::hard_link(&source, &dest).map_err(io_err)?;
            }
            EntryType::Char | EntryType::Block => return Err(refuse("is a device file")),
            EntryType::Fifo => return Err(refuse("is a fifo")),
            // Archive-wide pax metadata carries no file.
            EntryType::XGlobalHeader => {}
            _ => return Err(refuse("has an unsupported entry type")),
        }
    }
    Ok(())
}

/// The entry path with `.` components dropped; refuses absolute paths and `..`.
fn relative_path(path: &Path) -> Result<PathBuf, &'static str> {
    let mut rel = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(part) => rel.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err("has a `..` component"),
            Component::RootDir | Component::Prefix(_) => return Err("has an absolute path"),
        }
    }
    Ok(rel)
}

/// See the module docs: relative, `..` only as a leading run, never above the root.
fn check_symlink_target(link: &Path, target: &Path) -> Result<(), &'static str> {
    if target.as_os_str().is_empty() {
        return Err("is a symlink with an empty target");
    }
    // Directories between the root and the link: how far a leading `..` run may climb.
    let depth = link.components().count().saturating_sub(1);
    let mut ups = 0usize;
    let mut descended = false;
    for c in target.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => return Err("is a symlink to an absolute path"),
            Component::CurDir => {}
            Component::ParentDir if descended => {
                return Err(
                    "is a symlink whose target has `..` after a name (it could climb out through another link)",
                );
            }
            Component::ParentDir => {
                ups += 1;
                if ups > depth {
                    return Err("is a symlink that escapes the extraction root");
                }
            }
            Component::Normal(_) => descended = true,
        }
    }
    Ok(())
}

/// Why a filesystem walk refused to go on.
enum WalkError {
    Io(io::Error),
    Refused(&'static str),
}

fn map_walk(e: WalkError, refuse: &dyn Fn(&str) -> ObjectError, uri: &str) -> ObjectError {
    match e {
        WalkError::Io(e) => ObjectError::io(uri, e),
        WalkError::Refused(reason) => refuse(reason),
    }
}

/// Makes sure every directory from `root` down to `root/rel` is a real directory (not a
/// symlink, not a file), creating missing ones when `create`.
fn ensure_real_dirs(root: &Path, rel: &Path, create: bool) -> Result<(), WalkError> {
    let mut dir = root.to_path_buf();
    for c in rel.components() {
        dir.push(c);
        match fs::symlink_metadata(&dir) {
            Ok(md) if md.is_dir() => {}
            Ok(md) if md.file_type().is_symlink() => {
                return Err(WalkError::Refused("would be written through a symlink"));
            }
            Ok(_) => return Err(WalkError::Refused("is below a path the archive made a file")),
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                fs::create_dir(&dir).map_err(WalkError::Io)?;
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).map_err(WalkError::Io)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(WalkError::Refused("names a missing path")),
            Err(e) => return Err(WalkError::Io(e)),
        }
    }
    Ok(())
}

/// A later entry replaces an earlier file or link of the same name (tar semantics), but
/// never a directory; removing first also means we never write through an old symlink.
fn replace_non_dir(dest: &Path) -> Result<(), WalkError> {
    match fs::symlink_metadata(dest) {
        Ok(md) if md.is_dir() => Err(WalkError::Refused("would replace a directory")),
        Ok(_) => fs::remove_file(dest).map_err(WalkError::Io),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(WalkError::Io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths() {
        assert_eq!(relative_path(Path::new("./a/./b")), Ok(PathBuf::from("a/b")));
        assert!(relative_path(Path::new("a/../b")).is_err());
        assert!(relative_path(Path::new("/etc/passwd")).is_err());
    }

    #[test]
    fn symlink_targets() {
        let ok = |link: &str, target: &str| check_symlink_target(Path::new(link), Path::new(target)).is_ok();
        assert!(ok("a/b/link", "../../blobs/x"));
        assert!(ok("link", "sub/file"));
        assert!(ok("link", "."));
        assert!(!ok("link", "../x"));
        assert!(!ok("a/link", "../../x"));
        assert!(!ok("a/link", "/etc/passwd"));
        assert!(!ok("a/link", "sub/../../x"));
        assert!(!ok("a/link", "sub/../x"));
    }
}
