//! `gopay-sim`: runs the simulator for a demo until Ctrl-C (or SIGTERM).
//!
//! Prints one JSON line on stdout with the base URLs and the client credentials, so a script
//! can read it. Options: `--client-id ID`, `--client-secret SECRET`, `--split-hosts`,
//! `--frozen-clock` (default: real time), `--redirect-uri URL` (default for `/consent`).
//! Controls over HTTP on the auth host: `POST /_sim/advance?seconds=N`, `GET /_sim/stats`,
//! `POST /_sim/next-consent?behaviour=grant|deny[&state=IDENTIFIED[&reasons=A,B]][&firstName=&lastName=
//! &dateOfBirth=][&journeySeconds=N]`, `POST|DELETE /_sim/fault?endpoint=…`.

use gopay_sim::{ClockMode, GoPaySim, SimConfig};

fn usage() -> ! {
    eprintln!(
        "usage: gopay-sim [--client-id ID] [--client-secret SECRET] [--split-hosts] [--frozen-clock] [--redirect-uri URL]"
    );
    std::process::exit(2)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // A new seed per run: tokens of an earlier demo run never reappear.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut config = SimConfig {
        clock: ClockMode::Real,
        seed,
        ..SimConfig::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--client-id" => config.client_id = args.next().unwrap_or_else(|| usage()),
            "--client-secret" => config.client_secret = args.next().unwrap_or_else(|| usage()),
            "--redirect-uri" => {
                config.default_redirect_uri = Some(args.next().unwrap_or_else(|| usage()))
            }
            "--split-hosts" => config.split_hosts = true,
            "--frozen-clock" => config.clock = ClockMode::Frozen(chrono::Utc::now()),
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    let (client_id, client_secret) = (config.client_id.clone(), config.client_secret.clone());
    let sim = match GoPaySim::start(config).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("gopay-sim: cannot start: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "{}",
        serde_json::json!({
            "authBaseUrl": sim.auth_base_url(),
            "clientBaseUrl": sim.client_base_url(),
            "clientId": client_id,
            "clientSecret": client_secret,
        })
    );
    wait_for_stop().await;
    sim.shutdown().await;
}

async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
