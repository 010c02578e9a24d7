//! A project in a temporary directory: one volume with a few files, a `file://`
//! repository (initialised or not), and the agent's shared state for it.

use std::sync::Arc;
use std::time::Duration;

use holdfast_agent::access::RepoAccess;
use holdfast_agent::http::AppState;
use holdfast_agent::protection::{self, WatchContext};
use holdfast_repo::{InitOptions, KdfParams};
use holdfast_volume::config::Config;
use tokio_util::sync::CancellationToken;

pub const PASSWORD: &str = "correct horse battery staple";
pub const TOKEN: &str = "test-token-0123456789";

pub struct Project {
    pub dir: tempfile::TempDir,
    pub state: Arc<AppState>,
    /// Stops the agent's probe timer when the test ends.
    _timer: tokio_util::sync::DropGuard,
}

impl Project {
    /// Volume `data` at `vol/` holding two files; the repository at `repo/`, created
    /// when `init`.
    pub async fn new(init: bool) -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        let vol = dir.path().join("vol");
        std::fs::create_dir_all(vol.join("docs")).expect("mkdir");
        std::fs::write(vol.join("notes.txt"), "hello").expect("write");
        std::fs::write(vol.join("docs/a.txt"), "a").expect("write");
        let url = format!("file://{}", dir.path().join("repo").display());
        if init {
            let store = holdfast_store::Store::open(&url).expect("store");
            let opts = InitOptions {
                password: PASSWORD.into(),
                kdf: KdfParams::insecure_fast(),
            };
            holdfast_repo::init(store, &opts).await.expect("init");
        }
        let config: Config = format!(
            "[repository]\nurl = \"{url}\"\n\n[schedule]\nbackup = \"0 3 * * *\"\n\n\
             [[volumes]]\nname = \"data\"\npath = \"{}\"\n",
            vol.display()
        )
        .parse()
        .expect("config");
        let access = RepoAccess {
            url: Some(url),
            password: Some(PASSWORD.into()),
            source: "HOLDFAST_PASSWORD".into(),
            keys: Default::default(),
        };
        let state = Arc::new(AppState::new(config, Some(TOKEN), access).expect("state"));
        // The agent's probe timer, as `serve` runs it: its first round makes the state
        // ready for the status routes.
        let ctx = WatchContext {
            watch: state.watch.clone(),
            metrics: state.metrics.clone(),
            repo: state.repo.clone(),
            notifier: state.notifier.clone(),
            intervals: (Duration::from_secs(3600), Duration::from_secs(3600)),
        };
        let cancel = CancellationToken::new();
        tokio::spawn(protection::run(ctx, cancel.clone()));
        state.watch.wait_ready(Duration::from_secs(600)).await;
        Project {
            dir,
            state,
            _timer: cancel.drop_guard(),
        }
    }

    pub fn vol(&self) -> std::path::PathBuf {
        self.dir.path().join("vol")
    }
}
