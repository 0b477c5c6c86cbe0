//! `staticedge run --pid-file`: where `staticedge reload --pid-file` finds the
//! process when no supervisor hands it over (systemd gives `$MAINPID` instead).

use crate::drain::BeforeExit;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Writes this process's id to `path` and returns the clean-up that removes it at
/// exit (only while it still holds our id: a newer instance may have taken it).
pub fn write(path: &Path) -> Result<BeforeExit, String> {
    let pid = std::process::id();
    std::fs::write(path, format!("{pid}\n"))
        .map_err(|e| format!("cannot write the pid file {}: {e}", path.display()))?;
    let path: PathBuf = path.to_path_buf();
    Ok(Arc::new(move || {
        let ours = std::fs::read_to_string(&path).is_ok_and(|t| t.trim() == pid.to_string());
        if ours {
            let _ = std::fs::remove_file(&path);
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_holds_our_pid_and_is_removed_only_while_it_does() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("staticedge.pid");
        let clean_up = write(&path).expect("written");
        let text = std::fs::read_to_string(&path).expect("readable");
        assert_eq!(text.trim(), std::process::id().to_string());
        clean_up();
        assert!(!path.exists());

        let clean_up = write(&path).expect("written");
        std::fs::write(&path, "1\n").expect("a newer instance took it");
        clean_up();
        assert!(path.exists(), "another process's pid file is left alone");
    }
}
