//! The API keeps its documented contract: schemathesis reads the gateway's
//! `/openapi.json` and sends generated requests — valid ones and ones that
//! break the schema — anonymously, as a customer and as an admin. Every
//! answer must be a documented status with the documented body, no answer
//! may be a server error, invalid input must be refused and valid input
//! accepted. `cargo xtask test` installs schemathesis and runs this step;
//! `SHOP_SCHEMATHESIS` names its `st` binary.

use shop_testkit::{Shop, TestStack};
use std::path::{Path, PathBuf};

/// One run's figures, from schemathesis's JSON report.
#[derive(Debug, Default)]
struct Figures {
    operations: u64,
    cases: u64,
    failures: u64,
    errors: u64,
}

fn st_binary() -> PathBuf {
    let path = std::env::var("SHOP_SCHEMATHESIS").unwrap_or_else(|_| {
        panic!("SHOP_SCHEMATHESIS is not set: run this step through `cargo xtask test`")
    });
    let path = PathBuf::from(path);
    assert!(path.exists(), "no schemathesis at {}", path.display());
    path
}

fn config_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schemathesis.toml")
}

fn figures(report_dir: &Path) -> Figures {
    let report = std::fs::read_dir(report_dir)
        .expect("a report directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("a JSON report");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).expect("readable")).expect("JSON");
    let n = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
    Figures {
        operations: n(&json["operations"]["tested"]),
        cases: n(&json["test_cases"]["generated"]),
        failures: n(&json["test_cases"]["with_failures"]),
        errors: n(&json["test_cases"]["errored"]) + n(&json["operations"]["errored"]),
    }
}

/// Runs schemathesis once; returns its exit code and figures.
async fn run(gateway: &str, who: &str, token: Option<&str>, exclude: &[&str]) -> (i32, Figures) {
    let run_dir = std::env::temp_dir().join(format!(
        "shop-contract-{who}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let report_dir = run_dir.join("report");
    std::fs::create_dir_all(&report_dir).expect("a report directory");
    let mut cmd = tokio::process::Command::new(st_binary());
    // Its cache of found failures stays with this run, out of the clone.
    cmd.current_dir(&run_dir)
        .arg("--config-file")
        .arg(config_file())
        .args(["run", &format!("{gateway}/openapi.json")])
        .args(["--url", gateway])
        .args(["--max-examples", "50", "--workers", "2", "--no-color"])
        // A socket is not a request and its answer: tests/sockets.rs
        // covers it.
        .args(["--exclude-path", "/ws/notifications"])
        .args(["--report", "json", "--report-dir"])
        .arg(&report_dir);
    if let Some(token) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    for operation in exclude {
        cmd.args(["--exclude-name", operation]);
    }
    let status = cmd.status().await.expect("schemathesis runs");
    let code = status.code().unwrap_or(-1);
    let figures = figures(&report_dir);
    println!("contract ({who}): exit {code}, {figures:?}");
    let _ = std::fs::remove_dir_all(&run_dir);
    (code, figures)
}

#[tokio::test]
#[ignore = "needs schemathesis: cargo xtask test runs it"]
async fn the_api_keeps_its_documented_contract() {
    let t = TestStack::start().await;
    let gateway = t.gateway();
    let customer = t.sign_up("contract@example.com", "contract").await;
    let admin = t.admin_token().await;
    // A signed-in run must not end its own session half-way.
    let keep_session = ["POST /users/logout"];
    let mut failed = Vec::new();
    let mut total = Figures::default();
    for (who, token) in [
        ("anonymous", None),
        ("customer", Some(customer.as_str())),
        ("admin", Some(admin.as_str())),
    ] {
        let exclude: &[&str] = if token.is_some() { &keep_session } else { &[] };
        let (code, f) = run(&gateway, who, token, exclude).await;
        if code != 0 {
            failed.push(format!("{who}: exit {code}, {f:?}"));
        }
        total.operations = total.operations.max(f.operations);
        total.cases += f.cases;
        total.failures += f.failures;
        total.errors += f.errors;
    }
    println!(
        "contract: {} operations, {} cases, {} failures, {} errors",
        total.operations, total.cases, total.failures, total.errors
    );
    assert!(failed.is_empty(), "schemathesis failed: {failed:#?}");
    t.finish().await;
}
