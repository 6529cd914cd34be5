//! `sidegate generate completions|man DIR`: shell completions (bash, zsh, fish) and man pages
//! written from the command line's own clap definitions, so they cannot drift from it. The
//! Debian package ships their output (packaging/build-assets.sh); nothing here runs in the
//! daemon.

use std::path::{Path, PathBuf};

use clap::Command;
use clap_complete::Shell;

/// A file that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct GenerateError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> GenerateError + '_ {
    move |source| GenerateError { path: path.to_path_buf(), source }
}

/// The file names each shell looks for, as Debian installs them: bash-completion's
/// `completions/NAME`, zsh's `_NAME`, fish's `NAME.fish`.
pub const SHELLS: [(Shell, &str); 3] =
    [(Shell::Bash, "sidegate"), (Shell::Zsh, "_sidegate"), (Shell::Fish, "sidegate.fish")];

/// Writes one completion script per shell into `dir` (created if missing); returns the paths.
pub fn completions(cmd: &mut Command, dir: &Path) -> Result<Vec<PathBuf>, GenerateError> {
    std::fs::create_dir_all(dir).map_err(io_at(dir))?;
    let name = cmd.get_name().to_string();
    let mut written = Vec::new();
    for (shell, file) in SHELLS {
        let path = dir.join(file);
        let mut out = std::fs::File::create(&path).map_err(io_at(&path))?;
        clap_complete::generate(shell, cmd, name.clone(), &mut out);
        written.push(path);
    }
    Ok(written)
}

/// Writes `NAME.1` and one `NAME-SUB.1` per visible subcommand into `dir`; returns the paths.
pub fn man_pages(cmd: Command, dir: &Path) -> Result<Vec<PathBuf>, GenerateError> {
    std::fs::create_dir_all(dir).map_err(io_at(dir))?;
    let mut cmd = cmd;
    cmd.build();
    let mut written = Vec::new();
    write_page(&cmd, cmd.get_name(), dir, &mut written)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
        let name = format!("{}-{}", cmd.get_name(), sub.get_name());
        let sub = sub.clone().display_name(name.clone()).bin_name(name.replace('-', " "));
        write_page(&sub, &name, dir, &mut written)?;
    }
    Ok(written)
}

fn write_page(cmd: &Command, name: &str, dir: &Path, written: &mut Vec<PathBuf>) -> Result<(), GenerateError> {
    let path = dir.join(format!("{name}.1"));
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut buf).map_err(io_at(&path))?;
    std::fs::write(&path, buf).map_err(io_at(&path))?;
    written.push(path);
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cli() -> Command {
        Command::new("sidegate")
            .about("test")
            .subcommand(Command::new("serve").about("Run").arg(clap::arg!(--config <PATH>)))
            .subcommand(Command::new("generate").hide(true))
    }

    #[test]
    fn completions_name_every_visible_subcommand_for_each_shell() {
        let dir = tempfile::tempdir().unwrap();
        let files = completions(&mut cli(), dir.path()).unwrap();
        assert_eq!(files.len(), 3);
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            assert!(text.contains("serve") && text.contains("config"), "{}: {text}", f.display());
        }
    }

    #[test]
    fn man_pages_are_one_per_visible_subcommand() {
        let dir = tempfile::tempdir().unwrap();
        let files = man_pages(cli(), dir.path()).unwrap();
        let names: Vec<_> = files.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["sidegate.1", "sidegate-serve.1"]);
        let top = std::fs::read_to_string(&files[0]).unwrap();
        assert!(top.starts_with(".ie") || top.contains(".TH sidegate"), "{top}");
        assert!(std::fs::read_to_string(&files[1]).unwrap().contains("\\-\\-config"));
    }
}
