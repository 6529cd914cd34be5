//! The `sidegate eval` command line: `sidegate eval FILE [--json] [--html PATH] [--resume RUN]
//! [--fresh]`, `sidegate eval show RUN` and `sidegate eval compare RUN RUN`. The config (for
//! the socket, the state directory, the prompts and the prices) is the one `sidegate serve`
//! reads: `--config`, `$SIDEGATE_CONFIG` or the system path.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use super::report::{self, Report};
use super::runner::{self, Options};
use super::store::Store;
use super::transport::Transport;
use super::{EvalError, compare, dataset, file};
use crate::config::{self, OsEnv, Secrets, Snapshot};

#[derive(clap::Args, Debug)]
#[command(subcommand_negates_reqs = true)]
pub struct EvalArgs {
    #[command(subcommand)]
    pub what: Option<EvalCmd>,
    /// The eval file (TOML; docs/eval.md).
    #[arg(required = true)]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub out: Output,
    /// Continue run RUN (else an unfinished run of the same file and contents is resumed).
    #[arg(long, value_name = "RUN", conflicts_with = "fresh")]
    pub resume: Option<i64>,
    /// Send every request again (no stored answer reused) in a new run.
    #[arg(long)]
    pub fresh: bool,
    /// Build the gateway in this process even when a daemon answers on the socket.
    #[arg(long)]
    pub in_process: bool,
    /// The daemon's socket (default: the config's).
    #[arg(long)]
    pub socket: Option<PathBuf>,
    /// The config (default: `$SIDEGATE_CONFIG`, else the system path).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
}

/// How a report is shown.
#[derive(clap::Args, Debug, Default)]
pub struct Output {
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write the report as one self-contained HTML file.
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
}

#[derive(clap::Subcommand, Debug)]
pub enum EvalCmd {
    /// The report of a stored run.
    Show {
        run: i64,
        #[command(flatten)]
        out: Output,
    },
    /// Per item, what got better or worse from run A to run B, and the totals.
    Compare {
        a: i64,
        b: i64,
        #[arg(long)]
        json: bool,
    },
}

pub fn main(args: EvalArgs) -> ExitCode {
    let result = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt.block_on(dispatch(args)),
        Err(e) => Err(EvalError::Transport(format!("cannot start the async runtime: {e}"))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sidegate eval: {e}");
            ExitCode::from(1)
        }
    }
}

async fn dispatch(args: EvalArgs) -> Result<(), EvalError> {
    match (args.what, args.file) {
        (Some(EvalCmd::Show { run, out }), _) => {
            let store = open_store(&load_config(args.config.as_deref(), Secrets::Skip)?)?;
            show(&report::load(&store, run)?, &out)
        }
        (Some(EvalCmd::Compare { a, b, json }), _) => {
            let store = open_store(&load_config(args.config.as_deref(), Secrets::Skip)?)?;
            let c = compare::compare(&store, a, b)?;
            if json {
                say(&format!("{}\n", serde_json::to_string_pretty(&compare::json(&c)).unwrap_or_default()));
            } else {
                say(&compare::text(&c));
            }
            Ok(())
        }
        (None, Some(path)) => {
            let opts = Options { fresh: args.fresh, resume: args.resume, quiet: false };
            let how = Connect { config: args.config, socket: args.socket, in_process: args.in_process };
            run_file(&path, how, &opts, &args.out).await
        }
        (None, None) => Err(EvalError::Invalid("name an eval file".into())),
    }
}

/// Where the gateway is.
pub struct Connect {
    pub config: Option<PathBuf>,
    pub socket: Option<PathBuf>,
    pub in_process: bool,
}

async fn run_file(path: &Path, how: Connect, opts: &Options, out: &Output) -> Result<(), EvalError> {
    // (a run is found again by its file's absolute path)
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let spec = Arc::new(file::load(&path)?);
    let data = dataset::load(&spec.dataset)?;
    let snapshot = load_config(how.config.as_deref(), Secrets::Skip)?;
    let store = Arc::new(open_store(&snapshot)?);
    let socket = how.socket.clone().unwrap_or_else(|| snapshot.server.socket.clone());
    let daemon = if how.in_process { None } else { Transport::daemon(&socket, &snapshot).await };
    let lib = snapshot.prompts.clone();
    let transport = match daemon {
        Some(t) => t,
        // The vendors' keys are read only when this process calls the vendors itself.
        None => Transport::in_process(load_config(how.config.as_deref(), Secrets::Read)?)?,
    };
    let transport = Arc::new(transport);
    eprintln!("eval: {} items x {} variants through {}", data.items.len(), spec.variants.len(), transport.describe());
    let outcome = runner::run(spec, &data, &lib, store.clone(), transport.clone(), opts).await;
    if let Ok(t) = Arc::try_unwrap(transport) {
        t.close().await;
    }
    let outcome = outcome?;
    if outcome.resumed {
        eprintln!("eval: resumed run {} (items already done were not sent again)", outcome.run);
    }
    show(&report::load(&store, outcome.run)?, out)
}

fn show(r: &Report, out: &Output) -> Result<(), EvalError> {
    if out.json {
        say(&format!("{}\n", serde_json::to_string_pretty(&report::json(r)).unwrap_or_default()));
    } else {
        say(&report::table::table(r));
    }
    if let Some(p) = &out.html {
        std::fs::write(p, report::html::html(r))
            .map_err(|source| EvalError::Write { path: p.display().to_string(), source })?;
        eprintln!("eval: report written to {}", p.display());
    }
    Ok(())
}

/// To stdout; a closed pipe (`| head`) is not an error worth a panic.
fn say(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn load_config(cli: Option<&Path>, secrets: Secrets) -> Result<Snapshot, EvalError> {
    let (path, explicit) = config::config_path(cli, &OsEnv);
    config::load_with(&path, explicit, &OsEnv, secrets).map_err(|e| EvalError::Config(e.to_string()))
}

/// `STATE/eval.sqlite`.
fn open_store(snapshot: &Snapshot) -> Result<Store, EvalError> {
    let Some(dir) = &snapshot.server.state_dir else {
        return Err(EvalError::Config(
            "no state directory for the eval store: set server.state_dir (or $STATE_DIRECTORY)".into(),
        ));
    };
    Store::open(&dir.join("eval.sqlite"))
}
