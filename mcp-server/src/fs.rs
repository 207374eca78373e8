//! Files under a directory as resources, without letting a URI reach outside it.
//!
//! [`FileResources`] is a resource template `<prefix>{+path}` whose reads are confined to a root
//! directory. A path is refused before the file system is touched when it has a `..` or `.`
//! segment, is absolute, holds a NUL, a backslash or a `%` left after decoding (double
//! encoding), or when the URI percent-encodes a dot, a slash, a backslash, a percent sign or a NUL
//! (`%2e%2e`, `..%2f`, `%252e`): such requests get -32602. A path that passes is resolved with
//! every symlink followed and must still lie inside the root, compared component by component,
//! so that neither a symlink leading out nor a sibling directory sharing the root's name as a
//! prefix (`/srv/data-evil` next to `/srv/data`) is reachable: those, and files that do not exist,
//! get "resource not found" (-32002; -32602 in the modern era), which does not tell a prober
//! whether the target exists. Hidden entries (names starting with `.`, such as `.git` or `.env`)
//! are refused unless [`FileResources::allow_hidden`] says otherwise.
//!
//! The check and the read cannot be raced apart. On Unix the root directory is opened once, by
//! [`FileResources::new`], and a read opens the resolved path relative to that descriptor without
//! following any symlink: with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` on Linux, and
//! elsewhere (or where a sandbox refuses `openat2`) one `openat(O_NOFOLLOW)` per component. A
//! directory swapped for a symlink between the check and the read makes the read fail ("resource
//! not found"); it never returns bytes from outside the root. The size and the type (a regular
//! file) are then checked on the opened file itself. On other platforms the file is opened by
//! path, and its type and size are checked on the opened handle.
//!
//! `completion/complete` on the `path` variable lists the entries of the directory typed so far
//! that a read would accept ([`FileResources::complete_path`]).
//!
//! ```no_run
//! use mcp_server::Server;
//! use mcp_server::fs::FileResources;
//!
//! # async fn run() -> std::io::Result<()> {
//! let docs = FileResources::new("/srv/docs", "file:///docs/")?.name("docs");
//! Server::new("docs", "1.0.0").resource(docs).serve_stdio().await
//! # }
//! ```

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use mcp_core::types::{Completion, CompletionContext, ResourceContents, ResourceTemplate};
use mcp_core::uri_template::UriTemplate;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::handler::{ResourceDefinition, ResourceHandler};
use crate::policy::Policy;

/// The template variable holding the path.
const VAR: &str = "path";

/// Files under a root directory, served as the resource template `<prefix>{+path}`.
#[derive(Debug, Clone)]
pub struct FileResources {
    inner: Arc<Inner>,
}

#[derive(Debug, Clone)]
struct Inner {
    root: PathBuf,
    /// The root directory, opened once: reads open files beneath it.
    #[cfg(unix)]
    root_dir: Arc<std::os::fd::OwnedFd>,
    prefix: String,
    name: String,
    description: Option<String>,
    max_size: u64,
    allow_hidden: bool,
    policy: Policy,
}

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path is empty.
    #[error("the path is empty")]
    Empty,
    /// The path holds a NUL character.
    #[error("the path holds a NUL character")]
    Nul,
    /// The path is absolute (or has a drive or UNC prefix).
    #[error("the path is absolute")]
    Absolute,
    /// The path has a `..` or `.` segment.
    #[error("the path has a `..` or `.` segment")]
    Traversal,
    /// The URI percent-encodes a dot, a slash, a backslash, a percent sign or a NUL, or a `%` is
    /// left after decoding.
    #[error("the path percent-encodes a separator, a dot or a percent sign")]
    Encoded,
    /// The path holds a backslash.
    #[error("the path holds a backslash")]
    Backslash,
    /// A segment starts with `.` and hidden entries are not served.
    #[error("the path names a hidden entry")]
    Hidden,
    /// No such file (or it cannot be read).
    #[error("no such file")]
    NotFound,
    /// The path resolves (through a symlink) to a place outside the root.
    #[error("the path leads outside the root")]
    OutsideRoot,
    /// The path is a directory or another non-file.
    #[error("not a regular file")]
    NotAFile,
    /// The file is larger than the limit.
    #[error("the file is larger than the limit")]
    TooLarge,
}

impl PathError {
    /// Whether the request was malformed (-32602), rather than naming nothing servable (not
    /// found).
    pub fn is_invalid(self) -> bool {
        matches!(
            self,
            PathError::Empty
                | PathError::Nul
                | PathError::Absolute
                | PathError::Traversal
                | PathError::Encoded
                | PathError::Backslash
                | PathError::Hidden
        )
    }

    fn into_error(self, uri: &str) -> Error {
        match self {
            PathError::TooLarge => Error::public("the resource is too large"),
            e if e.is_invalid() => Error::invalid_params(format!("invalid resource path: {e}")),
            _ => Error::not_found(uri),
        }
    }
}

impl FileResources {
    /// Files under `root`, named `<uri_prefix><relative path>`. A `/` is appended to the prefix
    /// if it has none, so that `file:///data` cannot match `file:///data-evil/...`.
    ///
    /// # Errors
    ///
    /// When `root` is not a directory that can be resolved, or the prefix holds `{` or `}` or
    /// does not make a valid URI template.
    pub fn new(root: impl AsRef<Path>, uri_prefix: impl Into<String>) -> io::Result<Self> {
        let root = std::fs::canonicalize(root.as_ref())?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a directory", root.display()),
            ));
        }
        let mut prefix = uri_prefix.into();
        if prefix.contains(['{', '}']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the URI prefix must not hold `{` or `}`",
            ));
        }
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        if let Err(e) = UriTemplate::parse(&format!("{prefix}{{+{VAR}}}")) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the URI prefix does not make a URI template: {e}"),
            ));
        }
        #[cfg(unix)]
        let root_dir = Arc::new(beneath::open_root(&root)?);
        Ok(FileResources {
            inner: Arc::new(Inner {
                root,
                #[cfg(unix)]
                root_dir,
                prefix,
                name: "files".to_owned(),
                description: None,
                max_size: 10 * 1024 * 1024,
                allow_hidden: false,
                policy: Policy::default(),
            }),
        })
    }

    /// The template's name (default `files`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.inner).name = name.into();
        self
    }

    /// The template's description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.inner).description = Some(description.into());
        self
    }

    /// The largest file served, in bytes (default 10 MiB).
    pub fn max_size(mut self, bytes: u64) -> Self {
        Arc::make_mut(&mut self.inner).max_size = bytes;
        self
    }

    /// Whether entries whose name starts with `.` are served (default `false`).
    pub fn allow_hidden(mut self, allow: bool) -> Self {
        Arc::make_mut(&mut self.inner).allow_hidden = allow;
        self
    }

    /// Who may read the files.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        Arc::make_mut(&mut self.inner).policy = policy;
        self
    }

    /// The root, resolved. Reads stay beneath the directory it named when
    /// [`FileResources::new`] opened it (on Unix), even if the path is later renamed or replaced.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The URI template: `<prefix>{+path}`.
    pub fn uri_template(&self) -> String {
        format!("{}{{+{VAR}}}", self.inner.prefix)
    }

    /// Resolves a URI to the file it names, applying every check above. Blocks (file system
    /// calls).
    ///
    /// # Errors
    ///
    /// [`PathError`] when the URI does not match the template or is refused.
    pub fn resolve_uri(&self, uri: &str) -> Result<PathBuf, PathError> {
        let template =
            UriTemplate::parse(&self.uri_template()).expect("checked in FileResources::new");
        let m = template.match_uri(uri).ok_or(PathError::NotFound)?;
        let path = m.get_str(VAR).ok_or(PathError::Empty)?;
        check_encoding(uri.strip_prefix(&self.inner.prefix).unwrap_or(uri))?;
        self.resolve(path)
    }

    /// Resolves a decoded relative path under the root, applying every check above. Blocks
    /// (file system calls).
    ///
    /// # Errors
    ///
    /// [`PathError`] saying why the path is refused.
    pub fn resolve(&self, path: &str) -> Result<PathBuf, PathError> {
        let inner = &self.inner;
        check_relative(path, inner.allow_hidden)?;
        let joined = inner.root.join(path);
        let resolved = std::fs::canonicalize(&joined).map_err(|_| PathError::NotFound)?;
        // `Path::starts_with` compares whole components: `/srv/data-evil` is not under
        // `/srv/data`.
        if !resolved.starts_with(&inner.root) {
            return Err(PathError::OutsideRoot);
        }
        if !inner.allow_hidden
            && is_hidden(resolved.strip_prefix(&inner.root).expect("checked above"))
        {
            // A visible symlink to a hidden entry.
            return Err(PathError::Hidden);
        }
        let meta = std::fs::metadata(&resolved).map_err(|_| PathError::NotFound)?;
        if !meta.is_file() {
            return Err(PathError::NotAFile);
        }
        if meta.len() > inner.max_size {
            return Err(PathError::TooLarge);
        }
        Ok(resolved)
    }

    /// Up to 100 entries (sorted, directories with a trailing `/`) that complete `partial`: the
    /// entries of the directory it names, under the same checks as a read, whose names start
    /// with its last segment. Blocks.
    pub fn complete_path(&self, partial: &str) -> Completion {
        const MAX: usize = 100;
        let (dir, stem) = match partial.rfind('/') {
            Some(i) => (&partial[..=i], &partial[i + 1..]),
            None => ("", partial),
        };
        let allow_hidden = self.inner.allow_hidden;
        let listed = if dir.is_empty() {
            Ok(self.inner.root.clone())
        } else {
            check_relative(dir.trim_end_matches('/'), allow_hidden).and_then(|()| {
                let resolved = std::fs::canonicalize(self.inner.root.join(dir))
                    .map_err(|_| PathError::NotFound)?;
                if resolved.starts_with(&self.inner.root) {
                    Ok(resolved)
                } else {
                    Err(PathError::OutsideRoot)
                }
            })
        };
        let Ok(Ok(entries)) = listed.map(std::fs::read_dir) else {
            return Completion::default();
        };
        let mut values: Vec<String> = entries
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let name = entry.file_name().into_string().ok()?;
                if !name.starts_with(stem) || (!allow_hidden && name.starts_with('.')) {
                    return None;
                }
                // Only what a read would accept: nothing that leads outside the root.
                let target = std::fs::canonicalize(entry.path()).ok()?;
                let inside = target.strip_prefix(&self.inner.root).ok()?;
                if !allow_hidden && is_hidden(inside) {
                    return None;
                }
                let slash = if target.is_dir() { "/" } else { "" };
                Some(format!("{dir}{name}{slash}"))
            })
            .collect();
        values.sort_unstable();
        let total = values.len();
        values.truncate(MAX);
        Completion {
            values,
            total: Some(total as u64),
            has_more: Some(total > MAX),
        }
    }

    /// Reads the file a decoded relative path names: its bytes and guessed MIME type. Blocks.
    ///
    /// The path is resolved and checked first ([`FileResources::resolve`]); the file is then
    /// opened beneath the root without following a symlink (see the module documentation), so
    /// that a change to the tree in between cannot lead the read outside the root, and its type
    /// and size are checked on the opened file.
    fn read_file(&self, path: &str) -> Result<(Vec<u8>, &'static str), PathError> {
        let resolved = self.resolve(path)?;
        let file = self.open_resolved(&resolved)?;
        let meta = file.metadata().map_err(|_| PathError::NotFound)?;
        if !meta.is_file() {
            return Err(PathError::NotAFile);
        }
        if meta.len() > self.inner.max_size {
            return Err(PathError::TooLarge);
        }
        let mut bytes = Vec::new();
        // The file may have grown since it was measured.
        file.take(self.inner.max_size + 1)
            .read_to_end(&mut bytes)
            .map_err(|_| PathError::NotFound)?;
        if bytes.len() as u64 > self.inner.max_size {
            return Err(PathError::TooLarge);
        }
        Ok((bytes, mime_type(&resolved)))
    }

    /// Opens a path [`FileResources::resolve`] returned: beneath the root's descriptor, through
    /// no symlink (Unix).
    #[cfg(unix)]
    fn open_resolved(&self, resolved: &Path) -> Result<std::fs::File, PathError> {
        let relative = resolved
            .strip_prefix(&self.inner.root)
            .map_err(|_| PathError::OutsideRoot)?;
        beneath::open_file(&self.inner.root_dir, relative).map_err(|_| PathError::NotFound)
    }

    /// Opens a path [`FileResources::resolve`] returned.
    #[cfg(not(unix))]
    fn open_resolved(&self, resolved: &Path) -> Result<std::fs::File, PathError> {
        std::fs::File::open(resolved).map_err(|_| PathError::NotFound)
    }
}

/// Opening files beneath a directory descriptor without following symlinks.
#[cfg(unix)]
mod beneath {
    use std::fs::File;
    use std::io;
    use std::os::fd::{AsFd, OwnedFd};
    use std::path::{Component, Path};

    use rustix::fs::{Mode, OFlags};

    /// The root directory (a resolved path: no symlink in it).
    pub(super) fn open_root(root: &Path) -> io::Result<OwnedFd> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        Ok(rustix::fs::open(root, flags, Mode::empty())?)
    }

    /// Flags of the file opened: read only, never a controlling terminal, and non-blocking so
    /// that a FIFO put in place of the file cannot hold the read.
    fn file_flags() -> OFlags {
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK
    }

    /// Opens `relative` (normal components only) beneath `root`, following no symlink on the
    /// way nor at the end.
    pub(super) fn open_file(root: &OwnedFd, relative: &Path) -> io::Result<File> {
        if relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
            || relative.as_os_str().is_empty()
        {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use rustix::fs::ResolveFlags;
            let resolve =
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
            match rustix::fs::openat2(root, relative, file_flags(), Mode::empty(), resolve) {
                Ok(fd) => return Ok(File::from(fd)),
                // Kernels before 5.6 lack `openat2`; some sandboxes refuse it. Walk instead.
                Err(rustix::io::Errno::NOSYS | rustix::io::Errno::PERM) => {}
                // `EAGAIN`: the kernel could not check the lookup for a race; walk instead.
                Err(rustix::io::Errno::AGAIN) => {}
                Err(e) => return Err(e.into()),
            }
        }
        walk(root, relative)
    }

    /// One `openat(O_NOFOLLOW)` per component: a symlink anywhere fails the open (`ELOOP`, or
    /// `ENOTDIR` for a directory component).
    fn walk(root: &OwnedFd, relative: &Path) -> io::Result<File> {
        let mut components = relative.components().peekable();
        let mut dir: Option<OwnedFd> = None;
        while let Some(component) = components.next() {
            let at = dir.as_ref().map_or(root.as_fd(), AsFd::as_fd);
            let name = component.as_os_str();
            if components.peek().is_none() {
                return Ok(File::from(rustix::fs::openat(
                    at,
                    name,
                    file_flags(),
                    Mode::empty(),
                )?));
            }
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            dir = Some(rustix::fs::openat(at, name, flags, Mode::empty())?);
        }
        Err(io::Error::from(io::ErrorKind::InvalidInput))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_walk_refuses_symlinks_like_openat2() {
            let tmp = tempfile::tempdir().unwrap();
            let t = tmp.path();
            std::fs::create_dir_all(t.join("root/sub")).unwrap();
            std::fs::write(t.join("root/sub/f"), "in").unwrap();
            std::fs::write(t.join("out"), "out").unwrap();
            std::os::unix::fs::symlink(t.join("out"), t.join("root/link")).unwrap();
            std::os::unix::fs::symlink(t.join("root/sub"), t.join("root/dirlink")).unwrap();
            let root = open_root(&t.join("root")).unwrap();
            let read = |f: io::Result<File>| io::read_to_string(f?);
            assert_eq!(read(walk(&root, Path::new("sub/f"))).unwrap(), "in");
            assert_eq!(read(open_file(&root, Path::new("sub/f"))).unwrap(), "in");
            for path in ["link", "dirlink/f"] {
                assert!(walk(&root, Path::new(path)).is_err(), "{path}");
                assert!(open_file(&root, Path::new(path)).is_err(), "{path}");
            }
            assert!(open_file(&root, Path::new("../out")).is_err());
            assert!(open_file(&root, Path::new("")).is_err());
        }
    }
}

impl ResourceHandler for FileResources {
    fn definition(&self) -> ResourceDefinition {
        ResourceDefinition::Template(ResourceTemplate {
            uri_template: self.uri_template(),
            name: self.inner.name.clone(),
            description: self.inner.description.clone(),
            ..Default::default()
        })
    }

    fn policy(&self) -> Policy {
        self.inner.policy.clone()
    }

    fn read(
        &self,
        _cx: Context,
        uri: String,
        variables: BTreeMap<String, String>,
    ) -> impl Future<Output = Result<Vec<ResourceContents>>> + Send {
        let this = self.clone();
        async move {
            let Some(path) = variables.get(VAR).cloned() else {
                return Err(Error::invalid_params(
                    "invalid resource path: the path is empty",
                ));
            };
            if let Err(e) = check_encoding(uri.strip_prefix(&this.inner.prefix).unwrap_or(&uri)) {
                return Err(e.into_error(&uri));
            }
            let read = tokio::task::spawn_blocking(move || {
                let read = this.read_file(&path);
                (this, read)
            })
            .await;
            let (_, read) = read.map_err(Error::internal)?;
            let (bytes, mime) = read.map_err(|e| e.into_error(&uri))?;
            Ok(vec![contents(uri, mime, bytes)])
        }
    }

    fn complete(
        &self,
        _cx: Context,
        variable: String,
        value: String,
        _context: Option<CompletionContext>,
    ) -> impl Future<Output = Result<Completion>> + Send {
        let this = self.clone();
        async move {
            if variable != VAR {
                return Ok(Completion::default());
            }
            tokio::task::spawn_blocking(move || this.complete_path(&value))
                .await
                .map_err(Error::internal)
        }
    }
}

/// Text for textual types that are UTF-8, base64 otherwise.
fn contents(uri: String, mime: &'static str, bytes: Vec<u8>) -> ResourceContents {
    if is_textual(mime) {
        match String::from_utf8(bytes) {
            Ok(text) => return ResourceContents::text(uri, Some(mime), text),
            Err(e) => {
                let b64 = base64::engine::general_purpose::STANDARD.encode(e.as_bytes());
                return ResourceContents::blob(uri, Some("application/octet-stream"), b64);
            }
        }
    }
    if mime == UNKNOWN
        && !bytes.contains(&0)
        && let Ok(text) = std::str::from_utf8(&bytes)
    {
        return ResourceContents::text(uri, Some("text/plain"), text);
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
    ResourceContents::blob(uri, Some(mime), b64)
}

/// Checks the still-encoded path of a URI: no percent-encoded dot, slash, backslash, percent sign
/// or NUL.
fn check_encoding(raw: &str) -> Result<(), PathError> {
    let b = raw.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'%' {
            let code = b.get(i + 1..i + 3).map(|h| h.to_ascii_lowercase());
            if matches!(
                code.as_deref(),
                Some(b"2e" | b"2f" | b"5c" | b"25" | b"00") | None
            ) {
                return Err(PathError::Encoded);
            }
        }
    }
    Ok(())
}

/// Whether a path relative to the root has a hidden component.
fn is_hidden(relative: &Path) -> bool {
    relative
        .components()
        .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
}

/// Checks a decoded relative path without touching the file system.
fn check_relative(path: &str, allow_hidden: bool) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if path.contains('\0') {
        return Err(PathError::Nul);
    }
    if path.contains('%') {
        return Err(PathError::Encoded);
    }
    if path.starts_with('/') {
        return Err(PathError::Absolute);
    }
    if path.contains('\\') {
        return Err(PathError::Backslash);
    }
    for segment in path.split('/') {
        if segment == ".." || segment == "." {
            return Err(PathError::Traversal);
        }
        if !allow_hidden && segment.starts_with('.') {
            return Err(PathError::Hidden);
        }
    }
    if Path::new(path)
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        // A drive or UNC prefix, or a root, on platforms that have them.
        return Err(PathError::Absolute);
    }
    Ok(())
}

const UNKNOWN: &str = "application/octet-stream";

/// The MIME type for a file name's extension.
fn mime_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "text" | "log" => "text/plain",
        "md" | "markdown" => "text/markdown",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "csv" => "text/csv",
        "js" | "mjs" => "text/javascript",
        "rs" => "text/x-rust",
        "py" => "text/x-python",
        "toml" => "application/toml",
        "yaml" | "yml" => "application/yaml",
        "json" => "application/json",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "wasm" => "application/wasm",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        _ => UNKNOWN,
    }
}

fn is_textual(mime: &str) -> bool {
    mime.starts_with("text/")
        || matches!(
            mime,
            "application/json"
                | "application/xml"
                | "application/yaml"
                | "application/toml"
                | "image/svg+xml"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntactic_checks() {
        assert_eq!(check_relative("a/b.txt", false), Ok(()));
        assert_eq!(check_relative("a//b.txt", false), Ok(()));
        assert_eq!(check_relative("", false), Err(PathError::Empty));
        assert_eq!(check_relative("../x", false), Err(PathError::Traversal));
        assert_eq!(
            check_relative("a/../../x", false),
            Err(PathError::Traversal)
        );
        assert_eq!(check_relative("a/./x", false), Err(PathError::Traversal));
        assert_eq!(
            check_relative("/etc/passwd", false),
            Err(PathError::Absolute)
        );
        assert_eq!(check_relative("a\0b", false), Err(PathError::Nul));
        assert_eq!(check_relative("..\\x", false), Err(PathError::Backslash));
        assert_eq!(check_relative("%2e%2e/x", false), Err(PathError::Encoded));
        assert_eq!(check_relative(".env", false), Err(PathError::Hidden));
        assert_eq!(check_relative(".env", true), Ok(()));
        assert_eq!(check_encoding("a%20b"), Ok(()));
        assert_eq!(check_encoding("%2E%2e/x"), Err(PathError::Encoded));
        assert_eq!(check_encoding("a%2Fb"), Err(PathError::Encoded));
        assert_eq!(check_encoding("%252e"), Err(PathError::Encoded));
        assert_eq!(check_encoding("a%"), Err(PathError::Encoded));
    }
}
