//! The local dashboard's content: the page, its script and style (embedded in the binary: no
//! external asset, no CDN) and the JSON it draws (`GET /ui/data`: the daemon's status, the
//! last hour per minute from [`crate::usage::history`] and the newest eval runs from
//! [`evals`]). The HTTP front serves them
//! (`front::http::ui`); [`proxy`] is `sidegate dashboard`, which serves them on a loopback
//! port from the Unix socket.

pub mod evals;
pub mod proxy;

use serde_json::{Value, json};

use crate::router::Gateway;

/// The page (`GET /ui`).
pub const PAGE: &str = include_str!("assets/index.html");

/// A static file of the page.
pub struct Asset {
    pub content_type: &'static str,
    pub text: &'static str,
}

/// The asset at `path` under `/ui` (e.g. `/app.js`), if there is one.
pub fn asset(path: &str) -> Option<Asset> {
    match path {
        "/app.js" => {
            Some(Asset { content_type: "text/javascript; charset=utf-8", text: include_str!("assets/app.js") })
        }
        "/app.css" => Some(Asset { content_type: "text/css; charset=utf-8", text: include_str!("assets/app.css") }),
        _ => None,
    }
}

/// `GET /ui/data`: what the page shows, at this moment.
pub fn data(gateway: &Gateway) -> Value {
    let minute = crate::usage::history::current_minute();
    json!({
        "now": crate::api::ids::unix_now(),
        "status": gateway.status(),
        "history": gateway.accounting.metrics.history.view(minute),
        "evals": evals::recent(gateway.current().snapshot.server.state_dir.as_deref()),
    })
}

/// `host` (a `Host` header's value) names this host's loopback: `localhost`, or a loopback
/// address, with any port. Answers to anything else could be read by a page from elsewhere
/// through DNS rebinding.
pub fn host_is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(n, _)| n),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The page and its assets, in bytes (what a browser loads for `/ui`).
pub fn page_weight() -> usize {
    PAGE.len() + ["/app.js", "/app.css"].iter().filter_map(|p| asset(p)).map(|a| a.text.len()).sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_only() {
        for ok in ["localhost:8041", "127.0.0.1:8041", "[::1]:8041", "127.0.0.2", "LOCALHOST"] {
            assert!(host_is_loopback(ok), "{ok}");
        }
        for bad in ["", "example.com", "example.com:8041", "192.168.1.2:8041", "[fe80::1]:80", "localhost.evil"] {
            assert!(!host_is_loopback(bad), "{bad}");
        }
    }

    #[test]
    fn the_page_loads_only_its_own_assets() {
        assert!(PAGE.contains("src=\"/ui/app.js\"") && PAGE.contains("href=\"/ui/app.css\""), "{PAGE}");
        for text in [PAGE, include_str!("assets/app.js"), include_str!("assets/app.css")] {
            // (the SVG namespace is a name, not a URL anything loads)
            let text = text.replace("http://www.w3.org/2000/svg", "");
            assert!(
                !text.contains("http://") && !text.contains("https://") && !text.contains("//cdn"),
                "an external reference"
            );
        }
        assert!(page_weight() < 64 * 1024, "the page grew to {} bytes", page_weight());
    }
}
