//! Which build this is, from the build script (`build.rs`): shown by `--version`,
//! exported as `staticedge_build_info` and read by the admin port.

use staticedge_metrics::BuildInfo;

/// What `staticedge --version` prints after the name: the version, then the
/// commit, build date and target, so two builds of one version can be told apart.
pub const LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("STATICEDGE_COMMIT"),
    ", built ",
    env!("STATICEDGE_BUILD_DATE"),
    ", ",
    env!("STATICEDGE_TARGET"),
    ")"
);

/// The same facts as [`LONG`], one field each.
pub fn build_info() -> BuildInfo {
    BuildInfo {
        version: env!("CARGO_PKG_VERSION"),
        commit: env!("STATICEDGE_COMMIT"),
        build_date: env!("STATICEDGE_BUILD_DATE"),
        target: env!("STATICEDGE_TARGET"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_long_version_names_commit_date_and_target() {
        let b = build_info();
        assert!(LONG.starts_with(b.version));
        assert!(!b.commit.is_empty());
        for part in [b.commit, b.build_date, b.target] {
            assert!(LONG.contains(part), "{LONG} lacks {part}");
        }
        // RFC 3339, UTC, to the second: 2026-12-05T09:40:00Z
        assert_eq!(b.build_date.len(), 20, "{}", b.build_date);
        assert!(b.build_date.ends_with('Z'));
    }
}
