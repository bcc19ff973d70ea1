//! `fleet report --serve`: a read-only browser of the runs in an `--out`
//! directory, like ARA for Ansible but without a database.
//!
//! GET only; two routes (`/` lists the runs, `/run/<id>/` renders one
//! report on request); a run id is one path component that must resolve,
//! after symlinks, inside the runs directory. Loopback only unless the
//! address was named explicitly with `--listen`.

use crate::error::ReportError;
use crate::html::html_escape;
use crate::model::Limits;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};

/// The address used when `--listen` is not given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Where the server listens, and whether the user named it.
#[derive(Debug, Clone)]
pub struct Listen {
    /// `host:port`.
    pub addr: String,
    /// Given with `--listen` (a non-loopback address needs this).
    pub explicit: bool,
}

/// Refuses a non-loopback address that was not named explicitly: a run
/// browser shows device outputs and must not reach the network by accident.
pub fn check_bind(addr: &SocketAddr, explicit: bool) -> Result<(), ReportError> {
    if addr.ip().is_loopback() || explicit {
        Ok(())
    } else {
        Err(ReportError::NotLoopback(addr.to_string()))
    }
}

/// Binds the listener after [`check_bind`].
pub fn bind(listen: &Listen) -> Result<TcpListener, ReportError> {
    let err = |source| ReportError::Listen {
        addr: listen.addr.clone(),
        source,
    };
    let addrs: Vec<SocketAddr> = listen.addr.to_socket_addrs().map_err(err)?.collect();
    for a in &addrs {
        check_bind(a, listen.explicit)?;
    }
    TcpListener::bind(&addrs[..]).map_err(err)
}

/// Serves `runs` on `listener` until the process ends; one thread per
/// connection.
pub fn serve(listener: TcpListener, runs: PathBuf) -> Result<(), ReportError> {
    let root = runs.canonicalize().map_err(|source| ReportError::Io {
        path: runs.clone(),
        source,
    })?;
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let root = root.clone();
        std::thread::spawn(move || {
            if let Err(e) = handle(conn, &root) {
                log::debug!("report server: connection ended: {e}");
            }
        });
    }
    Ok(())
}

/// What a request asks for, after validation.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// `/`: the run list.
    Index,
    /// `/run/<id>/`: one run's report.
    Run(String),
    /// Anything else.
    NotFound,
    /// A method other than GET or HEAD.
    NotAllowed,
}

/// Maps a request line's method and target to a [`Route`]; pure, so the
/// path rules are unit-tested.
pub fn route(method: &str, target: &str) -> Route {
    if method != "GET" && method != "HEAD" {
        return Route::NotAllowed;
    }
    let path = target.split(['?', '#']).next().unwrap_or("");
    let Some(path) = percent_decode(path) else {
        return Route::NotFound;
    };
    if path == "/" || path == "/index.html" {
        return Route::Index;
    }
    let Some(rest) = path.strip_prefix("/run/") else {
        return Route::NotFound;
    };
    let id = rest.strip_suffix('/').unwrap_or(rest);
    let id = id.strip_suffix("/report.html").unwrap_or(id);
    if is_run_id(id) {
        Route::Run(id.to_string())
    } else {
        Route::NotFound
    }
}

/// One plain path component: no separators, no dot-dot, no NUL.
fn is_run_id(id: &str) -> bool {
    !id.is_empty()
        && id != "."
        && id != ".."
        && !id.contains(['/', '\\', '\0'])
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:+".contains(c))
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The run directory for `id`, only if it resolves inside `root` (a
/// symlink pointing elsewhere is refused).
pub fn confine(root: &Path, id: &str) -> Option<PathBuf> {
    let p = root.join(id).canonicalize().ok()?;
    (p.starts_with(root) && p != root && p.is_dir()).then_some(p)
}

fn handle(conn: TcpStream, root: &Path) -> std::io::Result<()> {
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.by_ref().take(8192).read_line(&mut line)?;
    // Drain the headers (bounded).
    let mut h = String::new();
    for _ in 0..100 {
        h.clear();
        if reader.by_ref().take(8192).read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let head = method == "HEAD";
    let (status, body) = match route(method, target) {
        Route::Index => ("200 OK", index(root)),
        Route::Run(id) => match confine(root, &id) {
            Some(dir) => match crate::render_run(&dir, &Limits::default()) {
                Ok(html) => ("200 OK", html),
                Err(e) => (
                    "500 Internal Server Error",
                    simple("report failed", &e.to_string()),
                ),
            },
            None => (
                "404 Not Found",
                simple("not found", "no such run in this directory"),
            ),
        },
        Route::NotFound => ("404 Not Found", simple("not found", "no such page")),
        Route::NotAllowed => (
            "405 Method Not Allowed",
            simple("method not allowed", "this server is read-only"),
        ),
    };
    let mut w = conn;
    write!(
        w,
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\r\n\
         X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if !head {
        w.write_all(body.as_bytes())?;
    }
    w.flush()
}

fn simple(title: &str, text: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{0}</title></head><body><h1>{0}</h1><p>{1}</p><p><a href=\"/\">runs</a></p></body></html>",
        html_escape(title),
        html_escape(text)
    )
}

fn index(root: &Path) -> String {
    let mut rows = String::new();
    match fleet_logs::list_runs(root) {
        Ok(runs) => {
            for r in runs.iter().rev() {
                let id = r
                    .dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if !is_run_id(&id) {
                    continue;
                }
                rows.push_str(&format!(
                    "<li><a class=\"run\" href=\"/run/{0}/\">{0}</a> <span class=\"sum\">{1}</span></li>\n",
                    html_escape(&id),
                    html_escape(&r.to_string())
                ));
            }
        }
        Err(e) => rows.push_str(&format!("<li>{}</li>", html_escape(&e.to_string()))),
    }
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>fleet runs</title>\
         <style>body{{font:13px system-ui,sans-serif;margin:18px}}.sum{{font-family:monospace;color:#5f6b7c}}li{{margin:3px 0}}</style>\
         </head><body><h1>fleet runs</h1><p>{}</p><ul id=\"runs\">\n{rows}</ul></body></html>",
        html_escape(&root.display().to_string())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_path_escapes() {
        assert_eq!(route("GET", "/"), Route::Index);
        assert_eq!(
            route("GET", "/run/20261201T1-ab/"),
            Route::Run("20261201T1-ab".into())
        );
        assert_eq!(route("GET", "/run/x/report.html"), Route::Run("x".into()));
        assert_eq!(route("POST", "/"), Route::NotAllowed);
        assert_eq!(route("DELETE", "/run/x/"), Route::NotAllowed);
        for bad in [
            "/run/../",
            "/run/%2e%2e/",
            "/run/..%2f..%2fetc/",
            "/run/a/b/",
            "/etc/passwd",
            "/run/%00/",
            "/run//",
        ] {
            assert_eq!(route("GET", bad), Route::NotFound, "{bad}");
        }
    }

    #[test]
    fn non_loopback_needs_explicit_listen() {
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let lo: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let lo6: SocketAddr = "[::1]:8080".parse().unwrap();
        assert!(check_bind(&lo, false).is_ok());
        assert!(check_bind(&lo6, false).is_ok());
        assert!(matches!(
            check_bind(&any, false),
            Err(ReportError::NotLoopback(_))
        ));
        assert!(check_bind(&any, true).is_ok());
    }

    #[test]
    fn confine_refuses_symlinks_out_of_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("run1")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("escape")).unwrap();
        assert_eq!(confine(&root, "run1"), Some(root.join("run1")));
        assert_eq!(confine(&root, "escape"), None);
        assert_eq!(confine(&root, "missing"), None);
    }
}
