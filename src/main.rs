//! The `storeterm` command line.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use storeterm::app::{self, demo};
use storeterm::config::Config;

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        match cli.command {
            Command::Run { config } => run(Config::load(&config)?).await,
            Command::Demo { listen, data, fresh } => run_demo(demo::DemoOptions { listen, data, fresh }).await,
            Command::Devices { profiles_dir } => {
                let profiles = storeterm::devices::profiles::Profiles::load(profiles_dir.as_deref())?;
                print!("{}", storeterm::devices::inventory::report(std::path::Path::new("/"), &profiles));
                Ok(())
            }
            Command::PrintTest { config, device, page } => {
                let config = Config::load(&config)?;
                let report = storeterm::devices::printer::direct::print_test(&config, &device, page).await?;
                print!("{}", storeterm::devices::printer::direct::describe(&report));
                Ok(())
            }
            Command::CheckConfig { config } => {
                Config::load(&config)?;
                println!("{}: OK", config.display());
                Ok(())
            }
        }
    })
}

async fn run(config: Config) -> anyhow::Result<()> {
    let running = app::start(config).await?;
    serve(running).await
}

async fn run_demo(options: demo::DemoOptions) -> anyhow::Result<()> {
    let d = demo::start(options).await?;
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
    println!("  ring the operator (a signed Zadarma webhook; then open the card, then end the call):");
    for command in &d.ring_commands {
        println!("    {command}");
    }
    println!("  data:            {} (use --fresh to start over)", d.data.display());
    println!("Press Ctrl+C to stop.");
    serve(d.running).await
}

/// Tell systemd we are ready, keep its watchdog fed, and stop on SIGINT/SIGTERM.
async fn serve(running: app::Running) -> anyhow::Result<()> {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    let shutdown = running.shutdown_token();
    if let Some(interval) = sd_notify::watchdog_enabled() {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(interval / 2) => { let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]); }
                }
            }
        });
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("installing the SIGTERM handler")?;
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
