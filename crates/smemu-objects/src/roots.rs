//! Where `file://` URIs may point: inside the `--file-root` directories, and never at, into or above the Docker socket or smemu's own data directory.
//!
//! A `file://` model directory is bind-mounted into a container and a transform job reads and
//! writes `file://` paths as smemu's own user, so an unconfined URI would hand any API caller the
//! host's files (`file:///` mounts the host root; `file:///var/run` the Docker socket, which is
//! root on the host; `file://<data-dir>/state.db` smemu's state). Paths are resolved the way the
//! kernel would (symlinks followed, `..` applied) before they are compared, so neither a link
//! nor `..` leads out of a root. The check is made when a request names a path and again each
//! time the object layer uses one, since a path can change between the two.

use std::path::{Component, Path, PathBuf};

/// The Docker engine's default sockets; `DOCKER_HOST=unix://...` adds its own.
const DOCKER_SOCKETS: &[&str] = &["/var/run/docker.sock", "/run/docker.sock"];

/// A `file://` URI refused by [`FileRoots::check`]; the message is meant for the API caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Confined {
    pub uri: String,
    pub message: String,
}

/// A path no `file://` URI may reach, contain or lie under.
#[derive(Debug, Clone)]
struct Forbidden {
    path: PathBuf,
    what: String,
}

/// The directories `file://` URIs may name, resolved once at start-up.
#[derive(Debug, Clone)]
pub struct FileRoots {
    roots: Vec<PathBuf>,
    forbidden: Vec<Forbidden>,
}

impl FileRoots {
    /// `roots` as given (`--file-root`); each is resolved now (a missing one is kept as written,
    /// made absolute). The Docker sockets are forbidden from the start.
    pub fn new(roots: &[PathBuf]) -> Self {
        let roots = roots.iter().map(|r| resolve_lenient(r)).collect();
        let mut sockets: Vec<PathBuf> = DOCKER_SOCKETS.iter().map(PathBuf::from).collect();
        if let Ok(host) = std::env::var("DOCKER_HOST")
            && let Some(path) = host.strip_prefix("unix://")
        {
            sockets.push(PathBuf::from(path));
        }
        let mut this = FileRoots { roots, forbidden: Vec::new() };
        for socket in sockets {
            this = this.forbid(&socket, "the Docker socket");
        }
        this
    }

    /// Also refuses paths that reach, contain or lie under `path` (e.g. smemu's data directory).
    pub fn forbid(mut self, path: &Path, what: &str) -> Self {
        for candidate in [resolve_lenient(path), absolute(path)] {
            if !self.forbidden.iter().any(|f| f.path == candidate) {
                self.forbidden.push(Forbidden { path: candidate, what: what.to_owned() });
            }
        }
        self
    }

    /// The resolved roots.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// The path `uri` names, resolved, when it lies inside a root and reaches nothing forbidden.
    pub fn check(&self, uri: &str, path: &Path) -> Result<PathBuf, Confined> {
        let refuse = |message: String| Confined { uri: uri.to_owned(), message };
        let Some(resolved) = resolve(path) else {
            return Err(refuse(format!(
                "{uri} has a `..` after a directory that does not exist; name the path without `..` \
                 (smemu resolves file:// paths before checking them against --file-root)"
            )));
        };
        if let Some(f) = self.forbidden.iter().find(|f| f.path.starts_with(&resolved) || resolved.starts_with(&f.path))
        {
            return Err(refuse(format!(
                "{uri} reaches {} ({}), which smemu never gives to a model or a job, whatever --file-root allows",
                f.what,
                f.path.display()
            )));
        }
        if !self.roots.iter().any(|root| resolved.starts_with(root)) {
            let roots: Vec<String> = self.roots.iter().map(|r| r.display().to_string()).collect();
            return Err(refuse(format!(
                "{uri} is outside the directories smemu may use for file:// URIs ({}); start smemu with \
                 --file-root DIR (or SMEMU_FILE_ROOTS) to allow another directory",
                roots.join(", ")
            )));
        }
        Ok(resolved)
    }
}

/// `path` resolved as the kernel would: the longest existing prefix canonicalized (symlinks and
/// `..` applied), then the missing rest appended. `None` when the missing rest has a `..`, which
/// `create_dir_all` would apply lexically after creating what precedes it.
fn resolve(path: &Path) -> Option<PathBuf> {
    let path = absolute(path);
    let components: Vec<Component<'_>> = path.components().collect();
    for split in (1..=components.len()).rev() {
        let prefix: PathBuf = components[..split].iter().collect();
        let Ok(mut resolved) = std::fs::canonicalize(&prefix) else { continue };
        for c in &components[split..] {
            match c {
                Component::Normal(part) => resolved.push(part),
                Component::CurDir => {}
                _ => return None,
            }
        }
        return Some(resolved);
    }
    None
}

/// [`resolve`], falling back to the path as written.
fn resolve_lenient(path: &Path) -> PathBuf {
    resolve(path).unwrap_or_else(|| absolute(path))
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(dir: &Path) -> FileRoots {
        FileRoots::new(&[dir.to_path_buf()]).forbid(&dir.join("data"), "smemu's data directory")
    }

    #[test]
    fn paths_inside_a_root_pass_resolved() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let base = std::fs::canonicalize(tmp.path()).unwrap_or_else(|e| panic!("{e}"));
        let r = roots(&base);
        std::fs::create_dir_all(base.join("in/sub")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.check("u", &base.join("in/./sub/../sub")).ok(), Some(base.join("in/sub")));
        // Missing paths (outputs to be created) resolve too.
        assert_eq!(r.check("u", &base.join("out/new/x.txt")).ok(), Some(base.join("out/new/x.txt")));
    }

    #[test]
    fn links_dotdot_sockets_and_the_data_dir_are_refused() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let base = std::fs::canonicalize(tmp.path()).unwrap_or_else(|e| panic!("{e}"));
        let r = roots(&base);
        std::os::unix::fs::symlink("/etc", base.join("etc-link")).unwrap_or_else(|e| panic!("{e}"));
        for outside in [
            PathBuf::from("/"),
            PathBuf::from("/etc/passwd"),
            base.join("etc-link/passwd"),
            base.join(".."),
            base.join("missing/../../x"),
        ] {
            let err = r.check("u", &outside).err().unwrap_or_else(|| panic!("{} passed", outside.display()));
            assert!(err.message.contains("--file-root"), "{err}");
        }
        // The data directory, what it holds, and what holds it.
        for data in [base.join("data"), base.join("data/state.db"), base.clone()] {
            let err = r.check("u", &data).err().unwrap_or_else(|| panic!("{} passed", data.display()));
            assert!(err.message.contains("data directory"), "{err}");
        }
        // The Docker socket, even inside a root that holds it.
        let everything = FileRoots::new(&[PathBuf::from("/")]);
        for socket_path in ["/", "/var/run", "/run", "/var/run/docker.sock", "/run/docker.sock"] {
            let err = everything.check("u", Path::new(socket_path)).err();
            assert!(err.is_some_and(|e| e.message.contains("Docker socket")), "{socket_path} passed");
        }
        assert!(everything.check("u", Path::new("/etc")).is_ok());
    }
}
