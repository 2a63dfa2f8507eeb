//! `xpollens-sim`: runs the Xpollens API simulator for the demo until killed.
//!
//! `xpollens-sim [EVENT_FILE=ATTEMPTS]...` queues each API Gateway sample event (as in
//! `events/`: its `webhook-id`, `webhook-processdate` and body) once per delivery attempt;
//! ATTEMPTS lists what each attempt got, `none` for no answer (e.g. `202` = received live,
//! `none,503,503` = missed live). Prints one JSON line on stdout: base URL, token URL, client
//! credentials and scope, so a script can configure the drain.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use xpollens_sim::{Callback, SimConfig, XpollensSim};

fn fail(msg: String) -> ! {
    eprintln!("xpollens-sim: {msg}");
    std::process::exit(2)
}

fn callback(arg: &str) -> Callback {
    let (file, attempts) = arg
        .split_once('=')
        .unwrap_or_else(|| fail(format!("{arg}: expected EVENT_FILE=ATTEMPTS")));
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| fail(format!("{file}: {e}")));
    let event: Value = serde_json::from_str(&text).unwrap_or_else(|e| fail(format!("{file}: {e}")));
    let header = |name: &str| {
        event["headers"][name]
            .as_str()
            .unwrap_or_else(|| fail(format!("{file}: no {name} header")))
            .to_string()
    };
    let process_date: DateTime<Utc> =
        DateTime::parse_from_str(&header("webhook-processdate"), "%d/%m/%Y %H:%M:%S %:z")
            .unwrap_or_else(|e| fail(format!("{file}: webhook-processdate: {e}")))
            .with_timezone(&Utc);
    let body = event["body"]
        .as_str()
        .unwrap_or_else(|| fail(format!("{file}: no body")));
    let attempts: Vec<Option<u16>> = attempts
        .split(',')
        .map(|a| match a.trim() {
            "none" => None,
            s => Some(
                s.parse()
                    .unwrap_or_else(|_| fail(format!("{arg}: bad status {s}"))),
            ),
        })
        .collect();
    Callback::new(&header("webhook-id"), process_date, body).attempts(&attempts)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let callbacks: Vec<Callback> = std::env::args().skip(1).map(|a| callback(&a)).collect();
    let sim = XpollensSim::start(SimConfig::default())
        .await
        .unwrap_or_else(|e| fail(format!("cannot start: {e}")));
    for c in callbacks {
        sim.push(c);
    }
    let config = sim.config();
    println!(
        "{}",
        json!({
            "baseUrl": sim.base_url(),
            "tokenUrl": sim.token_url(),
            "clientId": config.client_id,
            "clientSecret": config.client_secret,
            "scope": config.scope,
            "queuedEntries": sim.queue_len(),
        })
    );
    // Serve until killed.
    std::future::pending::<()>().await;
}
