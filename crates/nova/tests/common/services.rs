//! Private Redis and Postgres servers on free loopback ports, which a test may stop and start
//! under running daemons (the shared ones on 6379 and 5432 serve other tests meanwhile).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub use comet_testkit::free_port;

fn wait_for_port(port: u16) {
    for _ in 0..250 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listens on port {port}");
}

/// A private `redis-server`.
pub struct PrivateRedis {
    child: Child,
}

impl PrivateRedis {
    pub fn start(port: u16) -> PrivateRedis {
        PrivateRedis::start_with(port, &[])
    }

    /// With more `redis-server` options, e.g. `["--requirepass", "…"]`.
    pub fn start_with(port: u16, options: &[&str]) -> PrivateRedis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(options)
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (scripts/services.sh installs it)");
        wait_for_port(port);
        PrivateRedis { child }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private PostgreSQL cluster (initdb into a temporary directory, trust auth), run with
/// `pg_ctl` as the `postgres` user when the tests run as root (Postgres refuses root).
pub struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl PrivatePostgres {
    pub fn start() -> PrivatePostgres {
        let bin = postgres_bin();
        let dir = tempfile::Builder::new()
            .prefix("nova-pg-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        if as_root() {
            chown_to_postgres(dir.path());
        }
        let pg = PrivatePostgres {
            bin,
            dir,
            port: free_port(),
        };
        let data = pg.data();
        pg.run(
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"],
        );
        pg.start_again();
        pg
    }

    pub fn dsn(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl stop -m fast`: connections are cut, the server is gone until started again.
    pub fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = format!("{}/log", self.dir.path().display());
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
        wait_for_port(self.port);
    }

    fn data(&self) -> String {
        format!("{}/data", self.dir.path().display())
    }

    /// `tool` from the server's binaries, as the `postgres` user when we are root.
    fn command(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        if as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self
            .command(tool)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn chown_to_postgres(path: &std::path::Path) {
    let status = Command::new("chown")
        .arg("postgres")
        .arg(path)
        .status()
        .expect("chown");
    assert!(status.success(), "chown postgres {}", path.display());
}

/// The newest installed server's binaries (scripts/services.sh installs PostgreSQL).
fn postgres_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL under /usr/lib/postgresql (scripts/services.sh installs it)")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("pg_ctl").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().expect("a PostgreSQL server with pg_ctl").1
}
