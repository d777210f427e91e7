//! What a newcomer sees: one line per step (`[3/6] building the web app —
//! about 5 min on 2 cores`), the tools' own output in a log file the line
//! names, a sign of life while a long step runs, and the log's last lines
//! when a step fails. `--verbose` passes every tool's output through.
//!
//! Commands run through [`run`] write to the log of the step that the
//! calling thread is in, so the install and build helpers stay unaware of
//! how their output is shown; two steps may run side by side on two threads.

use anyhow::{Context, Result, bail};
use std::{
    cell::RefCell,
    fs::{self, File, OpenOptions},
    io::{BufRead, BufReader, IsTerminal, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

static VERBOSE: AtomicBool = AtomicBool::new(false);
/// The commands running in each step: two commands of one step (the wasm
/// build and the wasm-bindgen install) share one sign of life, which lasts
/// until the last of them ends.
static RUNNING: std::sync::Mutex<Vec<(String, usize)>> = std::sync::Mutex::new(Vec::new());

/// Counts a command in or out of its step; true when it is the first in.
fn count(label: &str, delta: isize) -> bool {
    let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    let at = match running.iter().position(|(l, _)| l == label) {
        Some(at) => at,
        None => {
            running.push((label.to_owned(), 0));
            running.len() - 1
        }
    };
    let before = running[at].1;
    running[at].1 = before.saturating_add_signed(delta);
    if running[at].1 == 0 {
        running.remove(at);
    }
    before == 0 && delta > 0
}

fn still_running(label: &str) -> bool {
    RUNNING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .any(|(l, n)| l == label && *n > 0)
}

/// Pass every tool's output through instead of into the log files.
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

fn verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

thread_local! {
    /// The step the current thread is in: where [`run`] writes.
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
}

#[derive(Clone)]
struct Current {
    label: String,
    log: PathBuf,
}

/// The numbered steps of one command.
pub struct Plan {
    total: usize,
    next: usize,
    log_dir: PathBuf,
    started: Instant,
}

/// A step announced by [`Plan::announce`], to be run on this thread or
/// another one.
pub struct Step {
    label: String,
    log: PathBuf,
}

impl Plan {
    pub fn new(total: usize, log_dir: &Path) -> Result<Self> {
        fs::create_dir_all(log_dir)
            .with_context(|| format!("creating the log folder {}", log_dir.display()))?;
        Ok(Self {
            total,
            next: 0,
            log_dir: log_dir.to_path_buf(),
            started: Instant::now(),
        })
    }

    /// Prints `[n/total] title — estimate` and returns the step; its log is
    /// `<log dir>/<slug>.log`, emptied first.
    pub fn announce(&mut self, slug: &str, title: &str, estimate: &str) -> Result<Step> {
        self.next += 1;
        let label = format!("[{}/{}]", self.next, self.total.max(self.next));
        let log = self.log_dir.join(format!("{slug}.log"));
        File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        if estimate.is_empty() {
            println!("{label} {title}");
        } else {
            println!("{label} {title} — {estimate}");
        }
        Ok(Step { label, log })
    }

    /// Announces and runs a step on this thread.
    pub fn step<T>(
        &mut self,
        slug: &str,
        title: &str,
        estimate: &str,
        f: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        self.announce(slug, title, estimate)?.run(f)
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

impl Step {
    /// Runs `f` with this step's log as the destination of [`run`]; prints
    /// how long it took, or the failure with the log's last lines.
    pub fn run<T>(self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let started = Instant::now();
        let previous = CURRENT.with(|c| {
            c.replace(Some(Current {
                label: self.label.clone(),
                log: self.log.clone(),
            }))
        });
        let result = f();
        CURRENT.with(|c| c.replace(previous));
        let took = format_duration(started.elapsed());
        match &result {
            Ok(_) => println!("{} done in {took}", self.label),
            Err(e) => {
                eprintln!("{} FAILED after {took}: {e:#}", self.label);
                if !verbose() {
                    print_tail(&self.log, 40);
                }
            }
        }
        result
    }
}

/// Runs a command to completion, its output into the current step's log
/// (or straight through with `--verbose`, or outside any step), showing
/// that it is alive while it runs. A non-zero exit is an error.
pub fn run(cmd: impl Into<Command>) -> Result<()> {
    let mut command: Command = cmd.into();
    // The program and its arguments, without the environment xshell adds.
    let shown = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let current = CURRENT.with(|c| c.borrow().clone());
    let Some(current) = current.filter(|_| !verbose()) else {
        let status = command
            .status()
            .with_context(|| format!("starting {shown}"))?;
        if !status.success() {
            bail!("`{shown}` failed ({status})");
        }
        return Ok(());
    };
    let mut log = OpenOptions::new()
        .append(true)
        .open(&current.log)
        .with_context(|| format!("opening {}", current.log.display()))?;
    writeln!(log, "$ {shown}")?;
    let status = {
        let out = log.try_clone()?;
        let err = log.try_clone()?;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .with_context(|| format!("starting {shown}"))?;
        if count(&current.label, 1) {
            let label = current.label.clone();
            let path = current.log.clone();
            std::thread::spawn(move || show_life(&label, &path));
        }
        let status = child.wait();
        count(&current.label, -1);
        status.with_context(|| format!("waiting for {shown}"))?
    };
    if !status.success() {
        bail!(
            "`{shown}` failed ({status}); its output is in {}",
            current.log.display()
        );
    }
    Ok(())
}

/// Every few seconds, while a command of the step runs, the time so far and
/// the newest line of the log (cargo's own `Compiling …`): on one rewritten
/// line on a terminal, else a line every 30 s.
fn show_life(label: &str, log: &Path) {
    let started = Instant::now();
    let terminal = std::io::stdout().is_terminal();
    let every = if terminal {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(30)
    };
    let mut last = Instant::now();
    let mut wrote = false;
    while still_running(label) {
        std::thread::sleep(Duration::from_millis(200));
        if last.elapsed() < every {
            continue;
        }
        last = Instant::now();
        let latest = last_line(log).unwrap_or_default();
        let latest: String = latest.chars().take(90).collect();
        let elapsed = format_duration(started.elapsed());
        if terminal {
            print!("\r\x1b[2K{label}   … {elapsed}  {latest}");
            let _ = std::io::stdout().flush();
            wrote = true;
        } else {
            println!("{label}   … {elapsed}  {latest}");
        }
    }
    if wrote {
        print!("\r\x1b[2K");
        let _ = std::io::stdout().flush();
    }
}

/// The newest non-empty line of a file, reading only its end. Cargo's
/// progress bar arrives as `\r`-separated updates.
fn last_line(path: &Path) -> Option<String> {
    let mut file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(4096))).ok()?;
    let mut tail = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    text.split(['\n', '\r'])
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(str::to_owned)
}

/// The last `n` lines of a log, for a failed step.
pub fn print_tail(log: &Path, n: usize) {
    let Ok(file) = File::open(log) else {
        return;
    };
    let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    if lines.is_empty() {
        return;
    }
    let start = lines.len().saturating_sub(n);
    eprintln!(
        "──── last {} lines of {} ────",
        lines.len() - start,
        log.display()
    );
    for line in &lines[start..] {
        eprintln!("{line}");
    }
    eprintln!("──── end of {} ────", log.display());
}

pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f32())
    }
}

/// `cmd!(…).logged()`: [`run`] for an xshell command.
pub trait Logged {
    fn logged(self) -> Result<()>;
}

impl Logged for xshell::Cmd<'_> {
    fn logged(self) -> Result<()> {
        run(self)
    }
}

/// Spawns a thread that writes to the same step log as this one.
pub fn spawn<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let current = CURRENT.with(|c| c.borrow().clone());
    std::thread::spawn(move || {
        CURRENT.with(|c| c.replace(current));
        f()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_line_of_cargo_progress_is_shown() {
        let dir = std::env::temp_dir().join(format!("xtask-steps-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let log = dir.join("a.log");
        fs::write(
            &log,
            "   Compiling a v1\n   Compiling b v2\r  Building [==>  ] 3/9\n\n",
        )
        .unwrap();
        assert_eq!(last_line(&log).as_deref(), Some("Building [==>  ] 3/9"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_command_names_its_log() {
        let dir = std::env::temp_dir().join(format!("xtask-fail-{}", std::process::id()));
        let mut plan = Plan::new(1, &dir).unwrap();
        let err = plan
            .step("fails", "a failing step", "", || {
                let mut sh = Command::new("sh");
                sh.args(["-c", "echo oops; exit 3"]);
                run(sh)
            })
            .unwrap_err();
        assert!(err.to_string().contains("fails.log"), "{err}");
        let logged = fs::read_to_string(dir.join("fails.log")).unwrap();
        assert!(logged.contains("oops"), "{logged}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
