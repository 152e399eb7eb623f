//! `agentrail token`: a new random API token (on stderr) and its
//! configuration lines (on stdout), which hold only its SHA-256.

use std::process::ExitCode;

use agentrail_server::http::token_digest;
use anyhow::Context;
use rand::TryRngCore;

use crate::cli::{TokenArgs, TokenRole};

pub fn run(args: TokenArgs) -> anyhow::Result<ExitCode> {
    if args.name.trim().is_empty() || args.name.contains(['"', '\\', '\n']) {
        anyhow::bail!("--name {:?} must be a plain, non-empty name", args.name);
    }
    let mut secret = [0_u8; 32];
    rand::rngs::OsRng.try_fill_bytes(&mut secret).context("cannot draw randomness for a token")?;
    let token = format!("agentrail_{}", hex::encode(secret));
    let quoted =
        |items: &mut dyn Iterator<Item = String>| items.map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ");
    let mut roles: Vec<&str> = args
        .roles
        .iter()
        .map(|role| match role {
            TokenRole::Ingest => "ingest",
            TokenRole::Analyst => "analyst",
            TokenRole::Admin => "admin",
        })
        .collect();
    roles.dedup();
    // The token on stderr, the configuration lines on stdout: `agentrail
    // token … >> agentrail.toml` shows the token and files only its hash.
    eprintln!("{token}");
    eprintln!(
        "agentrail: the token above is shown once; give it to its client (the configuration keeps only its SHA-256)"
    );
    println!();
    println!("[[tokens]]");
    println!("name = {:?}", args.name);
    println!("token_sha256 = \"{}\"", hex::encode(token_digest(&token)));
    println!("roles = [{}]", quoted(&mut roles.iter().map(|r| (*r).to_owned())));
    if !args.sources.is_empty() {
        println!("sources = [{}]", quoted(&mut args.sources.iter().cloned()));
    }
    Ok(ExitCode::SUCCESS)
}
