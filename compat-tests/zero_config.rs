//! The binary itself: zero-configuration start with its own PostgreSQL, persisted
//! credentials, clean shutdown, and start-up errors that name the variable.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_xtrace");

/// Variables that must not leak from the developer's environment into these runs.
const CONFIG_VARS: &[&str] = &[
    "DATABASE_URL",
    "API_BEARER_TOKEN",
    "XTRACE_PUBLIC_KEY",
    "XTRACE_SECRET_KEY",
    "LANGFUSE_PUBLIC_KEY",
    "LANGFUSE_SECRET_KEY",
    "LANGFUSE_INIT_PROJECT_ID",
    "LANGFUSE_INIT_PROJECT_PUBLIC_KEY",
    "LANGFUSE_INIT_PROJECT_SECRET_KEY",
    "DEFAULT_PROJECT_ID",
    "BIND_ADDR",
    "XTRACE_PG_BINDIR",
];

fn xtrace(vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    for v in CONFIG_VARS {
        cmd.env_remove(v);
    }
    cmd.env("RUST_LOG", "warn");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Reads stdout until the banner's credentials block is complete; returns the lines.
fn read_banner(child: &mut Child) -> Vec<String> {
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let done = line.contains("LANGFUSE_HOST=");
                lines.push(line);
                if done {
                    return lines;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("xtrace exited early ({status}): {lines:?}");
                }
            }
            Err(_) => break,
        }
    }
    panic!("no complete banner: {lines:?}");
}

fn value_of(lines: &[String], key: &str) -> String {
    lines
        .iter()
        .find_map(|l| {
            l.trim()
                .strip_prefix(&format!("{key}="))
                .map(str::to_string)
        })
        .unwrap_or_else(|| panic!("{key} in banner: {lines:?}"))
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "xtrace did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn zero_config_start_runs_its_own_postgres_keeps_credentials_and_stops_cleanly() {
    let data_dir = test_tmp_dir().join(format!("zero-{}", uuid::Uuid::new_v4().simple()));
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let vars = [
        ("XTRACE_DATA_DIR", data_dir.to_str().unwrap()),
        ("BIND_ADDR", bind.as_str()),
    ];
    let mut child = xtrace(&vars).stdout(Stdio::piped()).spawn().unwrap();
    let banner = read_banner(&mut child);
    let text = banner.join("\n");
    assert!(
        text.contains(&format!("http://127.0.0.1:{port}/docs")),
        "{text}"
    );
    let token = value_of(&banner, "API_BEARER_TOKEN");
    let pk = value_of(&banner, "LANGFUSE_PUBLIC_KEY");
    let sk = value_of(&banner, "LANGFUSE_SECRET_KEY");

    let client = reqwest::Client::new();
    let base = format!("http://{bind}");
    let auth = basic(&pk, &sk);
    let res = client
        .get(format!("{base}/api/public/projects"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = client
        .get(format!("{base}/api/public/organizations/projects"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let status = terminate(&mut child);
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    assert!(
        !data_dir.join("pg/postmaster.pid").exists(),
        "PostgreSQL was stopped with xtrace"
    );

    // A restart keeps the credentials and the data, and prints no secret again.
    let mut child = xtrace(&vars).stdout(Stdio::piped()).spawn().unwrap();
    let banner = read_banner(&mut child);
    assert_eq!(value_of(&banner, "LANGFUSE_PUBLIC_KEY"), pk);
    let text = banner.join("\n");
    assert!(
        !text.contains(&token) && !text.contains(&sk),
        "secrets printed again: {text}"
    );
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data_dir.join("credentials.json")).unwrap())
            .unwrap();
    assert_eq!(file["bearerToken"], token.as_str());
    assert_eq!(file["secretKey"], sk.as_str());
    // A new client: the old one's pooled connections died with the first server.
    let client = reqwest::Client::new();
    let res = client
        .get(format!("{base}/api/public/projects"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    terminate(&mut child);
}

#[test]
fn configuration_errors_name_the_variable_and_exit_non_zero() {
    for (var, value) in [
        ("BIND_ADDR", "not-an-address"),
        ("RATE_LIMIT_QPS", "fast"),
        ("DATABASE_URL", "mysql://nope"),
    ] {
        let out = xtrace(&[(var, value)]).output().unwrap();
        assert!(!out.status.success(), "{var}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(var), "{var}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one clear line: {stderr}");
    }
}

#[test]
fn missing_postgres_binaries_exit_with_one_line_on_how_to_fix_it() {
    let empty = test_tmp_dir().join(format!("no-pg-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&empty).unwrap();
    let data_dir = empty.join("data");
    let out = xtrace(&[
        ("XTRACE_PG_BINDIR", empty.to_str().unwrap()),
        ("XTRACE_DATA_DIR", data_dir.to_str().unwrap()),
        ("BIND_ADDR", "127.0.0.1:0"),
    ])
    .output()
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("apt-get install postgresql"), "{stderr}");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}
