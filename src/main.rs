//! xtrace: read the configuration, start PostgreSQL if none is configured, run the server.

use std::process::ExitCode;

use xtrace::config::Config;
use xtrace::pg::ManagedPostgres;
use xtrace::startup::Application;
use xtrace::{bootstrap, telemetry};

fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("xtrace: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_json);
    // The managed cluster is started from the main thread: its child process is bound to
    // this thread's lifetime (it fast-shuts-down if xtrace dies without cleaning up).
    let mut managed = None;
    let database_url = match &config.database_url {
        Some(url) => url.expose().to_string(),
        None => match ManagedPostgres::start(&config.data_dir) {
            Ok(pg) => {
                let url = pg.url("xtrace");
                managed = Some(pg);
                url
            }
            Err(e) => {
                eprintln!("xtrace: {e:#}");
                return ExitCode::from(1);
            }
        },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime can always be built on a supported platform");
    let admin_url = managed.as_ref().map(|pg| pg.url("postgres"));
    let result = runtime.block_on(async move {
        if let Some(admin_url) = admin_url {
            xtrace::pg::ensure_database(&admin_url, "xtrace").await?;
        }
        let data_dir = config.data_dir.clone();
        let app = Application::build(config, &database_url).await?;
        let base_url =
            format!("http://{}", app.state().config.bind_addr.ip()) + &format!(":{}", app.port());
        println!(
            "{}",
            bootstrap::banner(&base_url, app.generated(), &data_dir)
        );
        let ingest = app.ingest();
        app.run_until_stopped().await?;
        // The server has stopped accepting requests; commit whatever is still queued.
        if !ingest
            .flush_within(std::time::Duration::from_secs(30))
            .await
        {
            eprintln!("xtrace: the ingest queue did not drain within 30 s");
        }
        anyhow::Ok(())
    });
    drop(runtime);
    if let Some(mut pg) = managed {
        pg.stop();
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtrace: {e:#}");
            ExitCode::from(1)
        }
    }
}
