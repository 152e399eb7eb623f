//! HTTPS: with `[tls]`, the server answers over TLS (a rustls client that
//! trusts the certificate gets its answers; plain HTTP gets none), and a
//! certificate or key that cannot be used stops the start with its name.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use crate::harness::{Server, TempDir, refused};

/// A self-signed certificate for localhost and 127.0.0.1: (cert PEM, key PEM).
fn self_signed() -> (String, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("a certificate");
    (certified.cert.pem(), certified.signing_key.serialize_pem())
}

/// One HTTP/1.1 request over TLS to `server`, trusting only `cert_pem`: the status line and body.
fn https(server: &Server, cert_pem: &str, request: &str) -> String {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(cert_pem.as_bytes()) {
        roots.add(cert.expect("a PEM certificate")).expect("a trusted root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a name");
    let connection = rustls::ClientConnection::new(Arc::new(config), name).expect("a client");
    let socket = TcpStream::connect(server.addr).expect("connects");
    socket.set_read_timeout(Some(std::time::Duration::from_secs(30))).expect("timeout");
    let mut tls = rustls::StreamOwned::new(connection, socket);
    tls.write_all(request.as_bytes()).expect("request sent");
    let mut answer = Vec::new();
    // The server closes the connection (Connection: close); a TLS close may come unannounced.
    let _ = tls.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn with_tls_configured_every_answer_is_over_tls() {
    let data = TempDir::new("tls");
    let (cert, key) = self_signed();
    let cert_file = data.path().join("cert.pem");
    let key_file = data.path().join("key.pem");
    std::fs::write(&cert_file, &cert).expect("cert");
    std::fs::write(&key_file, &key).expect("key");
    let config = data.path().join("agentrail.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\ncert_file = {:?}\nkey_file = {:?}\n\n[[tokens]]\nname = \"shipper\"\ntoken = \"shipper-token-0123456789\"\n",
            cert_file.display().to_string(),
            key_file.display().to_string()
        ),
    )
    .expect("config");
    let data_dir = data.path().join("data").display().to_string();
    let server = Server::start(&["--config", &config.display().to_string(), "--data-dir", &data_dir]);

    let health = https(&server, &cert, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    assert!(health.starts_with("HTTP/1.1 200") && health.ends_with("ok\n"), "{health}");
    let record = r#"{"id":"tls-1","ts":"2026-11-20T10:00:00Z","agent_id":"deploy-bot","tool":"github.merge"}"#;
    let post = https(
        &server,
        &cert,
        &format!(
            "POST /v1/events HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer shipper-token-0123456789\r\n\
             Content-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n{record}",
            record.len()
        ),
    );
    assert!(post.starts_with("HTTP/1.1 200") && post.contains("\"accepted\":1"), "{post}");

    // PostgreSQL clients get the same certificate, and TLS is required of them.
    let pg = server.pg.expect("PostgreSQL is served");
    let psql = |mode: &str| {
        std::process::Command::new("psql")
            .args([
                "-h",
                "localhost",
                "-p",
                &pg.port().to_string(),
                "-U",
                "x",
                "-d",
                "agentrail",
                "-X",
                "-A",
                "-t",
                "-w",
            ])
            .args(["-c", "SELECT 1"])
            .env("PGSSLMODE", mode)
            .env("PGSSLROOTCERT", &cert_file)
            .env("PGPASSWORD", "shipper-token-0123456789")
            .output()
            .expect("psql runs")
    };
    let verified = psql("verify-full");
    let refused = String::from_utf8_lossy(&verified.stderr).into_owned();
    // Over TLS the login is reached: the ingest-only token is refused by its role, not by the handshake.
    assert!(refused.contains("does not have the analyst role"), "{refused}");
    let plain = psql("disable");
    let refused = String::from_utf8_lossy(&plain.stderr).into_owned();
    assert!(refused.contains("over TLS only"), "{refused}");

    // Plain HTTP to the same port gets no HTTP answer.
    let plain = crate::harness::http(server.addr, "GET", "/healthz", &[], b"");
    assert!(plain.map_or(true, |answer| answer.status != 200), "plain HTTP must not be answered");
    assert!(server.stop().success());
}

#[test]
fn a_certificate_or_key_that_cannot_be_used_stops_the_start() {
    let data = TempDir::new("tls-bad");
    let (cert, key) = self_signed();
    let (other_cert, _) = self_signed();
    let write = |name: &str, text: &str| {
        let path = data.path().join(name);
        std::fs::write(&path, text).expect("written");
        path.display().to_string()
    };
    let (cert_file, key_file) = (write("cert.pem", &cert), write("key.pem", &key));
    let (garbage, other) = (write("garbage.pem", "not a certificate"), write("other.pem", &other_cert));
    let missing = data.path().join("missing.pem").display().to_string();
    let data_dir = data.path().join("data").display().to_string();
    for (name, cert, key, wanted) in [
        ("no-key", cert_file.as_str(), missing.as_str(), "TLS private key"),
        ("no-cert", garbage.as_str(), key_file.as_str(), "holds no PEM certificate"),
        ("mismatch", other.as_str(), key_file.as_str(), "cannot be used together"),
    ] {
        let config = write(&format!("{name}.toml"), &format!("[tls]\ncert_file = {cert:?}\nkey_file = {key:?}\n"));
        refused(&["serve", "--config", &config, "--data-dir", &data_dir, "--listen", "127.0.0.1:0"], wanted);
    }
}
