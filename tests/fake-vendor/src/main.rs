//! `fake-vendor --port N [--chaos SEED]`: runs the fake OpenAI vendor until killed (in chaos
//! mode with `--chaos`); prints `LISTENING 127.0.0.1:PORT` first, so test harnesses in any
//! language can start it.

use std::io::Write;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut port = 0u16;
    let mut chaos: Option<u64> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => port = args.next().and_then(|p| p.parse().ok()).unwrap_or(0),
            "--chaos" => chaos = args.next().and_then(|s| s.parse().ok()),
            other => {
                eprintln!("fake-vendor: unknown argument {other}; usage: fake-vendor [--port N] [--chaos SEED]");
                std::process::exit(2);
            }
        }
    }
    let v = match chaos {
        Some(seed) => fake_vendor::FakeVendor::start_chaos_on(port, seed).await?,
        None => fake_vendor::FakeVendor::start_on(port).await?,
    };
    println!("LISTENING {}", v.addr);
    std::io::stdout().flush()?;
    tokio::signal::ctrl_c().await?;
    Ok(())
}
