//! The admin API of a running host over its plugin directory: uploads are checked before they
//! are written, then swapped in by the watcher; removal and rollback; a token beyond loopback.

use crate::hot_reload::{rebuilt, running, wait_until, write_plugins, PLUGINS};
use crate::services::Host;
use live_shopper::plugin::embedded;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

/// One HTTP/1.1 request: (status, body).
fn request(addr: &str, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

fn hash(wasm: &[u8]) -> String {
    hex::encode(Sha256::digest(wasm))
}

fn start(dir: &Path, addr: &str, config: &str) -> Host {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    write_plugins(&plugins, &PLUGINS);
    let file = dir.join("ls.toml");
    std::fs::write(&file, format!("[plugins]\nwatch_interval_ms = 100\n{config}")).unwrap();
    let args = ["--config", file.to_str().unwrap(), "--plugins", plugins.to_str().unwrap(), "--rate", "200"];
    Host::start_at(addr, &[], &args)
}

#[test]
fn plugins_are_uploaded_checked_removed_and_rolled_back_through_the_admin_api() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), "127.0.0.1:0", "");
    let addr = host.http.clone();
    let (status, body) = request(&addr, "GET", "/admin/plugins", None, b"");
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap().as_array().unwrap().len(), 5);

    let (status, body) = request(&addr, "PUT", "/admin/plugins/product", None, b"not a component");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("plugin refused"), "{body}");
    let (status, body) =
        request(&addr, "PUT", "/admin/plugins/cart", None, embedded::wasm("product").unwrap());
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("describes itself as \\\"product\\\""), "{body}");

    let new = rebuilt("product", 9);
    let (status, body) = request(&addr, "PUT", "/admin/plugins/product", None, &new);
    assert_eq!(status, 202, "{body}");
    wait_until(&host, "the upload", |r| r.iter().any(|(n, h)| n == "product" && *h == hash(&new)));

    let (status, body) = request(&addr, "POST", "/admin/plugins/product/rollback", None, b"");
    assert_eq!(status, 202, "{body}");
    let original = hash(embedded::wasm("product").unwrap());
    wait_until(&host, "the rollback", |r| r.iter().any(|(n, h)| n == "product" && *h == original));

    let (status, body) = request(&addr, "DELETE", "/admin/plugins/purchase", None, b"");
    assert_eq!(status, 202, "{body}");
    wait_until(&host, "the removal", |r| r.iter().all(|(n, _)| n != "purchase"));
    assert_eq!(request(&addr, "DELETE", "/admin/plugins/purchase", None, b"").0, 404);
    let (status, _) = request(&addr, "POST", "/admin/plugins/purchase/rollback", None, b"");
    assert_eq!(status, 202);
    wait_until(&host, "purchase back", |r| r.iter().any(|(n, _)| n == "purchase"));
    assert_eq!(running(&host).len(), 5);
    host.stop();
}

#[test]
fn beyond_loopback_the_admin_api_needs_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let host =
        start(&dir.path().join("a"), "0.0.0.0:0", "[http]\nadmin_token = \"s3cret-token-0123456789\"\n");
    let addr = host.http.clone();
    assert_eq!(request(&addr, "GET", "/admin/plugins", None, b"").0, 401);
    assert_eq!(request(&addr, "GET", "/admin/plugins", Some("wrong-token-0123456789"), b"").0, 401);
    assert_eq!(request(&addr, "GET", "/admin/plugins", Some("s3cret-token-0123456789"), b"").0, 200);
    assert_eq!(request(&addr, "GET", "/plugins", None, b"").0, 200, "reading stays open");
    host.stop();

    let open = start(&dir.path().join("b"), "0.0.0.0:0", "");
    let (status, body) = request(&open.http, "DELETE", "/admin/plugins/product", None, b"");
    assert_eq!(status, 403, "{body}");
    assert!(dir.path().join("b/plugins/product.wasm").exists());
    open.stop();
}
