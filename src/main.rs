//! The `storeterm` command line.
//!
//! Exit statuses (sysexits.h), so that systemd and scripts can tell a mistake in the
//! configuration from a failure to start with a good one:
//!
//! | status | meaning | systemd |
//! |---|---|---|
//! | 0 | done (or stopped by SIGTERM/SIGINT) | — |
//! | 78 `EX_CONFIG` | the configuration, or a device profile it names, is wrong; nothing was started | not restarted (`RestartPreventExitStatus=78`): fix the file |
//! | 69 `EX_UNAVAILABLE` | the configuration is fine but storeterm could not start or do the job: the store cannot be opened, the address is taken, the printer is not ready | restarted |
//! | 70 `EX_SOFTWARE` | storeterm itself failed (no async runtime, no signal handler) | restarted |
//! | 65 `EX_DATAERR` | `verify`/`restore`: the file is not a whole, good backup | — |
//! | 1 | `doctor` found something wrong (each finding names the fix) | — |

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use storeterm::config::Config;
use storeterm::daemon::{self, StartError, demo};
use storeterm::devices::printer::direct::PrintTestError;
use storeterm::ops;

const EX_CONFIG: u8 = 78;
const EX_UNAVAILABLE: u8 = 69;
const EX_SOFTWARE: u8 = 70;
const EX_DATAERR: u8 = 65;
const DOCTOR_FINDINGS: u8 = 1;

/// Why a command failed, and so with which exit status.
struct Failure {
    status: u8,
    error: anyhow::Error,
}

impl Failure {
    fn config(error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            status: EX_CONFIG,
            error: error.into(),
        }
    }

    fn unavailable(error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            status: EX_UNAVAILABLE,
            error: error.into(),
        }
    }

    fn software(error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            status: EX_SOFTWARE,
            error: error.into(),
        }
    }

    fn backup(e: ops::backup::CommandError) -> Failure {
        Failure {
            status: if e.is_bad_backup() { EX_DATAERR } else { EX_UNAVAILABLE },
            error: e.into(),
        }
    }

    /// A start that failed: the configuration's fault, or not.
    fn start(e: StartError) -> Failure {
        match e {
            StartError::Profile(_) | StartError::TimeZone(_) | StartError::Device { .. } => Failure::config(e),
            _ => Failure::unavailable(e),
        }
    }
}

#[derive(Parser)]
#[command(name = "storeterm", version, about = "Shop hardware daemon: scanners, receipt printers, CRM sync")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run with a configuration file.
    Run {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Run a demo till: demo catalog, virtual scanner and printer, tokens printed on start.
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Directory for the demo's store (default: a fixed directory under the system temp dir).
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        /// Start from an empty store.
        #[arg(long)]
        fresh: bool,
    },
    /// Send one step of a demo call (start, ring, end) to a running demo, as its cloud PBX would.
    DemoCall {
        step: demo::CallStep,
        /// The call's id: the same for the three steps of one call.
        #[arg(long, default_value = "demo-call")]
        call: String,
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    /// List the scanners plugged in (serial ports, hidraw, input devices), the profile that
    /// matches each and the config snippet that binds it.
    Devices {
        /// Extra device profiles, as `profiles_dir` in the config.
        #[arg(long, value_name = "DIR")]
        profiles_dir: Option<PathBuf>,
    },
    /// Print a test page on a configured printer now: `codepages`, `status` or `receipt`.
    PrintTest {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// The printer's device id in the config.
        #[arg(long, value_name = "ID")]
        device: String,
        #[arg(long, default_value = "status")]
        page: storeterm::devices::printer::direct::TestPage,
    },
    /// Check a configuration file and exit.
    CheckConfig {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Take a consistent backup of the store, from the running daemon (over its loopback API
    /// with the config's admin token) or, when none runs, from the store itself.
    Backup {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Restore a backup into the config's store directory, which must be empty.
    Restore {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
    /// Check a backup file whole (structure and checksum) without restoring it.
    Verify { file: PathBuf },
    /// Check the box: config, store, disk, backups, devices, CRM, PBX, time; exit 0 when all is well.
    Doctor {
        #[arg(long, short, value_name = "FILE", default_value = "/etc/storeterm/storeterm.toml")]
        config: PathBuf,
        /// Print the findings as JSON: [{check, ok, message, fix}].
        #[arg(long)]
        json: bool,
        /// Where system facts are read (`/run/systemd/timesync`, `/sys`): for tests and chroots.
        #[arg(long, value_name = "DIR", default_value = "/", hide = true)]
        root: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(command(cli.command)),
        Err(e) => Err(Failure::software(anyhow::Error::new(e).context("starting the async runtime"))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("storeterm: {:#}", failure.error);
            ExitCode::from(failure.status)
        }
    }
}

async fn command(command: Command) -> Result<(), Failure> {
    match command {
        Command::Run { config } => {
            let config = Config::load(&config).map_err(Failure::config)?;
            let running = daemon::start(config).await.map_err(Failure::start)?;
            serve(running).await
        }
        Command::Demo { listen, data, fresh } => run_demo(demo::DemoOptions { listen, data, fresh }).await,
        Command::DemoCall { step, call, url } => {
            let answer = demo::call(&url, &call, step).await.map_err(Failure::unavailable)?;
            println!("{answer}");
            Ok(())
        }
        Command::Devices { profiles_dir } => {
            let profiles = storeterm::devices::profiles::Profiles::load(profiles_dir.as_deref()).map_err(Failure::config)?;
            print!("{}", storeterm::devices::inventory::report(std::path::Path::new("/"), &profiles));
            Ok(())
        }
        Command::PrintTest { config, device, page } => {
            let config = Config::load(&config).map_err(Failure::config)?;
            let report = storeterm::devices::printer::direct::print_test(&config, &device, page)
                .await
                .map_err(|e| match e {
                    PrintTestError::UnknownDevice(_) | PrintTestError::NotAPrinter(_) | PrintTestError::Profile(_) => Failure::config(e),
                    _ => Failure::unavailable(e),
                })?;
            print!("{}", storeterm::devices::printer::direct::describe(&report));
            Ok(())
        }
        Command::CheckConfig { config: path } => {
            Config::load(&path).map_err(Failure::config)?;
            println!("{}: OK", path.display());
            Ok(())
        }
        Command::Backup { config, to } => {
            let config = Config::load(&config).map_err(Failure::config)?;
            let (summary, source) = ops::backup::backup(&config, &to).await.map_err(Failure::backup)?;
            let via = match source {
                ops::backup::Source::Daemon => "снята у работающего storeterm",
                ops::backup::Source::Store => "снята с хранилища (storeterm не запущен)",
            };
            println!("{} — {via}", ops::backup::describe(&summary, &to));
            Ok(())
        }
        Command::Restore { config, from } => {
            let config = Config::load(&config).map_err(Failure::config)?;
            let summary = ops::backup::restore(&config, &from).await.map_err(Failure::backup)?;
            println!("{}", ops::backup::describe(&summary, &from));
            println!(
                "восстановлено в {}; при запуске storeterm спросит у CRM номер её последнего документа и не отправит повторно то, что она уже получила",
                config.store.path.display()
            );
            Ok(())
        }
        Command::Verify { file } => {
            let summary = ops::backup::verify(&file).await.map_err(Failure::backup)?;
            println!("{}: копия цела", ops::backup::describe(&summary, &file));
            Ok(())
        }
        Command::Doctor { config, json, root } => {
            let probe = ops::doctor::Probe {
                root,
                ..Default::default()
            };
            let report = ops::doctor::run(&config, &probe).await;
            if json {
                println!("{}", serde_json::to_string_pretty(&report.findings).map_err(Failure::software)?);
            } else {
                print!("{}", report.text());
            }
            if report.all_ok() {
                Ok(())
            } else {
                Err(Failure {
                    status: DOCTOR_FINDINGS,
                    error: anyhow::anyhow!("doctor: не всё в порядке"),
                })
            }
        }
    }
}

async fn run_demo(options: demo::DemoOptions) -> Result<(), Failure> {
    let d = demo::start(options).await.map_err(|e| match e {
        demo::DemoError::Start(e) => Failure::start(e),
        e => Failure::unavailable(e),
    })?;
    let url = format!("http://{}", d.running.addr);
    println!();
    println!("storeterm demo is running at {url}");
    println!("  cashier screen:  {url}/pos#token={}", d.tokens.cashier);
    println!("  admin page:      {url}/admin#token={}", d.tokens.admin);
    println!("  handheld (ТСД):  {url}/tsd#token={}", d.tokens.storekeeper);
    println!("  demo warehouse:  cells A-01-01-1 … B-01-01-2, pick order ZK-1012 (ЗК-1012), expected receipt PO-501");
    println!(
        "  tokens:          cashier {}  admin {}  storekeeper {}  operator {}",
        d.tokens.cashier, d.tokens.admin, d.tokens.storekeeper, d.tokens.operator
    );
    println!("  virtual scanner: echo 4601234567893 > {}", d.scanner_path.display());
    println!("  demo barcodes:   4601234567893 (молоко), 4600000000015 (хлеб), 036000291452 (кофе, UPC-A)");
    println!(
        "  operator screen: {url}/operator#token={}  (extension {})",
        d.tokens.operator,
        demo::DEMO_EXTENSION
    );
    println!("  ring the operator (signed Zadarma webhooks: the call arrives, rings 101, ends):");
    for command in &d.ring_commands {
        println!("    {command}");
    }
    println!("  data:            {} (use --fresh to start over)", d.data.display());
    println!("Press Ctrl+C to stop.");
    serve(d.running).await
}

/// Tell systemd we are ready, keep its watchdog fed, and stop on SIGINT/SIGTERM.
async fn serve(running: daemon::Running) -> Result<(), Failure> {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    if let Some(interval) = sd_notify::watchdog_enabled() {
        running.feed_watchdog(interval, || {
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
        });
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")
        .map_err(Failure::software)?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("stopping");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    running.stop().await;
    Ok(())
}

/// Logs to stderr; under systemd (JOURNAL_STREAM set) without colours or timestamps, which the
/// journal adds itself.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.without_time().with_ansi(false).init();
    } else {
        builder.init();
    }
}
