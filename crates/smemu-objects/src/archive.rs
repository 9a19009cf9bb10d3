//! Safe extraction of gzipped tar model archives: nothing an archive says can touch a path outside the extraction root, and nothing it says can make smemu write, decompress or hold more than a budget.
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
//! Size (`--max-artifact-size`): every byte the decompressor hands the tar reader counts (headers,
//! long names, pax records, skipped data), except a file's data, which counts at the file's full
//! logical size instead, checked before the file is created. So a gzip bomb stops after at most
//! the budget is decompressed, and a GNU sparse entry that claims terabytes of holes in a few
//! hundred bytes counts as terabytes. Sparse files that fit are written sparse (holes are seeks,
//! as `tar` does), so they take no more disk than their data. Header metadata (long names, pax
//! records) is read into memory by the tar reader, so at most [`MAX_HEADER_BYTES`] of it is
//! decompressed per entry: memory stays bounded whatever the budget.
//!
//! Permissions: setuid/setgid/sticky bits are dropped; files are made at least
//! world-readable and directories world-traversable, because the result is mounted
//! read-only into containers that may run as any user.

use std::cell::Cell;
use std::fs;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use tar::EntryType;

use crate::error::ObjectError;

/// The most header bytes (the header blocks, GNU long names and links, pax records and the
/// padding of the entry before) read for one entry: far above PATH_MAX and any real pax
/// record, and small enough that the tar reader's in-memory copy of them stays small.
pub const MAX_HEADER_BYTES: u64 = 1 << 20;

/// The tar block size: headers and data are padded to it.
const BLOCK: u64 = 512;

/// How much of an entry name an error quotes: an archive controls the name.
const NAME_ECHO: usize = 200;

/// Extracts the gzipped tar at `archive` into `root` (which must not exist yet), counting at
/// most `limit` bytes (see the module docs). Returns the bytes counted. `uri` is where the
/// archive came from, for error messages.
pub(crate) fn extract_tar_gz(uri: &str, archive: &Path, root: &Path, limit: u64) -> Result<u64, ObjectError> {
    let file = fs::File::open(archive).map_err(|e| ObjectError::io(uri, e))?;
    extract_tar_gz_from(uri, BufReader::new(file), root, limit)
}

/// [`extract_tar_gz`] from any reader of gzip bytes.
pub fn extract_tar_gz_from(uri: &str, gzip: impl Read, root: &Path, limit: u64) -> Result<u64, ObjectError> {
    let meter = Rc::new(Cell::new(Meter::default()));
    // MultiGzDecoder: parallel compressors (pigz) write several gzip members.
    let metered = Metered { inner: flate2::read::MultiGzDecoder::new(gzip), meter: meter.clone() };
    let mut extraction = Extraction { uri, root, limit, charged: 0, checkpoint: 0, meter };
    extraction.run(metered).map_err(|e| extraction.explain(e))?;
    Ok(extraction.charged)
}

/// How far the tar reader may read into the decompressed stream.
#[derive(Debug, Clone, Copy, Default)]
struct Meter {
    /// Decompressed bytes handed to the tar reader so far.
    read: u64,
    /// The position it may not pass.
    allowed: u64,
    /// `allowed` was set by the header allowance rather than the budget.
    header_bound: bool,
    /// A read was refused at `allowed`.
    tripped: bool,
}

/// The decompressed stream, refusing to go past [`Meter::allowed`].
struct Metered<R> {
    inner: R,
    meter: Rc<Cell<Meter>>,
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut m = self.meter.get();
        let left = m.allowed.saturating_sub(m.read);
        if left == 0 && !buf.is_empty() {
            m.tripped = true;
            self.meter.set(m);
            return Err(io::Error::other("the archive goes on past its extraction budget"));
        }
        let take = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        let n = self.inner.read(&mut buf[..take])?;
        m.read += n as u64;
        self.meter.set(m);
        Ok(n)
    }
}

/// Why one extraction step stopped: already the caller's error, or an I/O error to explain.
enum Stop {
    Refused(ObjectError),
    Io(io::Error),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Self {
        Stop::Io(e)
    }
}

impl From<ObjectError> for Stop {
    fn from(e: ObjectError) -> Self {
        Stop::Refused(e)
    }
}

struct Extraction<'a> {
    uri: &'a str,
    root: &'a Path,
    limit: u64,
    /// Bytes counted against `limit`.
    charged: u64,
    /// The stream position up to which bytes are counted.
    checkpoint: u64,
    meter: Rc<Cell<Meter>>,
}

impl Extraction<'_> {
    fn too_large(&self) -> ObjectError {
        ObjectError::TooLarge { uri: self.uri.to_owned(), limit: self.limit }
    }

    /// An I/O error caused by the meter is the budget's (or the header allowance's) refusal.
    fn explain(&self, stop: Stop) -> ObjectError {
        match stop {
            Stop::Refused(e) => e,
            Stop::Io(e) => {
                let m = self.meter.get();
                if !m.tripped {
                    ObjectError::io(self.uri, e)
                } else if m.header_bound {
                    ObjectError::UnsafeEntry {
                        uri: self.uri.to_owned(),
                        entry: String::new(),
                        reason: format!(
                            "has more than {MAX_HEADER_BYTES} bytes of headers (long names, pax records) for one entry"
                        ),
                    }
                } else {
                    self.too_large()
                }
            }
        }
    }

    /// Counts the stream read since the checkpoint; then lets the reader go on by at most
    /// `window` more bytes (within the budget).
    fn charge_stream(&mut self, window: u64) -> Result<(), Stop> {
        let mut m = self.meter.get();
        self.charged = self.charged.saturating_add(m.read - self.checkpoint);
        self.checkpoint = m.read;
        if self.charged > self.limit {
            return Err(self.too_large().into());
        }
        let remaining = self.limit - self.charged;
        m.header_bound = window < remaining;
        m.allowed = m.read + window.min(remaining);
        self.meter.set(m);
        Ok(())
    }

    fn run(&mut self, metered: Metered<flate2::read::MultiGzDecoder<impl Read>>) -> Result<(), Stop> {
        fs::create_dir(self.root)?;
        let mut tar = tar::Archive::new(metered);
        self.charge_stream(MAX_HEADER_BYTES)?;
        for entry in tar.entries()? {
            let mut entry = entry?;
            // The headers of this entry (and what the one before left unread).
            self.charge_stream(0)?;
            let unread = self.entry(&mut entry)?;
            let pad = round_up(unread).saturating_add(BLOCK);
            self.charge_stream(pad.saturating_add(MAX_HEADER_BYTES))?;
        }
        Ok(())
    }

    /// Extracts one entry; returns how many of its data bytes it left unread in the stream.
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<u64, Stop> {
        let (uri, root) = (self.uri, self.root);
        let io_err = |e: io::Error| ObjectError::io(uri, e);
        let name = echo(&entry.path_bytes());
        let refuse = |reason: &str| ObjectError::UnsafeEntry {
            uri: uri.to_owned(),
            entry: name.clone(),
            reason: reason.to_owned(),
        };
        let rel = relative_path(&entry.path().map_err(io_err)?).map_err(&refuse)?;
        let kind = entry.header().entry_type();
        // Data bytes in the stream: a pax `size` record overrides the header's (files over 8 GiB);
        // a GNU sparse entry stores only its data blocks, while its `size()` is the logical size.
        let stored = if kind.is_gnu_sparse() { entry.header().entry_size().map_err(io_err)? } else { entry.size() };
        if rel.as_os_str().is_empty() {
            // "./" names the root itself; nothing to create.
            if kind.is_dir() {
                return Ok(stored);
            }
            return Err(refuse("has an empty path").into());
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
                    Ok(_) => return Err(refuse("is a directory where the archive already put a file or link").into()),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir(&dest).map_err(io_err)?,
                    Err(e) => return Err(io_err(e).into()),
                }
                fs::set_permissions(&dest, fs::Permissions::from_mode(mode | 0o755)).map_err(io_err)?;
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                // The file's logical size (a sparse file's holes included) counts, before a byte is written.
                self.charged = self.charged.saturating_add(entry.size());
                if self.charged > self.limit {
                    return Err(self.too_large().into());
                }
                replace_non_dir(&dest).map_err(|e| map_walk(e, &refuse, uri))?;
                let mut m = self.meter.get();
                m.allowed = m.read.saturating_add(stored);
                m.header_bound = false;
                self.meter.set(m);
                // tar's own unpack writes a sparse file's holes as seeks; the path was checked above
                // and does not exist, so it creates a new file there (never through a link).
                entry.unpack(&dest)?;
                // The data is counted at the logical size above, not again as stream bytes.
                self.checkpoint = self.meter.get().read;
                let md = fs::symlink_metadata(&dest).map_err(io_err)?;
                let wanted = if md.is_dir() { mode | 0o755 } else { mode | 0o644 };
                fs::set_permissions(&dest, fs::Permissions::from_mode(wanted)).map_err(io_err)?;
                return Ok(0);
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
                    _ => return Err(refuse("is a hard link to something other than an extracted regular file").into()),
                }
                replace_non_dir(&dest).map_err(|e| map_walk(e, &refuse, uri))?;
                fs::hard_link(&source, &dest).map_err(io_err)?;
            }
            EntryType::Char | EntryType::Block => return Err(refuse("is a device file").into()),
            EntryType::Fifo => return Err(refuse("is a fifo").into()),
            // Archive-wide pax metadata carries no file.
            EntryType::XGlobalHeader => {}
            _ => return Err(refuse("has an unsupported entry type").into()),
        }
        Ok(stored)
    }
}

/// `n` rounded up to whole tar blocks.
fn round_up(n: u64) -> u64 {
    n.div_ceil(BLOCK).saturating_mul(BLOCK)
}

/// An entry name as errors quote it: lossy UTF-8, at most [`NAME_ECHO`] characters.
fn echo(name: &[u8]) -> String {
    let text = String::from_utf8_lossy(name);
    match text.char_indices().nth(NAME_ECHO) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.into_owned(),
    }
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

/// Arbitrary archives never panic, never write outside the root, never take more than the budget.
#[cfg(test)]
mod props {
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;

    use proptest::prelude::*;

    use super::*;

    /// The budget of every case: small, so that archives cross it often.
    const LIMIT: u64 = 64 * 1024;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = gz.write_all(bytes);
        gz.finish().unwrap_or_default()
    }

    /// One header with arbitrary name, link, type, size and mode (a GNU header, so sparse maps
    /// and real sizes can be set too), followed by `data`.
    #[derive(Debug, Clone)]
    struct RawEntry {
        name: Vec<u8>,
        link: Vec<u8>,
        kind: u8,
        size: u64,
        mode: u32,
        sparse: Vec<(u64, u64)>,
        real_size: u64,
        data: Vec<u8>,
    }

    fn name() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::sample::select(vec![
                "a",
                "a/b",
                "./a",
                "../x",
                "/etc/x",
                "a/../../x",
                "d/",
                "d/f",
                "link/f",
                "",
                ".",
                "l",
            ])
            .prop_map(|s| s.as_bytes().to_vec()),
            prop::collection::vec(any::<u8>(), 0..100),
        ]
    }

    fn entry() -> impl Strategy<Value = RawEntry> {
        (
            name(),
            name(),
            prop::sample::select(vec![
                b'0', b'1', b'2', b'3', b'4', b'5', b'6', b'7', b'S', b'L', b'K', b'x', b'g', b'Z',
            ]),
            prop_oneof![0u64..2048, Just(LIMIT), Just(LIMIT + 1), Just(1 << 32), any::<u64>()],
            any::<u32>(),
            prop::collection::vec((prop_oneof![0u64..4096, any::<u64>()], prop_oneof![0u64..1024, any::<u64>()]), 0..4),
            prop_oneof![0u64..8192, Just(1 << 32), any::<u64>()],
            prop::collection::vec(any::<u8>(), 0..1500),
        )
            .prop_map(|(name, link, kind, size, mode, sparse, real_size, data)| RawEntry {
                name,
                link,
                kind,
                size,
                mode,
                sparse,
                real_size,
                data,
            })
    }

    fn tar_bytes(entries: &[RawEntry]) -> Vec<u8> {
        let mut out = Vec::new();
        for e in entries {
            let mut h = tar::Header::new_gnu();
            let n = e.name.len().min(100);
            h.as_old_mut().name[..n].copy_from_slice(&e.name[..n]);
            let l = e.link.len().min(100);
            h.as_old_mut().linkname[..l].copy_from_slice(&e.link[..l]);
            h.set_entry_type(tar::EntryType::new(e.kind));
            h.set_size(e.size);
            h.set_mode(e.mode);
            if let Some(gnu) = h.as_gnu_mut() {
                for (slot, (offset, length)) in gnu.sparse.iter_mut().zip(&e.sparse) {
                    slot.set_offset(*offset);
                    slot.set_length(*length);
                }
                gnu.set_real_size(e.real_size);
            }
            h.set_cksum();
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(&e.data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    /// Extracts `gz` into `<tmp>/root` next to `<tmp>/outside/sentinel` and checks the properties.
    fn check(gz: &[u8]) -> Result<(), TestCaseError> {
        let tmp = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let outside = tmp.path().join("outside");
        fs::create_dir(&outside).map_err(|e| TestCaseError::fail(e.to_string()))?;
        fs::write(outside.join("sentinel"), b"s").map_err(|e| TestCaseError::fail(e.to_string()))?;
        let root = tmp.path().join("root");
        let result = extract_tar_gz_from("s3://b/k", gz, &root, LIMIT);
        if let Ok(counted) = result {
            prop_assert!(counted <= LIMIT, "counted {counted} over the budget");
        }
        // Nothing next to the root or outside changed.
        let mut beside: Vec<_> = fs::read_dir(tmp.path())
            .map_err(|e| TestCaseError::fail(e.to_string()))?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        beside.sort();
        prop_assert!(beside.iter().all(|n| n == "outside" || n == "root"), "{beside:?}");
        let inside: Vec<_> =
            fs::read_dir(&outside).map_err(|e| TestCaseError::fail(e.to_string()))?.flatten().collect();
        prop_assert_eq!(inside.len(), 1);
        // Files in the root: within the budget in logical size and on disk; links stay inside.
        let (mut logical, mut disk) = (0u64, 0u64);
        let mut pending = vec![root.clone()];
        while let Some(dir) = pending.pop() {
            let Ok(entries) = fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let md = fs::symlink_metadata(entry.path()).map_err(|e| TestCaseError::fail(e.to_string()))?;
                if md.is_dir() {
                    pending.push(entry.path());
                } else if md.is_file() {
                    logical += md.len();
                    disk += md.blocks() * 512;
                } else if md.file_type().is_symlink() {
                    let target = fs::read_link(entry.path()).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let rel = entry.path().strip_prefix(&root).map(Path::to_path_buf).unwrap_or_default();
                    prop_assert!(
                        check_symlink_target(&rel, &target).is_ok(),
                        "{} -> {}",
                        rel.display(),
                        target.display()
                    );
                } else {
                    prop_assert!(false, "special file {}", entry.path().display());
                }
            }
        }
        prop_assert!(logical <= LIMIT, "{logical} logical bytes extracted");
        // Blocks are allocated in 4 KiB units: a few per file at most above the data.
        prop_assert!(disk <= LIMIT + 64 * 4096, "{disk} bytes on disk");
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_gzip_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
            check(&bytes)?;
        }

        #[test]
        fn arbitrary_tar_bytes(bytes in prop::collection::vec(any::<u8>(), 0..8192)) {
            check(&gzip(&bytes))?;
        }

        #[test]
        fn arbitrary_headers(entries in prop::collection::vec(entry(), 1..6)) {
            check(&gzip(&tar_bytes(&entries)))?;
        }
    }

    #[test]
    fn a_pax_size_record_is_the_size_that_counts() {
        // A header saying 0 bytes, a pax record saying 3000: what tar writers do past 8 GiB.
        let mut tar = Vec::new();
        let record = "13 size=3000\n";
        let mut pax = tar::Header::new_ustar();
        let _ = pax.set_path("PaxHeaders/big.bin");
        pax.set_entry_type(tar::EntryType::XHeader);
        pax.set_size(record.len() as u64);
        pax.set_cksum();
        tar.extend_from_slice(pax.as_bytes());
        tar.extend_from_slice(record.as_bytes());
        tar.resize(tar.len().div_ceil(512) * 512, 0);
        let mut h = tar::Header::new_ustar();
        let _ = h.set_path("big.bin");
        h.set_size(0);
        h.set_cksum();
        tar.extend_from_slice(h.as_bytes());
        tar.extend_from_slice(&[5u8; 3000]);
        tar.resize(tar.len().div_ceil(512) * 512 + 1024, 0);
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let root = tmp.path().join("root");
        let counted = extract_tar_gz_from("s3://b/pax.tar.gz", &gzip(&tar)[..], &root, 1 << 20);
        assert!(counted.is_ok(), "{counted:?}");
        assert_eq!(fs::read(root.join("big.bin")).unwrap_or_default(), vec![5u8; 3000]);
        let refused = extract_tar_gz_from("s3://b/pax.tar.gz", &gzip(&tar)[..], &tmp.path().join("small"), 2048);
        assert!(matches!(refused, Err(ObjectError::TooLarge { .. })), "{refused:?}");
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_budget() {
        // One 96 MiB file of zeros, about 100 KB compressed: the budget refuses it before writing.
        let mut h = tar::Header::new_gnu();
        let _ = h.set_path("zeros.bin");
        h.set_size(96 << 20);
        h.set_cksum();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = gz.write_all(h.as_bytes());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..96 {
            let _ = gz.write_all(&zeros);
        }
        let bomb = gz.finish().unwrap_or_default();
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let err = extract_tar_gz_from("s3://b/bomb.tar.gz", &bomb[..], &tmp.path().join("root"), 8 << 20);
        assert!(matches!(err, Err(ObjectError::TooLarge { limit, .. }) if limit == 8 << 20), "{err:?}");
        assert!(!tmp.path().join("root/zeros.bin").exists(), "nothing was written for the file");
    }

    #[test]
    fn a_sparse_file_counts_its_holes_and_is_written_sparse() {
        // 4 GiB of holes and one 512-byte block of data.
        let sparse = |real: u64| {
            let mut h = tar::Header::new_gnu();
            let _ = h.set_path("sparse.bin");
            h.set_entry_type(tar::EntryType::GNUSparse);
            h.set_size(512);
            if let Some(gnu) = h.as_gnu_mut() {
                gnu.sparse[0].set_offset(real - 512);
                gnu.sparse[0].set_length(512);
                gnu.set_real_size(real);
            }
            h.set_cksum();
            let mut tar = h.as_bytes().to_vec();
            tar.extend_from_slice(&[7u8; 512]);
            tar.extend_from_slice(&[0u8; 1024]);
            gzip(&tar)
        };
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let refused = extract_tar_gz_from("s3://b/s.tar.gz", &sparse(4 << 30)[..], &tmp.path().join("a"), 64 << 20);
        assert!(matches!(refused, Err(ObjectError::TooLarge { .. })), "{refused:?}");
        let kept = extract_tar_gz_from("s3://b/s.tar.gz", &sparse(4 << 30)[..], &tmp.path().join("b"), 20 << 30);
        assert!(kept.is_ok(), "{kept:?}");
        let md = fs::metadata(tmp.path().join("b/sparse.bin")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(md.len(), 4 << 30);
        assert!(md.blocks() * 512 < 1 << 20, "{} bytes allocated", md.blocks() * 512);
    }
}
