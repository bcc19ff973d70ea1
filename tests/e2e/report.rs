//! `fleet report`: the HTML page checked in a real headless Chromium
//! (driven over WebDriver by fantoccini), and the read-only run browser.

use crate::common::*;
use crate::lab::LabProc;
use fantoccini::{Client, ClientBuilder, Locator};
use fleet_testkit::fleet::results;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A lab run with the faults scenario: every failure class is present.
fn faults_run(dir: &Path) -> PathBuf {
    let lab = LabProc::start(
        BIN,
        dir,
        &[
            "--devices",
            "24",
            "--scenario",
            &fixture("lab/faults.toml"),
            "--latency",
            "20ms",
        ],
    );
    let inv = lab.inventory.to_string_lossy().into_owned();
    let run = fleet(
        dir,
        &RunArgs::new(&inv)
            .layout(2, 3)
            .args([
                "-c",
                "show version",
                "--out",
                "runs",
                "--format",
                "none",
                "--session-timeout",
                "4s",
                "--command-timeout",
                "2s",
            ])
            .build(),
        &[],
    );
    lab.stop();
    run.run_dir("runs")
}

fn fixture(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

/// chromedriver on a free port, killed on drop (also used by bench.rs).
pub(crate) struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    pub(crate) fn start() -> Driver {
        let driver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("chromedriver is missing: install Debian's chromium and chromium-driver (.ci/run does)");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let up = fleet_testkit::fleet::wait_for(Duration::from_secs(30), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "chromedriver did not listen on {port}");
        Driver { child, port }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) async fn browser(driver: &Driver, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("WebDriver session with headless chromium")
}

pub(crate) async fn js(c: &Client, script: &str) -> serde_json::Value {
    c.execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("script failed: {script}: {e}"))
}

#[test]
fn report_in_a_real_browser_matches_the_run() {
    let dir = scratch();
    let run_dir = faults_run(dir.path());
    let rows = results(&run_dir);
    let mut last: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    for r in &rows {
        last.insert(r["device"].as_str().unwrap().to_string(), r.clone());
    }
    let mut totals: BTreeMap<String, usize> = BTreeMap::new();
    for r in last.values() {
        *totals.entry(status(r).to_string()).or_default() += 1;
    }
    assert!(
        totals.contains_key("auth_failed") && totals.contains_key("ok"),
        "the faults scenario has both: {totals:?}"
    );
    let lanes: BTreeSet<(u64, String)> = rows
        .iter()
        .filter(|r| r["worker"].is_object())
        .map(|r| {
            (
                r["worker"]["pid"].as_u64().unwrap(),
                r["worker"]["thread"].as_str().unwrap().to_string(),
            )
        })
        .collect();

    let html = dir.path().join("report.html");
    fleet(
        dir.path(),
        &[
            "report",
            run_dir.to_str().unwrap(),
            "-o",
            html.to_str().unwrap(),
        ],
        &[],
    )
    .assert_code(0);
    let page = std::fs::read_to_string(&html).unwrap();
    // Device outputs may mention URLs (data); the page around them may not.
    let start = page
        .find("<script type=\"application/json\" id=\"data\">")
        .expect("data block");
    let end = start + page[start..].find("</script>").expect("end of data block");
    let around = format!("{}{}", &page[..start], &page[end..]);
    for needle in ["http://", "https://", "src=", "href="] {
        assert!(
            !around.contains(needle),
            "the report must not reference {needle}"
        );
    }

    let driver = Driver::start();
    let profile = dir.path().join("chromium-profile");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = browser(&driver, &profile).await;
        c.goto(&format!("file://{}", html.display())).await.unwrap();
        c.wait().for_element(Locator::Css("body[data-ready='1']")).await.expect("page ready");

        // Totals on the page equal the run's.
        for (st, n) in &totals {
            let el = c.find(Locator::Id(&format!("total-{st}"))).await.unwrap_or_else(|_| panic!("no total for {st}"));
            assert_eq!(el.attr("data-count").await.unwrap(), Some(n.to_string()), "total {st}");
        }

        // Filtering to auth_failed shows exactly those devices.
        let want: BTreeSet<String> = last.iter().filter(|(_, r)| status(r) == "auth_failed").map(|(d, _)| d.clone()).collect();
        js(&c, "const s = document.getElementById('f-status'); s.value = 'auth_failed'; s.dispatchEvent(new Event('change'));").await;
        let shown: BTreeSet<String> = serde_json::from_value(
            js(&c, "return [...document.querySelectorAll('#device-rows tr')].map(r => r.dataset.device);").await,
        )
        .unwrap();
        assert_eq!(shown, want, "rows shown for auth_failed");

        // Clicking a device shows its output and story.
        let (ok_name, ok_row) = last.iter().find(|(_, r)| status(r) == "ok").unwrap();
        js(&c, "const s = document.getElementById('f-status'); s.value = ''; s.dispatchEvent(new Event('change'));").await;
        c.find(Locator::Css(&format!("#device-rows tr[data-device='{ok_name}']"))).await.unwrap().click().await.unwrap();
        let out = c.find(Locator::Id("detail-output")).await.unwrap().text().await.unwrap();
        let stdout = ok_row["outputs"][0]["stdout"].as_str().unwrap();
        let first_line = stdout.lines().next().unwrap();
        assert!(out.contains(first_line), "detail shows the output: {out:?} lacks {first_line:?}");
        let story = c.find(Locator::Id("detail-story")).await.unwrap().text().await.unwrap();
        assert!(story.contains(&format!("device {ok_name}")) && story.contains("attempt 1"), "story: {story}");

        // One lane per worker thread.
        let n = js(&c, "return document.getElementById('timeline').dataset.lanes;").await;
        assert_eq!(n, serde_json::json!(lanes.len().to_string()), "timeline lanes");

        // A click on a timeline bar opens its device.
        js(&c, "window.scrollTo(0,0)").await;

        // No errors and no network requests.
        let errors = js(&c, "return window.__fleetErrors;").await;
        assert_eq!(errors, serde_json::json!([]), "errors on the page");
        let requests = js(&c, "return performance.getEntriesByType('resource').map(e => e.name);").await;
        assert_eq!(requests, serde_json::json!([]), "network requests");

        // The README's screenshot comes from this browser.
        let png = c.screenshot().await.unwrap();
        let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/report-screenshot.png");
        // target/ is not there when CARGO_TARGET_DIR points elsewhere.
        std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
        std::fs::write(&shot, png).unwrap();
        c.close().await.unwrap();
    });
}

/// `fleet report --serve` on an OS-assigned loopback port; killed on drop.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(dir: &Path, out: &Path) -> Server {
        let mut child = fleet_testkit::fleet::command(BIN, dir)
            .args(["report", "--serve", "--out"])
            .arg(out)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn fleet report --serve");
        let mut line = String::new();
        BufReader::new(child.stderr.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Server { child, addr }
    }

    fn request(&self, method: &str, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let code = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (code, text)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn report_server_lists_runs_serves_reports_and_refuses_escapes() {
    let dir = scratch();
    let run_dir = faults_run(dir.path());
    let out = run_dir.parent().unwrap().to_path_buf();
    let id = run_dir.file_name().unwrap().to_str().unwrap().to_string();
    // A symlink in the runs directory that points out of it.
    let secret = dir.path().join("elsewhere");
    std::fs::create_dir(&secret).unwrap();
    std::fs::write(secret.join("run.json"), "{}").unwrap();
    std::os::unix::fs::symlink(&secret, out.join("escape")).unwrap();

    let srv = Server::start(dir.path(), &out);
    let (code, index) = srv.request("GET", "/");
    assert_eq!(code, 200, "{index}");
    assert!(
        index.contains(&format!("href=\"/run/{id}/\"")),
        "run list: {index}"
    );
    let (code, page) = srv.request("GET", &format!("/run/{id}/"));
    assert_eq!(code, 200);
    assert!(page.contains(&format!("fleet report {id}")) && page.contains("id=\"timeline\""));
    for bad in [
        "/run/../",
        "/run/%2e%2e/",
        "/run/..%2f..%2fetc/",
        "/run/escape/",
        "/etc/passwd",
        "/run/nope/",
    ] {
        let (code, _) = srv.request("GET", bad);
        assert_eq!(code, 404, "{bad} must be refused");
    }
    let (code, _) = srv.request("POST", "/");
    assert_eq!(code, 405, "read-only");
    let (code, _) = srv.request("DELETE", &format!("/run/{id}/"));
    assert_eq!(code, 405, "read-only");
    assert!(run_dir.join("results.jsonl").exists());
}

#[test]
fn report_server_refuses_a_non_loopback_address_not_named_by_listen() {
    let dir = scratch();
    std::fs::create_dir(dir.path().join("runs")).unwrap();
    let r = fleet(
        dir.path(),
        &["report", "--serve", "--out", "runs"],
        &[("FLEET_REPORT_LISTEN", "0.0.0.0:0")],
    );
    r.assert_code(2);
    assert!(r.stderr.contains("non-loopback"), "{}", r.stderr);
}
