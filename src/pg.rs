//! A PostgreSQL cluster managed by xtrace itself, for zero-configuration runs and tests.
//!
//! With no `DATABASE_URL`, xtrace initialises a cluster under `<data dir>/pg` with the
//! machine's PostgreSQL binaries and runs `postgres` as a child process on a free loopback
//! port. As root it runs the binaries as the `postgres` user (PostgreSQL refuses root).
//! The child is told to fast-shutdown when xtrace exits, even if xtrace is killed.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

/// The user name of the cluster's superuser.
const SUPERUSER: &str = "xtrace";

/// A running cluster owned by this process.
#[derive(Debug)]
pub struct ManagedPostgres {
    child: Option<Child>,
    port: u16,
    data_dir: PathBuf,
    bin: PathBuf,
    run_as: Option<RunAs>,
    log_path: PathBuf,
}

/// The uid/gid that PostgreSQL processes run as (None: the current user).
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

impl ManagedPostgres {
    /// Initialises (first time) and starts a cluster under `dir`, waiting until it accepts
    /// connections. Binaries are searched for as [`find_bindir`] describes.
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        Self::start_with(dir, None)
    }

    /// As [`ManagedPostgres::start`], with the binaries taken from `bindir` when given.
    pub fn start_with(dir: &Path, bindir: Option<&Path>) -> anyhow::Result<Self> {
        let bin = match bindir {
            Some(d) if d.join("initdb").is_file() && d.join("postgres").is_file() => d.to_path_buf(),
            Some(d) => bail!(
                "PostgreSQL binaries (initdb, postgres) not found in XTRACE_PG_BINDIR={}: install PostgreSQL (e.g. `apt-get install postgresql`) or set DATABASE_URL to an existing server",
                d.display()
            ),
            None => find_bindir()?,
        };
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create data directory {}", dir.display()))?;
        let dir = dir
            .canonicalize()
            .with_context(|| format!("cannot resolve data directory {}", dir.display()))?;
        let run_as = run_as()?;
        let data_dir = dir.join("pg");
        let log_path = dir.join("postgres.log");
        if !data_dir.join("PG_VERSION").exists() {
            std::fs::create_dir_all(&data_dir)?;
            chown_for(&data_dir, run_as)?;
            let out = command(&bin.join("initdb"), run_as)
                .arg("-D")
                .arg(&data_dir)
                .args(["-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-locale"])
                .arg("--no-sync")
                .stdin(Stdio::null())
                .output()
                .context("cannot run initdb")?;
            if !out.status.success() {
                bail!(
                    "initdb failed for {}: {}",
                    data_dir.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
        }
        // A port that was free a moment ago; a lost race shows up as a start failure below.
        let port = free_port()?;
        let mut pg = ManagedPostgres {
            child: None,
            port,
            data_dir,
            bin,
            run_as,
            log_path,
        };
        pg.spawn()?;
        Ok(pg)
    }

    /// Stops the cluster (fast shutdown) and starts it again on the same port, as a
    /// database restart looks to its clients.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        self.spawn()
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let (bin, run_as, data_dir, log_path) =
            (&self.bin, self.run_as, &self.data_dir, &self.log_path);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        chown_for(log_path, run_as)?;
        let port = self.port;
        let mut cmd = command(&bin.join("postgres"), run_as);
        cmd.arg("-D")
            .arg(data_dir)
            .args(["-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "unix_socket_directories="])
            .args(["-c", "max_connections=300"])
            .args(["-c", "fsync=on"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // SAFETY: prctl is async-signal-safe; it only marks the child to receive SIGINT
        // (PostgreSQL's fast shutdown) when the thread that spawned it exits.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGINT)
                    .map_err(std::io::Error::from)
            });
        }
        self.child = Some(cmd.spawn().context("cannot start postgres")?);
        let log_path = self.log_path.clone();
        self.wait_ready(&log_path)
    }

    /// Connection URL of the given database in this cluster.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// The port the cluster listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn wait_ready(&mut self, log_path: &Path) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    let tail = std::fs::read_to_string(log_path).unwrap_or_default();
                    let tail: Vec<&str> = tail.lines().rev().take(5).collect();
                    let tail: Vec<&str> = tail.into_iter().rev().collect();
                    bail!(
                        "postgres exited during start-up ({status}); is another xtrace using {}? log: {}",
                        self.data_dir.display(),
                        tail.join(" | ")
                    );
                }
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() && self.accepts()? {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "postgres did not become ready within 60 s; see {}",
                    log_path.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// True once the server answers a startup packet (it refuses while still starting).
    fn accepts(&self) -> anyhow::Result<bool> {
        let url = self.url("postgres");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(rt.block_on(async {
            use sqlx::Connection;
            sqlx::PgConnection::connect(&url).await.is_ok()
        }))
    }

    /// Stops the cluster with a fast shutdown and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ManagedPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Creates the database `name` in the cluster at `admin_url` unless it exists.
pub async fn ensure_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let ident = name.replace('"', "\"\"");
        sqlx::query(&format!("create database \"{ident}\""))
            .execute(&mut conn)
            .await?;
    }
    Ok(())
}

fn command(program: &Path, run_as: Option<RunAs>) -> Command {
    let mut cmd = Command::new(program);
    if let Some(r) = run_as {
        cmd.uid(r.uid).gid(r.gid);
        // initdb and postgres look at HOME-independent paths only, but a root-owned cwd
        // may be unreadable for the postgres user.
        cmd.current_dir("/");
    }
    cmd
}

fn run_as() -> anyhow::Result<Option<RunAs>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    let user = nix::unistd::User::from_name("postgres")
        .context("cannot look up the postgres user")?
        .ok_or_else(|| {
            anyhow!("running as root needs a 'postgres' system user to run PostgreSQL (apt-get install postgresql creates it), or set DATABASE_URL")
        })?;
    Ok(Some(RunAs {
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
    }))
}

/// Gives the PostgreSQL user the path and makes every ancestor directory traversable.
fn chown_for(path: &Path, run_as: Option<RunAs>) -> anyhow::Result<()> {
    let Some(r) = run_as else { return Ok(()) };
    nix::unistd::chown(
        path,
        Some(nix::unistd::Uid::from_raw(r.uid)),
        Some(nix::unistd::Gid::from_raw(r.gid)),
    )
    .with_context(|| format!("cannot chown {}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    let mut dir = path.parent();
    while let Some(d) = dir {
        if let Ok(meta) = std::fs::metadata(d) {
            let mode = meta.permissions().mode();
            if mode & 0o001 == 0 {
                let mut perms = meta.permissions();
                perms.set_mode(mode | 0o001);
                std::fs::set_permissions(d, perms).with_context(|| {
                    format!(
                        "the postgres user cannot reach {}; make it traversable or set XTRACE_DATA_DIR",
                        d.display()
                    )
                })?;
            }
        }
        dir = d.parent();
    }
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(l.local_addr()?.port())
}

/// Finds the directory holding `initdb` and `postgres`: PATH, `pg_config --bindir`, then
/// Debian's versioned directories (newest first).
pub fn find_bindir() -> anyhow::Result<PathBuf> {
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            if has_both(&d) {
                return Ok(d);
            }
        }
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let d = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_both(&d) {
            return Ok(d);
        }
    }
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut dirs: Vec<(u32, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                Some((v, e.path().join("bin")))
            })
            .filter(|(_, d)| has_both(d))
            .collect();
        dirs.sort();
        if let Some((_, d)) = dirs.pop() {
            return Ok(d);
        }
    }
    bail!("PostgreSQL binaries (initdb, postgres) not found: install them (e.g. `apt-get install postgresql`) or set DATABASE_URL to an existing server")
}
